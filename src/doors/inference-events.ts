// Reading back the runner's streamed answers (Elasticsearch's server-sent events) for the doors, which write them in
// their own protocol (docs/doors.md).
import { EsError, errors } from '../errors.js';
import { SseParser } from '../services/upstream/sse.js';

/** One server-sent event of a `_stream` answer: `message` (a JSON chunk or `[DONE]`) or `error`. */
export interface InferenceEvent {
  event: string;
  data: string;
}

/**
 * The events of a runner's stream, one at a time, whatever the texts it yields hold (one event, several, or part of
 * one), read by the parser that reads upstream streams. Leaving the iteration ends the runner's stream, and so its
 * upstream request.
 */
export async function* inferenceEvents(stream: AsyncIterable<string>): AsyncGenerator<InferenceEvent> {
  // No bound of its own: these are the service's own events, each made from an upstream event the upstream's parser
  // already bounded.
  const parser = new SseParser(Number.MAX_SAFE_INTEGER);
  for await (const text of stream) {
    for (const { event, data } of parser.push(text)) yield { event: event ?? 'message', data };
  }
}

/**
 * The text of each event of a runner's `completion` stream (its deltas joined), until `[DONE]`; an `event: error`
 * ends it as the error it carries.
 */
export async function* completionDeltas(
  stream: AsyncIterable<string>,
): AsyncGenerator<{ delta: string; error?: undefined } | { error: EsError }> {
  for await (const { event, data } of inferenceEvents(stream)) {
    if (event === 'error') {
      yield { error: streamFailure(data) };
      return;
    }
    if (data === '[DONE]') return;
    const parsed = JSON.parse(data) as { completion: Array<{ delta: string }> };
    yield { delta: parsed.completion.map((c) => c.delta).join('') };
  }
}

/**
 * The error an `event: error` carries, as the service's error: completion's `{"error":{"type","reason"},"status"}` or
 * chat_completion's `{"error":{"code":"<status>","message","type"}}`.
 */
export function streamFailure(data: string): EsError {
  try {
    const parsed = JSON.parse(data) as {
      error?: { type?: unknown; reason?: unknown; code?: unknown; message?: unknown };
      status?: unknown;
    };
    const e = parsed.error ?? {};
    const status = typeof parsed.status === 'number' ? parsed.status : Number(e.code);
    const reason = typeof e.reason === 'string' ? e.reason : typeof e.message === 'string' ? e.message : undefined;
    if (reason !== undefined && Number.isInteger(status) && status >= 400 && status < 600)
      return new EsError(status, typeof e.type === 'string' ? e.type : 'status_exception', reason);
  } catch {
    // not JSON: an internal error below
  }
  return errors.internal();
}
