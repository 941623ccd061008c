// Outbound HTTP for every service: undici keep-alive pools, bounded per origin, size-capped answers, no redirects;
// streamed answers for text generation.
import { abortError, type StopSignal } from '../../cancellation.js';
import { Agent, type Dispatcher, util } from 'undici';
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
  /** The Content-Type header ('' when there is none), read without parsing the other headers. */
  readonly contentType: string;
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

/**
 * An answer's headers as undici's request() gives them, parsed from its raw list when first read: most answers (an
 * embedding's, a stream's) never read them, and parsing them was a tenth of what a stream spends between the
 * upstream's answer and its first event.
 */
class RawHeaders {
  private parsed: Record<string, string | string[] | undefined> | undefined;
  constructor(private readonly raw: Buffer[]) {}

  get all(): Record<string, string | string[] | undefined> {
    return (this.parsed ??= util.parseHeaders(this.raw));
  }

  /** The first value of a header whose name is given in lower case; '' when there is none. */
  first(name: string): string {
    for (let i = 0; i < this.raw.length; i += 2) {
      const key = this.raw[i]!;
      if (key.length === name.length && key.toString('latin1').toLowerCase() === name)
        return this.raw[i + 1]!.toString('latin1');
    }
    return '';
  }
}

const NO_HEADERS = new RawHeaders([]);

/** Bytes held for a reader before undici stops reading the connection (what a Readable would hold, 64 KiB). */
const HIGH_WATER_BYTES = 64 * 1024;

const cutShort = () => Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });

/**
 * A streamed answer read straight from undici's dispatcher: its handler keeps the body's chunks as they arrive and
 * wakes the one reader. undici's `request()` wraps the same handler calls in an async resource, a Readable (a push,
 * a read and events for every chunk) and a promise; streams read chunk by chunk, synchronously, need none of it
 * (docs/performance.md#streams-read-from-undicis-dispatcher). Timeouts are the dispatcher's (headersTimeout, bodyTimeout).
 */
class StreamedAnswer implements UpstreamStream, Dispatcher.DispatchHandler {
  status = 0;
  private rawHeaders = NO_HEADERS;
  /** Resolves with this answer once its headers are in; rejects when the request fails before. */
  readonly response: Promise<UpstreamStream>;
  readonly closed: Promise<void>;
  private respond!: { resolve(answer: UpstreamStream): void; reject(error: Error): void };
  private close!: () => void;
  private responded = false;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** undici has delivered the whole body. */
  private complete = false;
  /** The reader has taken the end (or the answer failed): `closed` has settled. */
  private over = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private abortRequest: ((reason: Error) => void) | undefined;
  /** undici's reading of the connection, paused while the reader is behind. */
  private resumeReading: (() => void) | undefined;
  private paused = false;
  private readonly onAbort = () => this.fail(abortError());

  constructor(
    private readonly signal: StopSignal,
    private readonly limit: number,
  ) {
    this.response = new Promise((resolve, reject) => (this.respond = { resolve, reject }));
    this.closed = new Promise((resolve) => (this.close = resolve));
    if (signal.aborted) this.onAbort();
    else signal.addEventListener('abort', this.onAbort, { once: true });
  }

