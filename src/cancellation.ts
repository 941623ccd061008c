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
