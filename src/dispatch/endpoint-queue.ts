// One endpoint's queue of upstream work: requests served in turn, items batched (a generation goes alone), bounded,
// rate-limited, retried, cancellable.
import type PQueue from 'p-queue';
import { CallSignal, Cancellation, type StopSignal } from '../cancellation.js';
import { EsError, errors } from '../errors.js';
import { NO_ENDPOINT_TELEMETRY, type EndpointTelemetry } from '../telemetry.js';
import { intervalMs, type RateLimiter } from './rate-limiter.js';
import { SendError, type SendFailure } from '../services/send-error.js';
import { retryDelay, type RetryPolicy } from './retry.js';

/** Waiting upstream requests (batches) an endpoint holds before it refuses work with 429. */
const QUEUE_CAPACITY = 2000;

/** Whatever a held result's promise settles with, it is only waited for. */
const ignore = () => {};

/**
 * Sends one batch (one upstream request): one result per item, in order; throws SendError on
 * failure. Items of one batch always share their group.
 */
export type SendBatch<I, O, G> = (items: I[], group: G, signal: StopSignal) => Promise<O[]>;

export interface EndpointQueueOptions<I, O, G> {
  inferenceId: string;
  limiter: RateLimiter;
  /**
   * The service-wide bound on upstream requests in flight, shared by every endpoint that passes it
   * (batched work). Generations pass none: a stream holds its request for minutes, so
   * `maxInFlight` (max_concurrent_streams) bounds them per endpoint instead.
   */
  inflight?: PQueue;
  send: SendBatch<I, O, G>;
  /** Most items in one upstream request. */
  batchSize: number;
  /**
   * Upstream requests of this endpoint in flight at once; while all are busy, waiting items gather into fuller batches.
   */
  maxInFlight: number;
  /** The endpoint's rate now (its limiter spaces upstream requests 60000 / rate ms apart). */
  requestsPerMinute(): number;
  retry: RetryPolicy;
  /** Waiting batches before 429; QUEUE_CAPACITY unless set. */
  capacity?: number;
  /** A smaller version of an item the upstream found too large on its own; undefined when it cannot shrink. */
  shrink?(item: I): I | undefined;
  /** Whether the items are texts the upstream embeds or scores (counted as texts embedded); true unless set. */
  countsTexts?: boolean;
  /** Keeps the request's in-flight slot busy until the promise settles (a stream that goes on after its headers). */
  hold?(result: O): Promise<unknown>;
  /** Where queue depth, limiter waits, batch sizes, retries and texts are reported. */
  telemetry?: EndpointTelemetry;
}

interface Job<I, O, G> {
  item: I;
  group: G;
  caller: Cancellation;
  attempts: number;
  settled: boolean;
  /** In `retries` or a lane, waiting for a slot (as opposed to in flight or waiting out a back-off). */
  inQueue: boolean;
  resolve(result: O): void;
  reject(error: EsError): void;
}

/** A FIFO with cheap removal at the front and re-insertion at the front (for retries). */
class Deque<T> {
  private items: T[] = [];
  private head = 0;
  push(item: T): void {
    this.items.push(item);
  }
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
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
  get length(): number {
    return this.items.length - this.head;
  }
}

/** One request's jobs still to send (one submit), taken from the front in turn with other requests' lanes. */
interface Lane<I, O, G> {
  jobs: Job<I, O, G>[];
  /** The next job to take. */
  next: number;
  group: G;
}

/** Rejection given to the promises of a caller that went away; nobody reads it. */
const CANCELLED = new EsError(499, 'task_cancelled_exception', 'The request was cancelled');

export class EndpointQueue<I, O, G = undefined> {
  /** Jobs to send again (a retry, a split): ahead of every lane, as they have waited longest. */
  private readonly retries = new Deque<Job<I, O, G>>();
  /** Requests with jobs waiting, in turn order: each fills a batch (or what is left of one) in its turn. */
  private readonly lanes = new Deque<Lane<I, O, G>>();
  /** Jobs in `retries` and `lanes` that are still wanted. */
  private waiting = 0;
  /** Upstream requests of this queue in flight. */
  private active = 0;
  private pumping = false;
  /** Set by close(): the error every job left over gets (the endpoint is gone, or the service is closing). */
  private closedWith: EsError | undefined;
  /** Back-off timers, each with the jobs it will send again. */
  private readonly timers = new Map<NodeJS.Timeout, Job<I, O, G>[]>();
  /** Cancelled on close, so a pump waiting for the limiter stops waiting. */
  private readonly lifetime = new Cancellation(Infinity);
  private readonly telemetry: EndpointTelemetry;
  private readonly unwatch: () => void;

