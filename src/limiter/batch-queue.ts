// One endpoint's queue of texts waiting to be embedded: bounded, batched when a rate-limit slot opens, retried, cancellable.
import type PQueue from 'p-queue';
import type { Cancellation } from '../cancellation.js';
import { EsError, errors } from '../errors.js';
import type { RateLimiter } from './rate-limiter.js';

/** How a failed upstream request may be tried again. */
export interface SendFailure {
  error: EsError;
  /** none: fail; backoff: try again later; split: the batch (or the one input) was too large. */
  retry: 'none' | 'backoff' | 'split';
  /** How long the upstream asked us to wait (Retry-After, estimated_time). */
  waitMs?: number;
  /** The largest batch the upstream says it takes. */
  maxBatchSize?: number;
}

export class BatchSendError extends Error {
  constructor(readonly failure: SendFailure) {
    super(failure.error.reason);
  }
}

/** Sends one batch of texts (one upstream request), one result per text; throws BatchSendError on failure. */
export type SendBatch<R> = (texts: string[], signal: AbortSignal) => Promise<R[]>;

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 5000 };
/** Waiting upstream requests (batches) an endpoint holds before it refuses work with 429. */
export const QUEUE_CAPACITY = 2000;

interface Job<R> {
  text: string;
  caller: Cancellation;
  attempts: number;
  settled: boolean;
  /** In `pending`, waiting for a slot (as opposed to in flight or waiting out a back-off). */
  inQueue: boolean;
  resolve(result: R): void;
  reject(error: EsError): void;
}

/** A FIFO with cheap removal at the front and re-insertion at the front (for retries). */
class Deque<T> {
  private items: T[] = [];
  private head = 0;
  push(item: T): void {
    this.items.push(item);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head++] = undefined as T;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  unshiftAll(list: T[]): void {
    this.items = [...list, ...this.items.slice(this.head)];
    this.head = 0;
  }
}

/** Rejection given to the promises of a caller that went away; nobody reads it. */
const CANCELLED = new EsError(499, 'task_cancelled_exception', 'The request was cancelled');

