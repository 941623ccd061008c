// A request's lifetime: its deadline, and one signal that says its work is no longer wanted.
//
// Lighter than AbortController (an EventTarget) on the hot path: cancelling calls plain
// callbacks, and nothing is allocated for a request that finishes normally.

export class Cancellation {
  private callbacks: Array<(reason: unknown) => void> | undefined;
  private cancelledWith: { reason: unknown } | undefined;
  /** Upstream requests that carried this request's work so far, retries included (for its log line). */
  upstreamRequests = 0;
  /** Texts answered by the embedding cache (or by another request's call under way); undefined: none looked up. */
  cacheHits: number | undefined;

  constructor(
    /** Date.now() time after which the caller no longer waits; Infinity for none. */
    readonly deadline: number,
  ) {}

  get cancelled(): boolean {
    return this.cancelledWith !== undefined;
  }

  get reason(): unknown {
    return this.cancelledWith?.reason;
  }

  cancel(reason: unknown): void {
    if (this.cancelledWith) return;
    this.cancelledWith = { reason };
    const callbacks = this.callbacks;
    this.callbacks = undefined;
    for (const cb of callbacks ?? []) cb(reason);
  }

  /** Calls `cb` once when cancelled (at once if already); returns a function that unregisters it. */
  onCancel(cb: (reason: unknown) => void): () => void {
    if (this.cancelledWith) {
      cb(this.cancelledWith.reason);
      return () => undefined;
    }
    (this.callbacks ??= []).push(cb);
    return () => {
      const i = this.callbacks?.indexOf(cb) ?? -1;
      if (i >= 0) this.callbacks!.splice(i, 1);
    };
  }
}

/**
 * What tells an upstream call that nobody wants its answer any more. An AbortSignal is one; the endpoint queue and the
 * transport use a `CallSignal`, since an AbortController (an EventTarget) costs several microseconds to make and listen
 * to, paid for every upstream request.
 */
export interface StopSignal {
  readonly aborted: boolean;
  /** Throws an `AbortError` once aborted. */
  throwIfAborted(): void;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** The error an AbortController aborted without a reason gives: what an aborted upstream call fails with. */
export const abortError = (): DOMException => new DOMException('This operation was aborted', 'AbortError');

/**
 * A `StopSignal` and its controller in one: listeners are plain callbacks, each called once. The endpoint queue gives
 * one to each upstream call, which the transport listens to.
 */
export class CallSignal implements StopSignal {
  aborted = false;
  /** abortError() once aborted. */
  reason: DOMException | undefined;
  private listeners: Array<() => void> | undefined;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = abortError();
    const listeners = this.listeners;
    this.listeners = undefined;
    for (const listener of listeners ?? []) listener();
  }

  throwIfAborted(): void {
    if (this.reason) throw this.reason;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted) (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners?.indexOf(listener) ?? -1;
    if (i >= 0) this.listeners!.splice(i, 1);
  }
}
