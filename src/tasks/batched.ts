// What the batched task types share: inputs cut into chunks, every chunk submitted to the endpoint's queue, results regrouped per input.
import type { Cancellation } from '../cancellation.js';
import { chunkText, type Chunk } from '../chunking/chunker.js';
import { DEFAULT_CHUNKING_SETTINGS, type ChunkingSettings } from '../chunking/chunking-settings.js';
import { BatchQueue, type SendBatch } from '../dispatch/batch-queue.js';
import type { EsError } from '../errors.js';
import type { BoundEndpoint, DispatchSettings } from '../services/inference-service.js';
import type { SettingsMap } from '../store/endpoint-store.js';
import type { TaskType } from '../inference-task-type.js';
import { checkInputType, readInputs } from './input.js';
import type { DispatchContext } from './task-module.js';

/** Each input's chunks, and every chunk's text as it is sent (cut to the endpoint's input limit), flattened in input order. */
export interface ChunkedInputs {
  inputs: string[];
  chunks: Chunk[][];
  texts: string[];
  /** Whether each flattened text was cut before it was sent. */
  truncated: boolean[];
}

export function chunkInputs(inputs: string[], settings: ChunkingSettings, prepare: (text: string) => string): ChunkedInputs {
  const chunks = inputs.map((input) => chunkText(input, settings));
  const texts: string[] = [];
  const truncated: boolean[] = [];
  chunks.forEach((list, i) => {
    for (const c of list) {
      const original = inputs[i]!.slice(c.start, c.end);
      const sent = prepare(original);
      texts.push(sent);
      truncated.push(sent.length < original.length);
    }
  });
  return { inputs, chunks, texts, truncated };
}

/**
 * An embedding request's inputs, checked and chunked: its input_type and task_settings checked,
 * room in the endpoint's queue checked before any chunking work, then each input cut into chunks.
 */
export function chunkRequest(
  queue: { checkRoom(): void },
  endpoint: BoundEndpoint<'text_embedding' | 'sparse_embedding'>,
  body: { input?: string | string[] | null; input_type?: string | null; task_settings?: SettingsMap | null },
): ChunkedInputs {
  checkInputType(body.input_type);
  const inputs = readInputs(body.input);
  endpoint.taskSettings(body.task_settings);
  queue.checkRoom();
  return chunkInputs(inputs, endpoint.chunking ?? DEFAULT_CHUNKING_SETTINGS, endpoint.operations.prepare);
}

/** Results of the flattened chunks, handed back per input. */
export function perInput<R>(chunked: ChunkedInputs, results: readonly R[]): R[][] {
  let next = 0;
  return chunked.chunks.map((list) => results.slice(next, (next += list.length)));
}

/**
 * Submits a request's items and waits for all of them. A cancelled request (timed out, client
 * gone) answers with the cancellation's reason (408), not the queue's; when one item fails, the
 * rest of the request's work is no longer wanted.
 */
export async function submitAll<I, O, G>(queue: BatchQueue<I, O, G>, items: readonly I[], lifetime: Cancellation, group: G): Promise<O[]> {
  try {
    return await Promise.all(queue.submit(items, lifetime, group));
  } catch (err) {
    if (lifetime.cancelled) throw lifetime.reason;
    lifetime.cancel(err);
    throw err;
  }
}

/** An input the upstream found too large on its own, cut in half for another try. */
export const halve = (text: string): string | undefined => (text.length <= 1 ? undefined : text.slice(0, Math.ceil(text.length / 2)));

/**
 * The live state of a batched task type's endpoint, one `BatchQueue` set from its dispatch
 * settings: what `open`, `refresh` and `close` of such a task are. `send` makes the endpoint's
 * upstream call for one batch; `shrink` cuts an item the upstream found too large.
 */
export function batchedLifecycle<T extends TaskType, I, O, G>(
  defaultBatchSize: number,
  send: (context: DispatchContext<T>) => SendBatch<I, O, G>,
  shrink: (item: I) => I | undefined,
) {
  return {
    open(context: DispatchContext<T>): { queue: BatchQueue<I, O, G> } {
      const { dispatch } = context.current();
      const queue = new BatchQueue<I, O, G>({
        inferenceId: context.inferenceId,
        limiter: context.limiter,
        inflight: context.inflight,
        send: send(context),
        batchSize: dispatch.batchSize ?? defaultBatchSize,
        maxInFlight: dispatch.maxConcurrentRequests,
        requestsPerMinute: () => context.current().dispatch.requestsPerMinute,
        retry: context.retry,
        capacity: context.queueCapacity,
        telemetry: context.telemetry,
        shrink,
      });
      return { queue };
    },
    refresh(state: { queue: BatchQueue<I, O, G> }, endpoint: BoundEndpoint<T>, previous: BoundEndpoint<T>): void {
      applyDispatch(state.queue, endpoint.dispatch, previous.dispatch, defaultBatchSize);
    },
    close(state: { queue: BatchQueue<I, O, G> }, error: EsError): void {
      state.queue.close(error);
    },
  };
}

/**
 * An `_update`'s dispatch settings applied to a live queue. The batch size is set only when the
 * configured one changed, so a size learned from the upstream survives other updates.
 */
function applyDispatch<I, O, G>(queue: BatchQueue<I, O, G>, next: DispatchSettings, previous: DispatchSettings, defaultBatchSize: number): void {
  if (next.batchSize !== previous.batchSize) queue.setBatchSize(next.batchSize ?? defaultBatchSize);
  if (next.maxConcurrentRequests !== previous.maxConcurrentRequests) queue.setMaxInFlight(next.maxConcurrentRequests);
}