  constructor(private readonly opts: EndpointQueueOptions<I, O, G>) {
    this.telemetry = opts.telemetry ?? NO_ENDPOINT_TELEMETRY;
    this.unwatch = this.telemetry.watchQueue(() => this.waiting);
  }

  /** A new configured size (an `_update`); it also forgets a size learned from the upstream. */
  setBatchSize(size: number): void {
    this.opts.batchSize = size;
  }

  setMaxInFlight(count: number): void {
    this.opts.maxInFlight = count;
    void this.pump();
  }

  /**
   * Queues items of one group; each promise resolves to its item's result. Throws 429 when the
   * endpoint already holds its capacity of waiting requests.
   */
  submit(items: readonly I[], caller: Cancellation, group: G): Promise<O>[] {
    this.opts.limiter.poll?.();
    const capacity = this.capacity();
    // Retrying could never help a request larger than the whole queue: that is the caller's error, not a busy endpoint.
    if (items.length > capacity) {
      throw errors.requestExceedsQueue(
        this.opts.inferenceId,
        items.length,
        capacity,
        this.opts.capacity ?? QUEUE_CAPACITY,
        this.opts.batchSize,
      );
    }
    this.checkCanFinish(items.length, caller);
    if (this.closedWith || this.waiting + items.length > capacity) throw errors.queueFull(this.opts.inferenceId);
    const jobs: Job<I, O, G>[] = [];
    const promises = items.map(
      (item) =>
        new Promise<O>((resolve, reject) => {
          jobs.push({ item, group, caller, attempts: 0, settled: false, inQueue: true, resolve, reject });
        }),
    );
    // A cancelled caller's promises reject with CANCELLED; keep that from surfacing as unhandled.
    for (const p of promises) p.catch(() => undefined);
    this.lanes.push({ jobs, next: 0, group });
    this.waiting += jobs.length;
    caller.onCancel(() => this.cancel(jobs));
    void this.pump();
    return promises;
  }

  /**
   * Throws 400 when the caller's deadline comes before its own upstream requests could even be
   * sent: the limiter spaces them evenly, so the last of `calls` leaves (calls - 1) intervals after
   * the first. Such a request would spend its rate-limit grants and fail with 408 anyway. Work
   * already waiting is not counted: served in turn, it delays a request by too little to bound simply.
   */
  private checkCanFinish(count: number, caller: Cancellation): void {
    const batchSize = this.opts.batchSize;
    const calls = Math.ceil(count / batchSize);
    const rate = this.opts.requestsPerMinute();
    const needed = (calls - 1) * intervalMs(rate);
    const left = caller.deadline - Date.now();
    // A deadline already past is the timeout's 408 to answer, not this.
    if (needed > 0 && left > 0 && needed >= left)
      throw errors.requestCannotFinish(this.opts.inferenceId, count, batchSize, calls, rate, needed, left);
  }

  /** Items the queue holds before it refuses work: its capacity in batches times the batch size. */
  private capacity(): number {
    return (this.opts.capacity ?? QUEUE_CAPACITY) * this.opts.batchSize;
  }

  /**
   * Throws 429 when the queue is already full, before a request spends any work on its inputs
   * (chunking them): under a flood, refusing must cost next to nothing.
   */
  checkRoom(): void {
    this.opts.limiter.poll?.();
    if (this.closedWith || this.waiting >= this.capacity()) throw errors.queueFull(this.opts.inferenceId);
  }

  /**
   * Nothing waits, is in flight, holds a slot (a stream) or waits out a back-off: closing the queue now loses nothing but
   * a batch size learned from the upstream (the runner then lets an idle endpoint go, docs/performance.md).
   */
  get idle(): boolean {
    return this.waiting === 0 && this.active === 0 && this.timers.size === 0 && !this.pumping;
  }

