// What completion and chat_completion share: one upstream request per answer through the endpoint's queue, streams
// holding their slot, and the SSE framing.
import { Readable } from 'node:stream';
import type { Cancellation } from '../cancellation.js';
import { EsError, errors } from '../errors.js';
import type {
  GenerationChunk,
  GenerationRequest,
  GenerationSettings,
  GenerationStream,
} from '../services/inference-service.js';
import { queueLifecycle, submitAll, submitOne, type QueueState } from './queue-lifecycle.js';
import type { EventSink, EventStream } from './task-module.js';

/** One generation to send: whole or streamed. */
export interface GenerationWork {
  request: GenerationRequest;
  stream: boolean;
}

/** A whole answer's text, or a stream that has begun. */
export type GenerationResult = string | GenerationStream;

export type GenerationState = QueueState<GenerationWork, GenerationResult, undefined>;

/**
 * The live state of a completion or chat_completion endpoint: its queue sends each generation
 * alone (one upstream request, one rate-limit grant). Generations are bounded per endpoint by
 * max_concurrent_streams (the queue's in-flight cap), and take none of the service-wide slots of
 * batched work: a stream holds its slot for minutes, and its memory is bounded per stream.
 */
export const generationLifecycle = queueLifecycle<
  'completion' | 'chat_completion',
  GenerationWork,
  GenerationResult,
  undefined
>(
  () => 1,
  (context) => ({
    send: async ([work], _group, signal) => {
      const operations = context.current().operations;
      return [
        work!.stream
          ? await operations.stream(work!.request, signal)
          : await operations.generate(work!.request, signal),
      ];
    },
    // A stream keeps its slot until its upstream request is over.
    hold: (result) => (typeof result === 'string' ? Promise.resolve() : result.done),
    countsTexts: false,
  }),
);

/** Whole answers, one upstream request each (all queued at once, answered in input order). */
export function generateAll(
  state: GenerationState,
  requests: GenerationRequest[],
  lifetime: Cancellation,
): Promise<string[]> {
  return submitAll(
    state.queue,
    requests.map((request) => ({ request, stream: false })),
    lifetime,
    undefined,
  ) as Promise<string[]>;
}

/** A stream, once its upstream has answered and sent its first event. */
export async function startStream(
  state: GenerationState,
  request: GenerationRequest,
  lifetime: Cancellation,
): Promise<GenerationStream> {
  return (await submitOne(state.queue, { request, stream: true }, lifetime, undefined)) as GenerationStream;
}

/** The sampling settings of a request, from the endpoint's task settings with the request's own over them. */
export function samplingOf(settings: GenerationSettings): Omit<GenerationRequest, 'messages'> {
  const out: Omit<GenerationRequest, 'messages'> = {};
  // At most one of the two is set: a settings object gives one, and a later one replaces both.
  const maxTokens = settings.max_tokens ?? settings.max_new_tokens;
  if (maxTokens !== undefined) out.maxTokens = maxTokens;
  if (settings.temperature !== undefined) out.temperature = settings.temperature;
  if (settings.top_p !== undefined) out.topP = settings.top_p;
  if (settings.top_k !== undefined) out.topK = settings.top_k;
  if (settings.repetition_penalty !== undefined) out.repetitionPenalty = settings.repetition_penalty;
  if (settings.seed !== undefined) out.seed = settings.seed;
  if (settings.stop !== undefined) out.stop = settings.stop;
  return out;
}

/** `event: message` + `data:`; one blank line ends the event. */
export const messageEvent = (data: string) => `event: message\ndata: ${data}\n\n`;
export const errorEvent = (data: string) => `event: error\ndata: ${data}\n\n`;
export const DONE_EVENT = messageEvent('[DONE]');

/** What failed a stream, as an EsError (anything else is an internal error). */
const streamFailure = (err: unknown): EsError => (err instanceof EsError ? err : errors.internal());

/** How a task writes a stream's events: `chunks` a network read's chunks, `end` a stream that ended well, `failed` the error. */
interface EventFormat {
  chunks(batch: GenerationChunk[]): string;
  end(): string;
  failed(error: EsError): string;
}

