// What every task type whose work goes through its endpoint's queue shares: the queue's live state, made, updated and
// closed, and a request's items submitted to it.
import type { EmbeddingCache } from '../cache/embedding-cache.js';
import type { Cancellation } from '../cancellation.js';
import { EndpointQueue, type EndpointQueueOptions } from '../dispatch/endpoint-queue.js';
import type { EsError } from '../errors.js';
import type { BoundEndpoint, DispatchSettings } from '../services/inference-service.js';
import type { TaskType } from '../inference-task-type.js';
import type { EndpointTelemetry } from '../telemetry.js';
import type { DispatchContext } from './task-module.js';

/** An endpoint's live state when its work goes through an EndpointQueue. */
export interface QueueState<I, O, G> {
  queue: EndpointQueue<I, O, G>;
  /** The endpoint's instruments (streams report through them too). */
  readonly telemetry: EndpointTelemetry;
  /** The embedding cache, for the task types that use it. */
  readonly cache?: EmbeddingCache;
}

/**
 * What a task type's queue has of its own: its upstream call, and how its items shrink, hold their slot, count and
 * share slots.
 */
type QueueShape<I, O, G> = Pick<EndpointQueueOptions<I, O, G>, 'send' | 'shrink' | 'hold' | 'countsTexts' | 'inflight'>;

/**
 * The live state of an endpoint whose task dispatches through an EndpointQueue: what `open`,
 * `refresh` and `close` of such a task are. `batchSize` reads its items per upstream request from
 * the endpoint's dispatch settings; `shape` gives what the task type's queue has of its own.
 */
export function queueLifecycle<T extends TaskType, I, O, G>(
  batchSize: (dispatch: DispatchSettings) => number,
  shape: (context: DispatchContext<T>) => QueueShape<I, O, G>,
) {
  return {
    open(context: DispatchContext<T>): QueueState<I, O, G> {
      const { dispatch } = context.current();
      const queue = new EndpointQueue<I, O, G>({
        inferenceId: context.inferenceId,
        limiter: context.limiter,
        batchSize: batchSize(dispatch),
        maxInFlight: dispatch.maxConcurrentRequests,
        requestsPerMinute: () => context.current().dispatch.requestsPerMinute,
        retry: context.retry,
        capacity: context.queueCapacity,
        telemetry: context.telemetry,
        ...shape(context),
      });
      return { queue, telemetry: context.telemetry, cache: context.cache };
    },
    /**
     * An `_update`'s dispatch settings applied to the live queue. The batch size is set only when
     * the configured one changed, so a size learned from the upstream survives other updates.
     */
    refresh(state: QueueState<I, O, G>, endpoint: BoundEndpoint<T>, previous: BoundEndpoint<T>): void {
      const next = endpoint.dispatch;
      if (next.batchSize !== previous.dispatch.batchSize) state.queue.setBatchSize(batchSize(next));
      if (next.maxConcurrentRequests !== previous.dispatch.maxConcurrentRequests)
        state.queue.setMaxInFlight(next.maxConcurrentRequests);
    },
    close(state: QueueState<I, O, G>, error: EsError): void {
      state.queue.close(error);
    },
    idle(state: QueueState<I, O, G>): boolean {
      return state.queue.idle;
    },
  };
}

/**
 * Submits a request's items and waits for all of them. A cancelled request (timed out, client
 * gone) answers with the cancellation's reason (408), not the queue's; when one item fails, the
 * rest of the request's work is no longer wanted.
 */
export async function submitAll<I, O, G>(
  queue: EndpointQueue<I, O, G>,
  items: readonly I[],
  lifetime: Cancellation,
  group: G,
): Promise<O[]> {
  try {
    return await Promise.all(queue.submit(items, lifetime, group));
  } catch (err) {
    throw failedWith(err, lifetime);
  }
}

/** submitAll of one item (a stream): its result, without Promise.all's extra turns before a stream can begin. */
export async function submitOne<I, O, G>(
  queue: EndpointQueue<I, O, G>,
  item: I,
  lifetime: Cancellation,
  group: G,
): Promise<O> {
  try {
    return await queue.submit([item], lifetime, group)[0]!;
  } catch (err) {
    throw failedWith(err, lifetime);
  }
}

/** What a request's failed item answers: the cancellation's reason when it was cancelled; otherwise the error, after
 * the rest of its work is cancelled. */
function failedWith(err: unknown, lifetime: Cancellation): unknown {
  if (lifetime.cancelled) return lifetime.reason;
  lifetime.cancel(err);
  return err;
}
