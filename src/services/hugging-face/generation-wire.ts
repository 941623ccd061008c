// Text generation on the wire, whatever the protocol: one POST, its answer or its event stream read as it arrives, the
// first event read before anything is committed.
import type { StopSignal } from '../../cancellation.js';
import { SendError } from '../send-error.js';
import { errors, type EsError } from '../../errors.js';
import type {
  GenerationChunk,
  GenerationOperations,
  GenerationRequest,
  GenerationStream,
} from '../inference-service.js';
import {
  BODY_TIMEOUT,
  RESPONSE_TOO_LARGE,
  type HttpTransport,
  type UpstreamStream,
} from '../upstream/http-transport.js';
import { SseParser, SseTooLargeError, type SseEvent } from '../upstream/sse.js';
import type { EndpointTelemetry } from '../../telemetry.js';
import { maskSecret } from '../../redaction.js';
import { answerOf, badAnswer, isJsonObject, maskedError, noStatus, requestHeaders, type JsonAnswer } from './call.js';
import { chatUrl, openAiChatProtocol } from './chat-completion-wire.js';
import { ChunkMasker } from './generation-masking.js';
import type { GenerationProtocol, StreamReading } from './generation-protocol.js';
import { mapInBandError, mapNetworkError } from './hugging-face-errors.js';
import { protocolOf, type ServiceSettingsOf } from './hugging-face-settings.js';
import type { TaskWire, WireContext } from './task-wire.js';
import { textGenerationProtocol } from './text-generation-wire.js';
import { text2textProtocol, text2textUrl } from './text2text-wire.js';

/** A stream's chunks as an async iterator over take() and wait(); the stream is closed however the iteration ends. */
async function* iterate(stream: Pick<GenerationStream, 'take' | 'wait' | 'close'>): AsyncGenerator<GenerationChunk[]> {
  try {
    for (;;) {
      const batch = stream.take();
      if (batch === null) return;
      if (batch === undefined) await new Promise<void>((resolve) => stream.wait(resolve));
      else yield batch;
    }
  } finally {
    stream.close();
  }
}

/** A whole answer as a stream of one chunk (text2text, or a server that answered a stream request at once). */
function wholeAnswerStream(text: string): GenerationStream {
  let chunks: GenerationChunk[] | null = [{ choices: [{ index: 0, delta: { role: 'assistant', content: text } }] }];
  const stream = {
    done: Promise.resolve(),
    take() {
      const out = chunks;
      chunks = null;
      return out;
    },
    wait: (wake: () => void) => queueMicrotask(wake),
    close() {
      chunks = null;
    },
    [Symbol.asyncIterator]: () => iterate(stream),
  };
  return stream;
}

/** Reads a stream's events into chunks, a batch per network read; every failure is a SendError. */
class EventReader {
  private readonly parser = new SseParser();
  private finished = false;
  /** The events of the last read, and the next of them to read. */
  private events: SseEvent[] = [];
  private at = 0;
  /** The body was read to its end (not only to its [DONE]). */
  private ended = false;
  /** An error met after chunks of the same read: thrown once those have been delivered. */
  private pending: SendError | undefined;
  /** The first event has been delivered: silence is now the stream's own failure, not a retryable one. */
  started = false;
  /** The stream said [DONE] and ended well. */
  doneSeen = false;

  constructor(
    private readonly res: UpstreamStream,
    private readonly protocol: GenerationProtocol,
    private readonly call: { url: string; inferenceId: string; apiKey: string; silenceLimit: string },
  ) {}

  /** The chunks of the next read that carries any, waiting for them; null once the stream has ended. */
  async next(): Promise<GenerationChunk[] | null> {
    for (;;) {
      const chunks = this.poll();
      if (chunks !== undefined) return chunks;
      await new Promise<void>((resolve) => this.res.wait(resolve));
    }
  }