export class BatchQueue<R> {
  private readonly pending = new Deque<Job<R>>();
  /** Jobs in `pending` that are still wanted. */
  private waiting = 0;
  private pumping = false;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly opts: {
      inferenceId: string;
      limiter: RateLimiter;
      inflight: PQueue;
      send: SendBatch<R>;
      batchSize: number;
      retry: RetryPolicy;
      /** Waiting batches before 429; QUEUE_CAPACITY unless set. */
      capacity?: number;
    },
  ) {}

  /** A new configured size (an `_update`); it also forgets a size learned from the upstream. */
  setBatchSize(size: number): void {
    this.opts.batchSize = size;
  }

  /**
   * Queues texts; each promise resolves to its text's result. Throws 429 when
   * the endpoint already holds its capacity of waiting requests.
   */
  submit(texts: string[], caller: Cancellation): Promise<R>[] {
    const capacity = (this.opts.capacity ?? QUEUE_CAPACITY) * this.opts.batchSize;
    if (this.closed || this.waiting + texts.length > capacity) throw errors.queueFull(this.opts.inferenceId);
    const jobs: Job<R>[] = [];
    const promises = texts.map(
      (text) =>
        new Promise<R>((resolve, reject) => {
          jobs.push({ text, caller, attempts: 0, settled: false, inQueue: true, resolve, reject });
        }),
    );
    // A cancelled caller's promises reject with CANCELLED; keep that from surfacing as unhandled.
    for (const p of promises) p.catch(() => undefined);
    for (const job of jobs) this.pending.push(job);
    this.waiting += jobs.length;
    caller.onCancel(() => this.cancel(jobs));
    void this.pump();
    return promises;
  }

  /** Fails everything still queued (endpoint deleted, service closing). */
  close(error: EsError): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (let job = this.pending.shift(); job; job = this.pending.shift()) this.fail(job, error);
    this.waiting = 0;
  }

  /** Cancelled jobs stay in the deque until the pump reaches them, but no longer count and are never sent. */
  private cancel(jobs: Job<R>[]): void {
    for (const job of jobs) {
      if (job.settled) continue;
      if (job.inQueue) this.waiting--;
      this.fail(job, CANCELLED);
    }
  }

  private settle(job: Job<R>, outcome: { error: EsError } | { result: R }): void {
    if (job.settled) return;
    job.settled = true;
    if ('error' in outcome) job.reject(outcome.error);
    else job.resolve(outcome.result);
  }

  private fail(job: Job<R>, error: EsError): void {
    this.settle(job, { error });
  }

  /** Up to batchSize wanted jobs from the front of the queue. */
  private take(): Job<R>[] {
    const batch: Job<R>[] = [];
    while (batch.length < this.opts.batchSize) {
      const job = this.pending.shift();
      if (!job) break;
      job.inQueue = false;
      if (job.settled) continue;
      this.waiting--;
      batch.push(job);
    }
    return batch;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.waiting > 0 && !this.closed) {
        // Room in the service-wide bound first, so that a granted slot is used at once.
        await this.opts.inflight.onSizeLessThan(1);
        await this.opts.limiter.acquire();
        // A batch leaves when the limiter grants the slot, with whatever is waiting by then.
        const batch = this.take();
        if (batch.length > 0) void this.opts.inflight.add(() => this.dispatch(batch));
      }
    } catch {
      // The limiter was stopped: the endpoint is gone or the service is closing, and close()
      // has failed whatever was waiting.
    } finally {
      this.pumping = false;
    }
  }

  private async dispatch(batch: Job<R>[]): Promise<void> {
    const controller = new AbortController();
    // The upstream call is abandoned only when nobody in the batch still wants an answer.
    const onCancel = () => {
      if (batch.every((j) => j.settled)) controller.abort();
    };
    const callers = new Set(batch.map((j) => j.caller));
    const offs = [...callers].map((c) => c.onCancel(onCancel));
    this.opts.limiter.markSent();
    try {
      const vectors = await this.opts.send(
        batch.map((j) => j.text),
        controller.signal,
      );
      batch.forEach((job, i) => this.settle(job, { result: vectors[i]! }));
    } catch (err) {
      if (controller.signal.aborted) return;
      const failure: SendFailure = err instanceof BatchSendError ? err.failure : { error: errors.internal(), retry: 'none' };
      this.handleFailure(
        batch.filter((j) => !j.settled),
        failure,
      );
    } finally {
      for (const off of offs) off();
    }
  }

  private handleFailure(live: Job<R>[], failure: SendFailure): void {
    if (live.length === 0) return;
    const { retry } = this.opts;
    if (failure.retry === 'split') {
      if (live.length > 1) {
        // Remember the smaller size for this endpoint and send the same texts again in smaller batches.
        const limit =
          failure.maxBatchSize !== undefined && failure.maxBatchSize < live.length ? failure.maxBatchSize : Math.floor(live.length / 2);
        this.opts.batchSize = Math.max(1, Math.min(this.opts.batchSize, limit));
        this.requeue(live);
        return;
      }
      // One input too large on its own: cut it in half and try again, within the attempt limit.
      const job = live[0]!;
      job.attempts++;
      if (job.attempts >= retry.maxAttempts || job.text.length <= 1) {
        this.fail(job, failure.error);
        return;
      }
      job.text = job.text.slice(0, Math.ceil(job.text.length / 2));
      this.requeue([job]);
      return;
    }
    if (failure.retry === 'none') {
      for (const job of live) this.fail(job, failure.error);
      return;
    }
    const now = Date.now();
    const again: Job<R>[] = [];
    let delay = 0;
    for (const job of live) {
      job.attempts++;
      const wait = failure.waitMs ?? Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (job.attempts - 1));
      // Out of attempts, or a wait that would end past the caller's deadline: fail now.
      if (job.attempts >= retry.maxAttempts || now + wait >= job.caller.deadline) {
        this.fail(job, failure.error);
        continue;
      }
      delay = Math.max(delay, wait);
      again.push(job);
    }
    if (again.length === 0) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.requeue(again.filter((j) => !j.settled));
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }

  private requeue(jobs: Job<R>[]): void {
    if (jobs.length === 0) return;
    if (this.closed) {
      for (const job of jobs) this.fail(job, errors.queueFull(this.opts.inferenceId));
      return;
    }
    for (const job of jobs) job.inQueue = true;
    this.pending.unshiftAll(jobs);
    this.waiting += jobs.length;
    void this.pump();
  }
}
