// What a task type is to the rest of the service: how its request is read, how its work is dispatched, how its answer
// is written.
import type PQueue from 'p-queue';
import type { Cancellation } from '../cancellation.js';
import type { EmbeddingCache } from '../cache/embedding-cache.js';
import type { RateLimiter } from '../dispatch/rate-limiter.js';
import type { RetryPolicy } from '../dispatch/retry.js';
import type { EsError } from '../errors.js';
import type { EndpointTelemetry } from '../telemetry.js';
import type { TSchema } from 'typebox';
import type { BoundEndpoint, ModelDetails } from '../services/inference-service.js';
import type { TaskType } from '../inference-task-type.js';

/** The text every creation check sends (Elasticsearch's validators send the same). */
export const PROBE_TEXT = 'how big';

/** What a task's dispatch state is made from, once per live endpoint. */
export interface DispatchContext<T extends TaskType> {
  inferenceId: string;
  /** The endpoint as it is now: read at send time, so a rotated api key is used from the next request on. */
  current(): BoundEndpoint<T>;
  /** The endpoint's rate limiter: every upstream request takes one grant. */
  limiter: RateLimiter;
  /**
   * The service-wide bound on batched upstream requests in flight (generations take none: max_concurrent_streams bounds
   * them per endpoint).
   */
  inflight: PQueue;
  retry: RetryPolicy;
  /** Waiting batches per endpoint before 429 (QUEUE_CAPACITY unless set). */
  queueCapacity: number | undefined;
  /** The endpoint's instruments (queue depth, batches, retries…). */
  telemetry: EndpointTelemetry;
  /** The embedding cache (docs/embedding-cache.md); undefined when the service runs without one. */
  cache?: EmbeddingCache;
}

/** Where a stream's events are written: the client's response (node's ServerResponse is one). */
export interface EventSink {
  /** Writes text; false once the receiver's buffer is full: the writer then waits for its `drain`. */
  write(text: string): boolean;
  /** Writes the last text and ends the answer. */
  end(text: string): void;
  once(event: 'drain', listener: () => void): unknown;
}

/**
 * A streamed answer's server-sent events as text, ready to write, ending with the task's terminator or an
 * `event: error`: written to a sink as the upstream gives them (`writeTo`), or iterated. close(), or breaking off the
 * iteration, ends the upstream request.
 */
export interface EventStream extends AsyncIterable<string> {
  /** Writes the events to `sink` as they come: what was read before the stream began at once, in this call. */
  writeTo(sink: EventSink): void;
  /** Nothing more is written: ends the upstream request if it is still going (idempotent). */
  close(): void;
}

/** Streamed inference (`POST …/_stream`), for task types that stream. */
interface StreamingOperation<T extends TaskType, Body, State> {
  /** The `_stream` POST body, structure only (as `Task.checkBody`). */
  checkBody(body: unknown, query: Readonly<Record<string, string | undefined>>, named?: boolean): Body;
  /**
   * Resolves once the upstream has answered and its first event is in, with the events to send;
   * a failure before that throws EsError like any request.
   */
  run(state: State, endpoint: BoundEndpoint<T>, body: Body, lifetime: Cancellation): Promise<EventStream>;
}

/**
 * One task type. `State` is what an endpoint of this type keeps while it is live (its queue);
 * `Body` is its POST body once its structure has been checked, `StreamBody` its `_stream` body; `Result` what its POST
 * results in, before it is written as JSON.
 */
export interface Task<T extends TaskType, Body, State, StreamBody = Body, Result = never> {
  readonly taskType: T;
  /** Inputs are chunked: `chunking_settings` apply to endpoints of this type. */
  readonly chunked: boolean;
  /**
   * Query parameters of the POST this task reads besides `timeout` (Elasticsearch 8 clients send some request fields
   * there).
   */
  readonly queryParameters?: readonly string[];
  /** The POST body's schema (checkBody applies it) and the answer's: both go into the OpenAPI document. */
  readonly requestSchema: TSchema;
  readonly resultSchema: TSchema;
  /**
   * The POST body, structure only (types, unknown fields), with the task's query parameters
   * folded in; throws x_content_parse_exception. `named`: the path names the task type (Elasticsearch's request
   * validation then refuses fields the task type does not take, such as `input_type`).
   */
  checkBody(body: unknown, query: Readonly<Record<string, string | undefined>>, named?: boolean): Body;
  /** The live state of one endpoint. */
  open(context: DispatchContext<T>): State;
  /** The endpoint changed (`_update`): apply what can change while live. */
  refresh(state: State, endpoint: BoundEndpoint<T>, previous: BoundEndpoint<T>): void;
  /** The endpoint went away or the service is closing: fail what waits with `error`. */
  close(state: State, error: EsError): void;
  /** Nothing of the endpoint's is queued, in flight or streaming: its live state can be closed and made again later. */
  idle(state: State): boolean;
  /**
   * Runs one request and resolves with its result; throws EsError. Absent for a task that answers
   * only through `_stream` (chat_completion): its plain POST is refused before its body is read.
   */
  run?(state: State, endpoint: BoundEndpoint<T>, body: Body, lifetime: Cancellation): Promise<Result>;
  /**
   * A result of `run` as the JSON text `_inference` answers (present with `run`). The doors read the result itself
   * (docs/doors.md), so that no answer is written as JSON only to be parsed again. A large answer may come as its
   * UTF-8 bytes already (text_embedding's, docs/performance.md#the-embedding-cache).
   */
  resultJson?(result: Result): string | Buffer;
  /**
   * The creation check (docs/api.md#create-an-endpoint): one small call to the upstream through the task's own
   * operations, resolving to what it learned about the model. Its first upstream request has its rate-limit grant
   * already; `acquire` takes one for any further request.
   */
  validate(endpoint: BoundEndpoint<T>, signal: AbortSignal, acquire: () => Promise<void>): Promise<ModelDetails>;
  /** Streamed inference; `_stream` on a task type without it answers 405. */
  readonly streaming?: StreamingOperation<T, StreamBody, State>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the catalog holds tasks of every body and state type
export type AnyTask = Task<TaskType, any, any, any, any>;