  /** Fails everything still queued (endpoint deleted, service closing). */
  close(error: EsError): void {
    this.closedWith = error;
    this.unwatch();
    this.lifetime.cancel(error);
    // Jobs waiting out a back-off are in no queue: they fail here too, or their callers would wait for their timeouts.
    for (const [timer, jobs] of this.timers) {
      clearTimeout(timer);
      for (const job of jobs) this.settle(job, error, undefined);
    }
    this.timers.clear();
    for (let job = this.retries.shift(); job; job = this.retries.shift()) this.settle(job, error, undefined);
    for (let lane = this.lanes.shift(); lane; lane = this.lanes.shift()) {
      for (let i = lane.next; i < lane.jobs.length; i++) this.settle(lane.jobs[i]!, error, undefined);
    }
    this.waiting = 0;
  }

  /** Cancelled jobs stay in their lane until the pump reaches them, but no longer count and are never sent. */
  private cancel(jobs: Job<I, O, G>[]): void {
    for (const job of jobs) {
      if (job.settled) continue;
      if (job.inQueue) this.waiting--;
      this.settle(job, CANCELLED, undefined);
    }
  }

  private settle(job: Job<I, O, G>, error: EsError | undefined, result: O | undefined): void {
    if (job.settled) return;
    job.settled = true;
    if (error) job.reject(error);
    else job.resolve(result as O);
  }

