// Outbound HTTP for every service: undici keep-alive pools, bounded per origin, size-capped answers, no redirects;
// streamed answers for text generation.
import { CallSignal, type StopSignal } from '../../cancellation.js';
import { Agent, request } from 'undici';
import type { UpstreamGuard } from './upstream-guard.js';

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A response whose body is read as it arrives (text generation). */
export interface UpstreamStream {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /**
   * The body's next bytes as they arrive (all that has arrived, when some has); null at its end. Fails on abort, on a
   * network error, and with UND_ERR_BODY_TIMEOUT when the upstream stays silent longer than callTimeoutMs.
   */
  read(): Promise<Uint8Array | null>;
  /**
   * What read() would resolve with, synchronously: the bytes that have arrived, null at the body's end, undefined when
   * none have yet (wait() then says when to ask again). Throws what read() would reject with.
   */
  take(): Uint8Array | null | undefined;
  /** Calls `wake` once, when take() may have something new to say (bytes, the end, a failure). One waiter at a time. */
  wait(wake: () => void): void;
  /** The whole body as text, at most maxResponseBytes (error answers, unstreamed generations). */
  text(): Promise<string>;
  /** Settles once the response is over: read to its end, failed or aborted. */
  closed: Promise<void>;
  /** Ends the request now (the body then fails, and `closed` settles). */
  abort(): void;
}

export interface TransportOptions {
  /** Connections kept per upstream origin. */
  connectionsPerOrigin: number;
  /** Largest response body read; a larger one fails the call with RESPONSE_TOO_LARGE. */
  maxResponseBytes: number;
  connectTimeoutMs: number;
  /** Longest one call may take in all (a hanging or trickling upstream is cut off). */
  callTimeoutMs: number;
  /** Refuses hosts before calling them, and the addresses they resolve to when connecting. */
  guard: UpstreamGuard;
}

/** The error of a call cut off by callTimeoutMs. */
export const CALL_TIMED_OUT = 'UPSTREAM_CALL_TIMED_OUT';

/** undici's error for an answer over maxResponseSize. */
export const RESPONSE_TOO_LARGE = 'UND_ERR_RES_EXCEEDED_MAX_SIZE';

/** undici's error for a body silent longer than its bodyTimeout. */
export const BODY_TIMEOUT = 'UND_ERR_BODY_TIMEOUT';

const tooLarge = () =>
  Object.assign(new Error('the upstream answer is larger than the limit'), { code: RESPONSE_TOO_LARGE });

export class HttpTransport {
  private readonly agent: Agent;
  /**
   * Generations hold a connection for as long as they run: they get their own pool, bounded per
   * endpoint (max_concurrent_streams) rather than per origin, so they never wait behind each
   * other in undici or hold up embeddings.
   */
  private readonly longAgent: Agent;

  constructor(private readonly options: TransportOptions) {
    const connect = { timeout: options.connectTimeoutMs, lookup: options.guard.lookup };
    this.agent = new Agent({
      connections: options.connectionsPerOrigin,
      keepAliveTimeout: 30_000,
      connect,
      maxResponseSize: options.maxResponseBytes,
    });
    this.longAgent = new Agent({
      keepAliveTimeout: 30_000,
      connect,
      headersTimeout: options.callTimeoutMs,
      bodyTimeout: options.callTimeoutMs,
    });
  }