  /**
   * The chunks of the next read that carries any, synchronously: null once the stream has ended, undefined when no
   * bytes have arrived yet. Until the stream has started, the first chunk comes alone: the rest of its read follows on
   * the next call, which the caller makes after the first has gone out.
   */
  poll(): GenerationChunk[] | null | undefined {
    if (this.pending) throw this.pending;
    const chunks: GenerationChunk[] = [];
    for (;;) {
      while (this.at < this.events.length) {
        const event = this.events[this.at++]!;
        let reading: StreamReading;
        let error: SendError | undefined;
        try {
          reading = this.protocol.readEvent(event.data, this.call.inferenceId);
          if (reading !== undefined && 'error' in reading)
            error = new SendError(mapInBandError(reading.error, this.call.inferenceId, this.call.apiKey, event.data));
        } catch (err) {
          error = this.failure(err);
        }
        if (error) {
          // The chunks before it in the same read are delivered first.
          this.stop();
          if (chunks.length === 0) throw error;
          this.pending = error;
          return chunks;
        }
        if (reading === undefined) continue;
        if ('done' in reading) {
          // Anything after [DONE] (TGI chat sends it after an error too) is not read.
          this.stop();
          this.doneSeen = true;
          return chunks.length > 0 ? chunks : null;
        }
        chunks.push((reading as { chunk: GenerationChunk }).chunk);
        if (!this.started) return chunks;
      }
      if (chunks.length > 0) return chunks;
      if (this.finished) return null;
      try {
        const kept = this.parser.more(!this.started);
        if (kept) {
          this.events = kept;
        } else {
          const bytes = this.res.take();
          if (bytes === undefined) return undefined;
          if (bytes === null) {
            this.finished = true;
            this.ended = true;
            this.events = this.parser.end();
          } else {
            this.events = this.parser.push(bytes, !this.started);
          }
        }
        this.at = 0;
      } catch (err) {
        this.stop();
        throw this.failure(err);
      }
    }
  }

  /** Nothing more is read: what is left of the last read is dropped. */
  private stop(): void {
    this.finished = true;
    this.events = [];
    this.at = 0;
  }