  /**
   * Up to batchSize wanted jobs of one group: jobs sent again first, then the waiting requests in
   * turn, each filling what is left of the batch with its own jobs before the next request's turn;
   * a request with jobs left goes to the back of the line. A request of thousands of texts so
   * takes one batch per turn, not its hundreds of batches in a row: a small request behind it waits
   * about one batch, and batches stay full, filled from several requests when one runs short.
   * Whole turns (rather than one job of each request per batch) keep overload graceful: 1,000
   * one-batch requests finish one by one, as they came, instead of all together at the end.
   */
  private take(): Job<I, O, G>[] {
    const batch: Job<I, O, G>[] = [];
    const size = this.opts.batchSize;
    for (let job = this.retries.peek(); job && batch.length < size; job = this.retries.peek()) {
      if (batch.length > 0 && job.group !== batch[0]!.group && !job.settled) break;
      this.retries.shift();
      job.inQueue = false;
      if (job.settled) continue;
      this.waiting--;
      batch.push(job);
    }
    // Lanes of another group keep their turn; a full round without a job taken ends the batch.
    for (let passed = 0; batch.length < size && passed < this.lanes.length;) {
      const lane = this.lanes.shift()!;
      // A cancelled request's jobs are all settled: its lane is dropped as it is reached.
      while (lane.next < lane.jobs.length && lane.jobs[lane.next]!.settled) lane.jobs[lane.next++]!.inQueue = false;
      if (lane.next === lane.jobs.length) continue;
      if (batch.length > 0 && lane.group !== batch[0]!.group) {
        this.lanes.push(lane);
        passed++;
        continue;
      }
      while (batch.length < size && lane.next < lane.jobs.length) {
        const job = lane.jobs[lane.next++]!;
        job.inQueue = false;
        if (job.settled) continue;
        this.waiting--;
        batch.push(job);
      }
      passed = 0;
      if (lane.next < lane.jobs.length) this.lanes.push(lane);
    }
    return batch;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      // A free slot first, then the service-wide bound (if any), then the limiter: a granted request leaves at once,
      // carrying whatever has gathered while the slots were busy.
      const slots = this.opts.inflight;
      while (this.waiting > 0 && !this.closedWith && this.active < this.opts.maxInFlight) {
        if (slots) await slots.onSizeLessThan(1);
        const asked = performance.now();
        // A grant free now is taken without a promise: the request then leaves in the caller's turn.
        if (!this.opts.limiter.tryAcquire?.()) await this.opts.limiter.acquire(this.lifetime);
        const batch = this.take();
        if (batch.length === 0) continue;
        this.telemetry.limiterWait((performance.now() - asked) / 1000);
        this.telemetry.batch(batch.length);
        this.active++;
        if (slots) void slots.add(() => this.dispatch(batch));
        else void this.dispatch(batch);
      }
    } catch {
      // The limiter was stopped or the queue closed: close() has failed whatever was waiting.
    } finally {
      this.pumping = false;
    }
  }

  private async dispatch(batch: Job<I, O, G>[]): Promise<void> {
    const signal = new CallSignal();
    // The upstream call is abandoned only when nobody in the batch still wants an answer.
    const onCancel = () => {
      if (batch.every((j) => j.settled)) signal.abort();
    };
    const offs: Array<() => void> = [];
    // Each caller once, however its jobs are placed (retries can put another request's between them).
    const callers = batch.length === 1 ? [batch[0]!.caller] : new Set(batch.map((j) => j.caller));
    for (const caller of callers) {
      offs.push(caller.onCancel(onCancel));
      caller.upstreamRequests++;
    }
    this.opts.limiter.sent?.();
    try {
      const results = await this.opts.send(
        batch.map((j) => j.item),
        batch[0]!.group,
        signal,
      );
      batch.forEach((job, i) => this.settle(job, undefined, results[i]));
      if (this.opts.countsTexts !== false) this.telemetry.textsEmbedded(results.length);
      // Each held result (a generation's stream, until it is over) waited for in turn, however it settles: not
      // Promise.allSettled, whose result objects V8 makes through the runtime (4,400 instructions of a one-token stream's
      // 319,000 outside V8's compiler and collector, callgrind; docs/performance.md, "One shape for undici's options").
      if (this.opts.hold) for (const held of results.map((r) => this.opts.hold!(r).then(ignore, ignore))) await held;
    } catch (err) {
      if (signal.aborted) return;
      const live = batch.filter((j) => !j.settled);
      // Closed while this request was out (its endpoint deleted): what it left over gets the close error, now.
      if (this.closedWith) {
        for (const job of live) this.settle(job, this.closedWith, undefined);
        return;
      }
      if (!(err instanceof SendError)) this.telemetry.unexpected(err);
      const failure: SendFailure = err instanceof SendError ? err.failure : { error: errors.internal(), retry: 'none' };
      this.handleFailure(live, failure);
    } finally {
      for (const off of offs) off();
      this.active--;
      this.opts.limiter.poll?.();
      if (this.waiting > 0) void this.pump();
    }
  }

  private handleFailure(live: Job<I, O, G>[], failure: SendFailure): void {
    if (live.length === 0) return;
    this.telemetry.upstreamFault(failure.error.reason, {
      answer_status: failure.error.status,
      retry: failure.retry,
      texts: live.length,
    });
    const { retry } = this.opts;
    if (failure.retry === 'split') {
      if (live.length > 1) {
        // Remember the smaller size for this endpoint and send the same items again in smaller batches.
        const limit =
          failure.maxBatchSize !== undefined && failure.maxBatchSize < live.length
            ? failure.maxBatchSize
            : Math.floor(live.length / 2);
        this.opts.batchSize = Math.max(1, Math.min(this.opts.batchSize, limit));
        this.telemetry.retry('split');
        this.requeue(live);
        return;
      }
      // One item too large on its own: make it smaller and try again, within the attempt limit.
      const job = live[0]!;
      job.attempts++;
      const smaller = job.attempts < retry.maxAttempts ? this.opts.shrink?.(job.item) : undefined;
      if (smaller === undefined) {
        this.settle(job, failure.error, undefined);
        return;
      }
      job.item = smaller;
      this.telemetry.retry('split');
      this.requeue([job]);
      return;
    }
    if (failure.retry === 'none') {
      for (const job of live) this.settle(job, failure.error, undefined);
      return;
    }
    const now = Date.now();
    const again: Job<I, O, G>[] = [];
    let delay = 0;
    for (const job of live) {
      job.attempts++;
      const wait = retryDelay(retry, job.attempts, failure);
      // Out of attempts, or a wait that would end past the caller's deadline: fail now.
      if (job.attempts >= retry.maxAttempts || now + wait >= job.caller.deadline) {
        this.settle(job, failure.error, undefined);
        continue;
      }
      delay = Math.max(delay, wait);
      again.push(job);
    }
    if (again.length === 0) return;
    this.telemetry.retry('backoff');
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.requeue(again.filter((j) => !j.settled));
    }, delay);
    timer.unref();
    this.timers.set(timer, again);
  }

  private requeue(jobs: Job<I, O, G>[]): void {
    if (jobs.length === 0) return;
    if (this.closedWith) {
      for (const job of jobs) this.settle(job, this.closedWith, undefined);
      return;
    }
    for (const job of jobs) job.inQueue = true;
    this.retries.unshiftAll(jobs);
    this.waiting += jobs.length;
    void this.pump();
  }
}