/**
 * A stream's server-sent events, read from the upstream as the client takes them. Each network read's chunks become one
 * piece of text, written straight to the client's response (one write), taken from the upstream's buffer synchronously
 * when it says bytes have arrived: no promise, and no Readable and pipe, between the upstream's read and the client's
 * write. The first event, read before the stream was committed, goes out with the headers; the rest of its read is
 * taken a turn of the event loop later, once it has been written. The last text goes out with the response's end, in
 * one write (docs/performance.md#streams-written-straight-to-the-response).
 */
class EventWriter implements EventStream {
  private readonly streamClosed: () => void;
  /** The first read's events, formatted before the stream was committed (a failure there is still an error answer). */
  private readonly firstText: string;
  private sink: EventSink | undefined;
  /** The first event has had its turn: reading may go on. */
  private begun = false;
  /** The client's side is full: reading waits for its drain. */
  private full = false;
  /** A wake is registered with the upstream. */
  private waiting = false;
  private over = false;
  private readonly woken = () => {
    this.waiting = false;
    if (!this.full) this.drain();
  };
  private readonly drained = () => {
    this.full = false;
    if (!this.waiting) this.drain();
  };

  constructor(
    private readonly state: GenerationState,
    private readonly stream: GenerationStream,
    private readonly format: EventFormat,
  ) {
    this.streamClosed = state.telemetry.streamOpened();
    const first = stream.first;
    try {
      this.firstText = first && first.length > 0 ? this.text(first) : '';
    } catch (err) {
      // Answered as an error: the stream is over before it began.
      this.close();
      throw err;
    }
  }

  writeTo(sink: EventSink): void {
    if (this.sink) throw new Error('the events are written once');
    this.sink = sink;
    if (this.over) return;
    // What was read before the stream began goes out with the headers, without waiting for a promise.
    if (this.firstText !== '' && !sink.write(this.firstText)) this.wait();
    setImmediate(() => {
      this.begun = true;
      if (!this.full) this.drain();
    });
  }

  /** The events as an iteration (the doors read them back); leaving it early ends the upstream request. */
  [Symbol.asyncIterator](): AsyncIterator<string> {
    let drained: (() => void) | undefined;
    const readable = new Readable({
      objectMode: true,
      read: () => {
        const resume = drained;
        drained = undefined;
        resume?.();
      },
      destroy: (error, callback) => {
        this.close();
        callback(error);
      },
    });
    this.writeTo({
      write: (text) => readable.push(text),
      end: (text) => {
        readable.push(text);
        readable.push(null);
      },
      once: (_event, listener) => {
        drained = listener;
      },
    });
    return readable[Symbol.asyncIterator]() as AsyncIterator<string>;
  }

  close(): void {
    if (!this.over) {
      this.over = true;
      this.streamClosed();
    }
    // Ends the upstream request (the client went away); after a good end, lets its body drain.
    this.stream.close();
  }

  /** Takes and writes what the upstream has read, until it has nothing more for now, ends, or the client is full. */
  private drain(): void {
    if (!this.begun || this.over) return;
    try {
      for (;;) {
        const batch = this.stream.take();
        if (batch === undefined) {
          this.waiting = true;
          this.stream.wait(this.woken);
          return;
        }
        if (batch === null) {
          this.finish(this.format.end());
          return;
        }
        const text = this.text(batch);
        // Taken again when the client has read what is buffered.
        if (text !== '' && !this.sink!.write(text)) {
          this.wait();
          return;
        }
      }
    } catch (err) {
      // After an error nothing else is sent: not even an upstream [DONE].
      if (!this.over) this.finish(this.format.failed(streamFailure(err)));
    }
  }

  private wait(): void {
    this.full = true;
    this.sink!.once('drain', this.drained);
  }

  /** One read's chunks as event text. */
  private text(chunks: GenerationChunk[]): string {
    this.state.telemetry.tokensStreamed(chunks.length);
    return this.format.chunks(chunks);
  }

  /** Ends the answer with `text`; the stream is over (close()'s bookkeeping, done first: nothing is written after). */
  private finish(text: string): void {
    this.close();
    this.sink!.end(text);
  }
}

/**
 * Streams `stream` as server-sent events: `format` turns each network read's chunks into event text, `end` writes
 * what closes a stream that ended well, `failed` the error event. The upstream request ends with the stream, however it
 * ends (its end, an error, the client gone: close()).
 */
export function streamEvents(state: GenerationState, stream: GenerationStream, format: EventFormat): EventStream {
  return new EventWriter(state, stream, format);
}
