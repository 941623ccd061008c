// What the doors share: a request's lifetime and trace, turned into the runner's calls, and what a door answers.
import type { Cancellation } from '../cancellation.js';
import type { TaskType } from '../inference-task-type.js';
import type { InferenceCall, InferenceRunner } from '../tasks/runner.js';
import type { EventStream } from '../tasks/task-module.js';

/** What a door knows of the request it serves, from its route. */
export interface DoorRequest {
  /** Cancelled when the request times out or its client leaves. */
  lifetime: Cancellation;
  /** Told the endpoint served, for the request's log line and metrics. */
  trace: NonNullable<InferenceCall['trace']>;
  path: string;
}

/**
 * A door's answer: a whole JSON text, or server-sent events once the upstream's answer has begun (`events`, the door's
 * own, read from the runner's `source`, which is closed if the answer is never sent).
 */
export type DoorAnswer = { json: string } | { events: AsyncIterable<string>; source: EventStream };

/** The runner's operations the doors use: the same queues, limits, retries and timeouts as `_inference`. */
export type DoorRunner = Pick<InferenceRunner, 'result' | 'stream' | 'taskTypeOf'>;

/** The runner's call for a body of Elasticsearch's `_inference` API, made by a door for an endpoint of `taskType`. */
export function runnerCall<T extends TaskType>(
  request: DoorRequest,
  inferenceId: string,
  taskType: T,
  body: unknown,
): InferenceCall & { taskType: T } {
  return {
    inferenceId,
    taskType,
    body,
    query: {},
    path: request.path,
    lifetime: request.lifetime,
    trace: request.trace,
  };
}

/** Seconds since the epoch, as OpenAI's `created`. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);
