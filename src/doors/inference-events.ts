// Reading back the runner's streamed answers (Elasticsearch's server-sent events) for the doors, which write them in
// their own protocol (docs/doors.md).
import { EsError, errors } from '../errors.js';
import type { EventStream } from '../tasks/task-module.js';

/** One server-sent event of a `_stream` answer: `message` (a JSON chunk or `[DONE]`) or `error`. */
export interface InferenceEvent {
  event: string;
  data: string;
}

/**
 * The events of a runner's stream, one at a time, whatever the texts it yields hold (one event, several, or part of
 * one). Leaving the iteration ends the runner's stream, and so its upstream request.
 */
export async function* inferenceEvents(stream: EventStream): AsyncGenerator<InferenceEvent> {
  let rest = '';
  for await (const text of stream) {
    rest += text;
    let end = rest.indexOf('\n\n');
    while (end !== -1) {
      const block = rest.slice(0, end);
      rest = rest.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      }
      if (data.length > 0) yield { event, data: data.join('\n') };
      end = rest.indexOf('\n\n');
    }
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