  /**
   * After [DONE] the body's end is usually a moment away: read it (ignoring what it says) for at
   * most `ms`, so that the connection goes back to the pool instead of being cut. Settles true
   * when the body ended. Most often the end came in the same network read as the [DONE], which undici reports once
   * the read's events have been handled: that is looked at first, a microtask later, without a timer and a race.
   */
  async drain(ms: number): Promise<boolean> {
    if (this.ended) return true;
    await Promise.resolve();
    if (this.endArrived()) return true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const read = async () => {
      while ((await this.res.read()) !== null);
      return true;
    };
    try {
      return (this.ended = await Promise.race([read(), late]));
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Takes what has arrived of the body (ignoring it); true when its end is among it. */
  private endArrived(): boolean {
    try {
      for (;;) {
        const bytes = this.res.take();
        if (bytes === undefined) return false;
        if (bytes === null) return (this.ended = true);
      }
    } catch {
      // A failed body: the race below sees the same failure.
      return false;
    }
  }

  private failure(err: unknown): SendError {
    if (err instanceof SendError) return err;
    if (err instanceof SseTooLargeError) return badAnswer(this.call.inferenceId, err.message);
    const code = (err as { code?: string }).code;
    if (code === BODY_TIMEOUT && this.started) {
      return new SendError({
        error: errors.upstreamSilent(this.call.inferenceId, this.call.silenceLimit),
        retry: 'none',
      });
    }
    return new SendError(mapNetworkError(err, this.call.url, this.call.inferenceId));
  }
}

/** How long the end of a body may take to come after its [DONE] before the connection is cut. */
const DRAIN_MS = 1000;

interface GenerationCall {
  transport: HttpTransport;
  inferenceId: string;
  apiKey: string;
  protocol: GenerationProtocol;
  /** UPSTREAM_TIMEOUT as a user reads it, for the message of a stream that went silent. */
  silenceLimit: string;
  /** Where each upstream request is counted and timed (to its headers). */
  telemetry?: EndpointTelemetry;
}

/** One endpoint's generation operations over its protocol. */
function generationOperations(call: GenerationCall): GenerationOperations {
  const { transport, inferenceId, apiKey, protocol } = call;

  /** POSTs and opens the answer; network failures become SendErrors, an abort is rethrown as it is. */
  const open = async (url: string, body: string, accept: string, signal: StopSignal): Promise<UpstreamStream> => {
    const started = performance.now();
    try {
      const res = await transport.open(url, requestHeaders(apiKey, accept), body, signal);
      call.telemetry?.upstreamRequest(res.status, (performance.now() - started) / 1000);
      return res;
    } catch (err) {
      if (signal.aborted) throw err;
      call.telemetry?.upstreamRequest(noStatus((err as { code?: string }).code), (performance.now() - started) / 1000);
      throw new SendError(mapNetworkError(err, url, inferenceId));
    }
  };

  /** The whole body of an opened answer, as docs/hugging-face-protocols.md#upstream-errors maps it. */
  const whole = async (res: UpstreamStream, url: string, signal: StopSignal): Promise<JsonAnswer> => {
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      if (signal.aborted) throw err;
      if ((err as { code?: string }).code === RESPONSE_TOO_LARGE)
        throw badAnswer(inferenceId, 'the answer is larger than the limit for upstream answers');
      throw new SendError(mapNetworkError(err, url, inferenceId));
    }
    const answer = answerOf({ status: res.status, text, headers: res.headers }, inferenceId, apiKey);
    // Some servers answer 200 with an error in the body.
    const body = answer.body;
    if (isJsonObject(body) && 'error' in body) throw new SendError(mapInBandError(body, inferenceId, apiKey, text));
    return answer;
  };

  /** A whole answer's text, the key masked in it: an upstream may echo the key as generated text. */
  const answerText = async (res: UpstreamStream, url: string, signal: StopSignal): Promise<string> =>
    maskSecret(protocol.parseAnswer(await whole(res, url, signal), inferenceId), apiKey);

  const generate = async (request: GenerationRequest, signal: StopSignal): Promise<string> => {
    const { url, body } = protocol.request(request, false);
    const res = await open(url, body, 'application/json', signal);
    return answerText(res, url, signal);
  };

  return {
    generate,
    async stream(request, signal) {
      if (!protocol.streams) return wholeAnswerStream(await generate(request, signal));
      const { url, body } = protocol.request(request, true);
      const res = await open(url, body, 'text/event-stream', signal);
      if (res.status < 200 || res.status >= 300 || !/event-stream/i.test(res.contentType)) {
        // An error status, or a server that answered the stream request whole.
        return wholeAnswerStream(await answerText(res, url, signal));
      }
      const reader = new EventReader(res, protocol, { url, inferenceId, apiKey, silenceLimit: call.silenceLimit });
      // The first event decides whether the stream starts: an error in it is an ordinary failure,
      // retried like the HTTP status it stands for (TGI reports overload and validation this way).
      let first: GenerationChunk[] | null;
      try {
        first = await reader.next();
      } catch (err) {
        res.abort();
        throw err;
      }
      reader.started = true;
      // The key masked in the generated text, even split across events (see ChunkMasker).
      const masker = new ChunkMasker(apiKey);
      /** What ends the stream once the chunks before it (what the masker held) have been taken: null or the error. */
      let last: { error: EsError } | null | undefined;
      let closed = false;
      const stream = {
        done: res.closed,
        first: first ? masker.chunks(first) : [],
        take(): GenerationChunk[] | null | undefined {
          if (last !== undefined) {
            if (last === null) return null;
            throw last.error;
          }
          for (;;) {
            let batch;
            try {
              batch = reader.poll();
            } catch (err) {
              stream.close();
              last = { error: err instanceof SendError ? maskedError(err.failure.error, apiKey) : errors.internal() };
              // What was held is text the stream did generate: it goes before the error.
              const held = masker.flush();
              if (held.length > 0) return held;
              throw last.error;
            }
            if (batch === undefined) return undefined;
            if (batch === null) {
              stream.close();
              last = null;
              const held = masker.flush();
              return held.length > 0 ? held : null;
            }
            const chunks = masker.chunks(batch);
            if (chunks.length > 0) return chunks;
          }
        },
        wait: (wake: () => void) => res.wait(wake),
        close() {
          if (closed) return;
          closed = true;
          // The body ended; or it only said [DONE] (its end follows); or the stream ended early
          // (an error, the client gone): then the request is cut off.
          if (reader.doneSeen) void reader.drain(DRAIN_MS).then((ended) => ended || res.abort());
          else res.abort();
        },
        [Symbol.asyncIterator]: () => iterate(stream),
      };
      return stream;
    },
  };
}

/** The protocol an endpoint's generations use (see protocolOf), bound to its urls. */
function protocolFor(
  settings: ServiceSettingsOf<'completion' | 'chat_completion'>,
  { hfApiBase, hfRouterBase }: WireContext,
): GenerationProtocol {
  switch (protocolOf(settings)) {
    case 'text_generation':
      return textGenerationProtocol(settings.url!);
    case 'text2text_generation':
      return text2textProtocol(text2textUrl(settings.url, settings.model_id, hfApiBase));
    case 'openai_chat':
      return openAiChatProtocol(chatUrl(settings.url, hfRouterBase), settings.model_id);
  }
}

/** One completion or chat_completion endpoint: its protocol, resolved once for its operations and its URLs. */
export function generationWire<T extends 'completion' | 'chat_completion'>(context: WireContext): TaskWire<T> {
  return ({ inferenceId, settings, apiKey, telemetry }) => {
    const protocol = protocolFor(settings, context);
    return {
      upstreamUrls: [...protocol.urls],
      operations: generationOperations({
        transport: context.transport,
        inferenceId,
        apiKey,
        protocol,
        silenceLimit: context.silenceLimit,
        telemetry,
      }),
    };
  };
}