  /**
   * POSTs `body` and resolves once the response headers are in; the body is then read as it
   * comes. Waiting for the headers, and every silence in the body, is bounded by callTimeoutMs.
   * Rejects on network errors, on a refused host and on abort; redirects are returned, never followed.
   */
  async open(url: string, headers: Record<string, string>, body: string, signal: StopSignal): Promise<UpstreamStream> {
    this.options.guard.checkHost(url);
    // A controller of its own, so the request can be ended both by the caller and by its reader.
    const call = new CallSignal();
    const onAbort = () => call.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) call.abort();
    let res;
    try {
      res = await request(url, { method: 'POST', headers, body, signal: call, dispatcher: this.longAgent });
    } catch (err) {
      signal.removeEventListener('abort', onAbort);
      throw err;
    }
    const readable = res.body;
    // The body read straight from its buffer (an async iterator over it costs a generator and several promises per
    // read): what has arrived at once, else at the next 'readable', 'end', error or close.
    let wake: (() => void) | undefined;
    let ended = false;
    let failure: Error | undefined;
    const cutShort = () => Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    const woken = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    readable.on('readable', woken);
    readable.once('end', () => {
      ended = true;
      woken();
    });
    // Errors reach readers through read(); a body nobody reads must not crash the process when it fails.
    readable.on('error', (err) => {
      failure ??= err;
      woken();
    });
    const closed = new Promise<void>((resolve) => {
      // Closed before its end without an error: cut short (as a stream's async iterator reports it).
      if (readable.destroyed) {
        failure = readable.errored ?? cutShort();
        resolve();
      } else
        readable.once('close', () => {
          if (!ended) failure ??= cutShort();
          woken();
          resolve();
        });
    }).then(() => signal.removeEventListener('abort', onAbort));
    const take = (): Uint8Array | null | undefined => {
      if (failure !== undefined) throw failure;
      const bytes = readable.read() as Buffer | null;
      if (bytes !== null) return bytes;
      return ended ? null : undefined;
    };
    const wait = (w: () => void) => {
      wake = w;
    };
    const read = async (): Promise<Uint8Array | null> => {
      for (;;) {
        const bytes = take();
        if (bytes !== undefined) return bytes;
        await new Promise<void>(wait);
      }
    };
    const limit = this.options.maxResponseBytes;
    return {
      status: res.statusCode,
      headers: res.headers,
      read,
      take,
      wait,
      closed,
      abort: () => {
        // A body read to its end is no longer tied to a request (and an abort costs an exception).
        if (!readable.readableEnded) call.abort();
        // Whatever is left unread is dropped, so that `closed` settles.
        readable.destroy();
      },
      async text() {
        const parts: Buffer[] = [];
        let size = 0;
        for (let part = await read(); part !== null; part = await read()) {
          size += part.length;
          if (size > limit) {
            call.abort();
            throw tooLarge();
          }
          parts.push(part as Buffer);
        }
        return Buffer.concat(parts).toString('utf8');
      },
    };
  }

  /**
   * POSTs `body`; rejects on network errors, on a refused host, on abort, and when the call
   * outlasts callTimeoutMs. Redirects are returned, never followed.
   */
  post(url: string, headers: Record<string, string>, body: string, signal: StopSignal): Promise<UpstreamResponse> {
    return this.call('POST', url, headers, body, signal);
  }

  /** GETs `url` (a server's `/info`), under the same rules as `post`. */
  get(url: string, headers: Record<string, string>, signal: StopSignal): Promise<UpstreamResponse> {
    return this.call('GET', url, headers, undefined, signal);
  }

  private async call(
    method: 'GET' | 'POST',
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
    signal: StopSignal,
  ): Promise<UpstreamResponse> {
    this.options.guard.checkHost(url);
    // Nobody wants the answer any more (the request left while this one waited for its grant): send nothing.
    signal.throwIfAborted();
    // One controller for this call, aborted by the caller's signal or by the call's time limit
    // (a plain timer: AbortSignal.timeout/any cost several times more on this hot path).
    const call = new CallSignal();
    let timedOut = false;
    const onAbort = () => call.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => {
      timedOut = true;
      call.abort();
    }, this.options.callTimeoutMs);
    try {
      const res = await request(url, { method, headers, body, signal: call, dispatcher: this.agent });
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
    } catch (err) {
      if (timedOut && !signal.aborted)
        throw Object.assign(new Error('the upstream call timed out'), { code: CALL_TIMED_OUT });
      throw err;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.agent.close(), this.longAgent.destroy()]);
  }
}
