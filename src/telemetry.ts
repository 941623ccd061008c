// The Telemetry seam: what the dispatch and provider code report as it happens (metrics, upstream faults), and a no-op
// for code that reports nothing.
import type { TaskType } from './inference-task-type.js';

/**
 * One endpoint's instruments, already labelled with its inference id and task type, so each
 * call on the hot path is a plain method call. Nothing here may receive an input text or a
 * secret: only counts, durations, statuses and fixed words.
 */
export interface EndpointTelemetry {
  /**
   * One upstream HTTP request ended: its HTTP status, or a word for a request that got none (`network_error`,
   * `timeout`).
   */
  upstreamRequest(status: number | string, seconds: number): void;
  /**
   * An upstream request failed: logged once at warn, without a stack (`reason` is the error the client will see;
   * `detail` plain figures).
   */
  upstreamFault(reason: string, detail: Record<string, string | number>): void;
  /** Failed work goes back to the queue: `backoff` (429/502/503, network) or `split` (too large). */
  retry(kind: 'backoff' | 'split'): void;
  /** Seconds a batch waited for its rate-limit grant. */
  limiterWait(seconds: number): void;
  /** Items in one upstream request. */
  batch(size: number): void;
  /** Texts (chunks) the upstream answered for. */
  textsEmbedded(count: number): void;
  /**
   * One request's texts looked up in the embedding cache: `hits` answered without an upstream text of their own,
   * `misses` sent upstream.
   */
  cacheLookups(hits: number, misses: number): void;
  /** Reads the endpoint's queue depth on each scrape; returns the function that stops reading it. */
  watchQueue(depth: () => number): () => void;
  /** A stream to the client began; call the returned function when it ends. */
  streamOpened(): () => void;
  /** Tokens forwarded on a stream. */
  tokensStreamed(count: number): void;
  /** Something that should not happen (a bug): logged at error with its stack. */
  unexpected(err: unknown): void;
}

export interface Telemetry {
  /** The instruments of one endpoint (cheap: call it when an endpoint is bound). */
  endpoint(inferenceId: string, taskType: TaskType): EndpointTelemetry;
  /** An answered inference request of a known endpoint. */
  inferenceRequest(inferenceId: string, taskType: string, status: number, seconds: number): void;
  /** The endpoint is gone: its series are dropped (ids are user-chosen; they must not pile up). */
  forget(inferenceId: string): void;
}

const noop = () => undefined;

export const NO_ENDPOINT_TELEMETRY: EndpointTelemetry = Object.freeze({
  upstreamRequest: noop,
  upstreamFault: noop,
  retry: noop,
  limiterWait: noop,
  batch: noop,
  textsEmbedded: noop,
  cacheLookups: noop,
  watchQueue: () => noop,
  streamOpened: () => noop,
  tokensStreamed: noop,
  unexpected: noop,
});

export const NO_TELEMETRY: Telemetry = Object.freeze({
  endpoint: () => NO_ENDPOINT_TELEMETRY,
  inferenceRequest: noop,
  forget: noop,
});

/** Both telemetries get every record (the metrics and the traffic history); the fault lines come from the first. */
export function bothTelemetries(first: Telemetry, second: Telemetry): Telemetry {
  return {
    endpoint(inferenceId, taskType) {
      const a = first.endpoint(inferenceId, taskType);
      const b = second.endpoint(inferenceId, taskType);
      return {
        upstreamRequest: (status, seconds) => {
          a.upstreamRequest(status, seconds);
          b.upstreamRequest(status, seconds);
        },
        upstreamFault: (reason, detail) => a.upstreamFault(reason, detail),
        retry: (kind) => {
          a.retry(kind);
          b.retry(kind);
        },
        limiterWait: (seconds) => {
          a.limiterWait(seconds);
          b.limiterWait(seconds);
        },
        batch: (size) => {
          a.batch(size);
          b.batch(size);
        },
        textsEmbedded: (count) => {
          a.textsEmbedded(count);
          b.textsEmbedded(count);
        },
        cacheLookups: (hits, misses) => {
          a.cacheLookups(hits, misses);
          b.cacheLookups(hits, misses);
        },
        watchQueue: (depth) => {
          const stopA = a.watchQueue(depth);
          const stopB = b.watchQueue(depth);
          return () => {
            stopA();
            stopB();
          };
        },
        streamOpened: () => {
          const closeA = a.streamOpened();
          const closeB = b.streamOpened();
          return () => {
            closeA();
            closeB();
          };
        },
        tokensStreamed: (count) => {
          a.tokensStreamed(count);
          b.tokensStreamed(count);
        },
        unexpected: (err) => a.unexpected(err),
      };
    },
    inferenceRequest(inferenceId, taskType, status, seconds) {
      first.inferenceRequest(inferenceId, taskType, status, seconds);
      second.inferenceRequest(inferenceId, taskType, status, seconds);
    },
    forget(inferenceId) {
      first.forget(inferenceId);
      second.forget(inferenceId);
    },
  };
}