  // undici's handler calls.
  onConnect(abort: (reason: Error) => void): void {
    if (this.failure) abort(this.failure);
    else this.abortRequest = abort;
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx answers come before the real one (as undici's request() ignores them without onInfo).
    if (status < 200) return true;
    this.status = status;
    this.rawHeaders = new RawHeaders(rawHeaders);
    this.resumeReading = resume;
    this.responded = true;
    this.respond.resolve(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.woken();
    if (this.buffered < HIGH_WATER_BYTES) return true;
    this.paused = true;
    return false;
  }

  onComplete(): void {
    this.complete = true;
    if (this.chunks.length === 0) this.finish();
    this.woken();
  }

  onError(err: Error): void {
    // The request is over already: nothing to end.
    this.complete = true;
    this.fail(err);
  }

  // The reader's side.
  get headers(): Record<string, string | string[] | undefined> {
    return this.rawHeaders.all;
  }

  get contentType(): string {
    return this.rawHeaders.first('content-type');
  }

  take(): Uint8Array | null | undefined {
    if (this.failure !== undefined) throw this.failure;
    if (this.chunks.length > 0) {
      const bytes = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
      this.chunks = [];
      this.buffered = 0;
      if (this.paused) {
        this.paused = false;
        this.resumeReading?.();
      }
      return bytes;
    }
    if (!this.complete) return undefined;
    this.finish();
    return null;
  }

  wait(wake: () => void): void {
    this.wake = wake;
  }

  async read(): Promise<Uint8Array | null> {
    for (;;) {
      const bytes = this.take();
      if (bytes !== undefined) return bytes;
      await new Promise<void>((wake) => this.wait(wake));
    }
  }

  async text(): Promise<string> {
    const parts: Uint8Array[] = [];
    let size = 0;
    for (let part = await this.read(); part !== null; part = await this.read()) {
      size += part.length;
      if (size > this.limit) {
        this.abort();
        throw tooLarge();
      }
      parts.push(part);
    }
    return Buffer.concat(parts).toString('utf8');
  }

  abort(): void {
    // A body read to its end is no longer tied to a request; whatever is left unread is dropped.
    if (!this.over) this.fail(this.complete ? cutShort() : abortError());
    this.chunks = [];
    this.buffered = 0;
  }

  private woken(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Fails the answer (first failure kept): the request is ended, the reader and `closed` are told. */
  private fail(err: Error): void {
    if (this.over) return;
    this.failure ??= err;
    // undici ends the request (and calls onError, by then ignored).
    if (!this.complete) this.abortRequest?.(err);
    if (!this.responded) this.respond.reject(err);
    this.finish();
    this.woken();
  }

  private finish(): void {
    if (this.over) return;
    this.over = true;
    this.signal.removeEventListener('abort', this.onAbort);
    if (!this.complete) {
      this.close();
      return;
    }
    // `closed` frees the stream's slot in its endpoint's queue, and the next stream's request is sent at once. undici
    // lets a keep-alive connection take its next request only a full turn of the event loop after the body's end (its
    // onMessageComplete calls onComplete, then `setImmediate(client[kResume])`): a request sent before finds every
    // connection of the pool busy and opens another one (a TLS handshake to a real upstream). Settled in a
    // setImmediate queued after undici's (from a microtask, which runs once undici's parsing has returned), the next
    // request finds this connection free.
    void Promise.resolve().then(() => setImmediate(this.close));
  }
}

/**
 * A whole answer collected straight from undici's dispatcher, as `request()` and `body.text()` would read it (a
 * leading byte order mark dropped, the rest as UTF-8) without the async resource, Readable and promises they add per
 * call. Its size is bounded by the dispatcher's maxResponseSize.
 */
class WholeAnswer implements Dispatcher.DispatchHandler {
  readonly result: Promise<UpstreamResponse>;
  private settle!: { resolve(answer: UpstreamResponse): void; reject(error: Error): void };
  private status = 0;
  private rawHeaders = NO_HEADERS;
  private chunks: Buffer[] = [];
  private size = 0;
  private over = false;
  private failure: Error | undefined;
  private abortRequest: ((reason: Error) => void) | undefined;

  constructor() {
    this.result = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
  }

  onConnect(abort: (reason: Error) => void): void {
    if (this.failure) abort(this.failure);
    else this.abortRequest = abort;
  }

  onHeaders(status: number, rawHeaders: Buffer[]): boolean {
    if (status < 200) return true;
    this.status = status;
    this.rawHeaders = new RawHeaders(rawHeaders);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    this.size += chunk.length;
    return true;
  }

  onComplete(): void {
    if (this.over) return;
    this.over = true;
    const bytes = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    const start = bytes.length > 2 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    const headers = this.rawHeaders;
    this.settle.resolve({
      status: this.status,
      text: bytes.toString('utf8', start),
      get headers() {
        return headers.all;
      },
    });
  }

  onError(err: Error): void {
    if (this.over) return;
    this.over = true;
    this.settle.reject(err);
  }

  /** Ends the call (the caller's abort, or its time limit): it fails as an aborted undici request does. */
  abort(): void {
    if (this.over) return;
    this.over = true;
    this.failure = abortError();
    this.abortRequest?.(this.failure);
    this.settle.reject(this.failure);
  }
}

/** Where a request goes, as undici's dispatchers take it. */
interface Target {
  origin: string;
  path: string;
}

/** URLs parsed lately: an endpoint calls the same URL on every request. */
const MAX_TARGETS = 10_000;

export class HttpTransport {
  private readonly agent: Agent;
  /**
   * Each URL parsed once: `request(url)` parses it with WHATWG's URL on every call (about 10 µs of a
   * stream's first event, measured with a CPU profile); the agent takes the same origin and path.
   */
  private readonly targets = new Map<string, Target>();
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
  open(url: string, headers: Record<string, string>, body: string, signal: StopSignal): Promise<UpstreamStream> {
    this.options.guard.checkHost(url);
    const answer = new StreamedAnswer(signal, this.options.maxResponseBytes);
    this.longAgent.dispatch(this.dispatchOptions(url, 'POST', headers, body), answer);
    return answer.response;
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
    // Ended by the caller's signal or by the call's time limit (a plain timer: AbortSignal.timeout/any cost several
    // times more on this hot path).
    const answer = new WholeAnswer();
    let timedOut = false;
    const onAbort = () => answer.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => {
      timedOut = true;
      answer.abort();
    }, this.options.callTimeoutMs);
    try {
      this.agent.dispatch(this.dispatchOptions(url, method, headers, body), answer);
      return await answer.result;
    } catch (err) {
      if (timedOut && !signal.aborted)
        throw Object.assign(new Error('the upstream call timed out'), { code: CALL_TIMED_OUT });
      throw err;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * What undici's dispatch() takes, as one object literal of one shape for every call. It was `{ ...target, method,
   * headers, body }`: V8 copied the spread through its slow path and added the three fields through a missed store each,
   * and undici's Request, which reads sixteen fields of it (most of them absent), looked each one up in the runtime: 43,000
   * instructions of a one-token stream's 389,000 (callgrind; docs/performance.md, "One shape for undici's options").
   */
  private dispatchOptions(
    url: string,
    method: 'GET' | 'POST',
    headers: Record<string, string>,
    body: string | undefined,
  ): Dispatcher.DispatchOptions {
    const { origin, path } = this.target(url);
    return { origin, path, method, headers, body };
  }

  /** The origin and path undici's `request(url)` would send to (its parsing, done once per URL). */
  private target(url: string): Target {
    let target = this.targets.get(url);
    if (!target) {
      const parsed = new URL(url);
      target = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
      if (this.targets.size >= MAX_TARGETS) this.targets.clear();
      this.targets.set(url, target);
    }
    return target;
  }

  async close(): Promise<void> {
    await Promise.all([this.agent.close(), this.longAgent.destroy()]);
  }
}
