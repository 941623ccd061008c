// The last minutes of each active endpoint's traffic, one sample per interval, kept by the service itself for the
// management page's charts (docs/operations.md#traffic-history): a Telemetry that counts what happens in the current
// interval and closes it into a bounded ring of samples on a timer.
//
// Cost model (ARCHITECTURE: per-endpoint state): an endpoint's series is made on its first record, found by its own
// key, and dropped once a whole window passed without a record (nothing queued, no stream open) or when the endpoint
// is deleted; at most `maxEndpoints` have a series at once, so the timer visits at most that many, whatever the number
// of endpoints stored.
import { isTaskType, TASK_TYPES, type TaskType } from './inference-task-type.js';
import type { CacheStats } from './cache/embedding-cache.js';
import type { EndpointTelemetry, Telemetry } from './telemetry.js';

export interface TrafficHistoryOptions {
  /** Milliseconds per sample. */
  intervalMs: number;
  /** Samples kept per endpoint (the window is `intervalMs × samples`). */
  samples: number;
  /** Endpoints with a history at once; records of the others are not kept. */
  maxEndpoints: number;
  /** The endpoint's rate limit now (upstream requests per minute), when it is live on this instance. */
  rateLimit(inferenceId: string): number | undefined;
}

/** Upstream durations kept per interval for its quantiles; past this many, a uniform sample of them (reservoir). */
const LATENCY_SAMPLE = 512;

/** One closed interval of one endpoint: counts over the interval, gauges at its end. */
interface TrafficSample {
  /** Epoch milliseconds of the interval's end. */
  timestamp: number;
  /** Inference requests answered. */
  requests: number;
  /** Answers with an error status, by status. */
  failed: Record<string, number>;
  /** Requests sent to the upstream. */
  upstream_requests: number;
  /** Upstream answers that were not a success, by HTTP status or word (`timeout`, `network_error`, `too_large`). */
  upstream_errors: Record<string, number>;
  /** Upstream requests per minute the endpoint allowed at the interval's end (null: not live here). */
  rate_limit: number | null;
  /** Upstream request durations in milliseconds (null: none ended in the interval). */
  upstream_latency_ms: { p50: number; p99: number } | null;
  /** Texts (documents for rerank) the upstream answered for. */
  texts: number;
  /** Mean texts per upstream batch taken in the interval (null: none). */
  texts_per_request: number | null;
  /** Texts waiting in the endpoint's queue at the interval's end. */
  queue_depth: number;
  /** Streams open at the interval's end. */
  streams_open: number;
  /** Texts answered by the embedding cache, and texts looked up and sent upstream. */
  cache_hits: number;
  cache_misses: number;
  /** Upstream work sent again (back-off or split). */
  retries: number;
}

/** The embedding cache of this instance at one interval's end. */
export interface CacheSample {
  timestamp: number;
  bytes: number;
  entries: number;
  /** Entries dropped for room, and for their age, during the interval. */
  evictions: number;
  expirations: number;
}

interface EndpointHistory {
  inference_id: string;
  task_type: TaskType;
  samples: TrafficSample[];
}

export interface TrafficHistoryView {
  interval_seconds: number;
  window_seconds: number;
  max_endpoints: number;
  /** Some endpoint recorded in the window but had no history: `max_endpoints` were already kept. */
  endpoints_left_out: boolean;
  embedding_cache: { max_bytes: number; samples: CacheSample[] } | null;
  endpoints: EndpointHistory[];
}

const EMPTY: Record<string, number> = Object.freeze({});
const count = (into: Record<string, number>, key: number | string) => (into[key] = (into[key] ?? 0) + 1);

/** Samples in arrival order, the oldest dropped past `capacity`. */
class Ring<T> {
  private readonly items: T[] = [];
  private start = 0;
  constructor(private readonly capacity: number) {}
  push(item: T): void {
    if (this.items.length < this.capacity) this.items.push(item);
    else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
  }
  /** The samples after `since` (epoch ms), oldest first. */
  after(since: number, timestampOf: (item: T) => number): T[] {
    const ordered = [...this.items.slice(this.start), ...this.items.slice(0, this.start)];
    return since > 0 ? ordered.filter((item) => timestampOf(item) > since) : ordered;
  }
}

/** What an endpoint's live queues and streams hold now, whether or not it has a history. */
interface LiveGauges {
  readonly queues: Set<() => number>;
  streams: number;
}

/** One endpoint's history and its current, open interval. */
class EndpointSeries {
  readonly samples: Ring<TrafficSample>;
  dropped = false;
  /** The history's interval count at its last record (or at the last interval that ended with work under way). */
  lastActive = 0;
  // The open interval.
  requests = 0;
  failed: Record<string, number> = EMPTY;
  upstream = 0;
  upstreamErrors: Record<string, number> = EMPTY;
  latencies: Float64Array | undefined;
  latencyCount = 0;
  texts = 0;
  batches = 0;
  batchTexts = 0;
  cacheHits = 0;
  cacheMisses = 0;
  retries = 0;

  constructor(
    readonly inferenceId: string,
    readonly taskType: TaskType,
    capacity: number,
  ) {
    this.samples = new Ring(capacity);
  }

  latency(ms: number): void {
    const kept = (this.latencies ??= new Float64Array(LATENCY_SAMPLE));
    const seen = this.latencyCount++;
    if (seen < LATENCY_SAMPLE) kept[seen] = ms;
    else {
      const slot = Math.floor(Math.random() * (seen + 1));
      if (slot < LATENCY_SAMPLE) kept[slot] = ms;
    }
  }

  /** Closes the open interval into a sample and starts the next one. */
  /** Returns whether the endpoint had work under way at the interval's end (texts queued, streams open). */
  close(timestamp: number, rateLimit: number | undefined, gauges: LiveGauges | undefined): boolean {
    let queued = 0;
    if (gauges) for (const depth of gauges.queues) queued += depth();
    const streams = gauges?.streams ?? 0;
    this.samples.push({
      timestamp,
      requests: this.requests,
      failed: this.failed,
      upstream_requests: this.upstream,
      upstream_errors: this.upstreamErrors,
      rate_limit: rateLimit ?? null,
      upstream_latency_ms:
        this.latencies && this.latencyCount > 0 ? quantiles(this.latencies, this.latencyCount) : null,
      texts: this.texts,
      texts_per_request: this.batches > 0 ? round(this.batchTexts / this.batches) : null,
      queue_depth: queued,
      streams_open: streams,
      cache_hits: this.cacheHits,
      cache_misses: this.cacheMisses,
      retries: this.retries,
    });
    this.requests = this.upstream = this.texts = this.batches = this.batchTexts = 0;
    this.cacheHits = this.cacheMisses = this.retries = this.latencyCount = 0;
    this.failed = this.upstreamErrors = EMPTY;
    return queued > 0 || streams > 0;
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

/** p50 and p99 (nearest rank) of the first `n` values kept. */
function quantiles(values: Float64Array, seen: number): { p50: number; p99: number } {
  const sorted = values.slice(0, Math.min(seen, values.length)).sort();
  const at = (q: number) => round(sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!);
  return { p50: at(0.5), p99: at(0.99) };
}

const keyOf = (inferenceId: string, taskType: string) => `${taskType}\u0000${inferenceId}`;

export class TrafficHistory implements Telemetry {
  private readonly series = new Map<string, EndpointSeries>();
  /** Every live endpoint's queues and streams, by key: read at each interval's end for the endpoints kept. */
  private readonly gauges = new Map<string, LiveGauges>();
  private readonly timer: NodeJS.Timeout;
  private cache: { stats: () => CacheStats; samples: Ring<CacheSample>; last: CacheStats } | undefined;
  /** Intervals begun since the start: records note it, which is cheaper than reading a clock. */
  private interval = 0;
  /** The interval of the last record refused for want of room. */
  private leftOutAt = -Infinity;

  constructor(private readonly options: TrafficHistoryOptions) {
    this.timer = setInterval(() => this.tick(), options.intervalMs);
    this.timer.unref();
  }

  private get windowMs(): number {
    return this.options.intervalMs * this.options.samples;
  }

  /** Samples the embedding cache's figures too (one instance's memory tier). */
  watchCache(stats: () => CacheStats): void {
    this.cache = { stats, samples: new Ring(this.options.samples), last: stats() };
  }

  /** Closes every kept endpoint's interval; forgets those with nothing recorded for a whole window. */
  private tick(now = Date.now()): void {
    const ended = this.interval++;
    for (const [key, s] of this.series) {
      if (s.close(now, this.options.rateLimit(s.inferenceId), this.gauges.get(key))) s.lastActive = ended;
      // Nothing in the last `samples` intervals: every sample kept is empty.
      if (ended - s.lastActive >= this.options.samples) {
        s.dropped = true;
        this.series.delete(key);
      }
    }
    if (this.cache) {
      const stats = this.cache.stats();
      this.cache.samples.push({
        timestamp: now,
        bytes: stats.bytes,
        entries: stats.entries,
        evictions: stats.evictions - this.cache.last.evictions,
        expirations: stats.expirations - this.cache.last.expirations,
      });
      this.cache.last = stats;
    }
  }

  /** What GET /_inference/_stats answers: every kept endpoint (by id), with its samples after `since` (epoch ms). */
  view(since = 0): TrafficHistoryView {
    const endpoints = [...this.series.values()]
      .sort((a, b) => (a.inferenceId < b.inferenceId ? -1 : a.inferenceId > b.inferenceId ? 1 : 0))
      .map((s) => ({
        inference_id: s.inferenceId,
        task_type: s.taskType,
        samples: s.samples.after(since, (x) => x.timestamp),
      }));
    return {
      interval_seconds: this.options.intervalMs / 1000,
      window_seconds: this.windowMs / 1000,
      max_endpoints: this.options.maxEndpoints,
      endpoints_left_out: this.interval - this.leftOutAt <= this.options.samples,
      embedding_cache: this.cache
        ? { max_bytes: this.cache.last.maxBytes, samples: this.cache.samples.after(since, (x) => x.timestamp) }
        : null,
      endpoints,
    };
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** The endpoint's series, made on its first record if there is room; undefined when there is none. */
  private seriesFor(key: string, inferenceId: string, taskType: TaskType): EndpointSeries | undefined {
    let s = this.series.get(key);
    if (!s) {
      if (this.series.size >= this.options.maxEndpoints) {
        this.leftOutAt = this.interval;
        return undefined;
      }
      this.series.set(key, (s = new EndpointSeries(inferenceId, taskType, this.options.samples)));
    }
    s.lastActive = this.interval;
    return s;
  }

  inferenceRequest(inferenceId: string, taskType: string, status: number): void {
    // The request log names the endpoint's own task type; anything else has no history.
    if (!isTaskType(taskType)) return;
    const s = this.seriesFor(keyOf(inferenceId, taskType), inferenceId, taskType);
    if (!s) return;
    s.requests++;
    if (status >= 400) count(s.failed === EMPTY ? (s.failed = {}) : s.failed, status);
  }

  endpoint(inferenceId: string, taskType: TaskType): EndpointTelemetry {
    const key = keyOf(inferenceId, taskType);
    let held: EndpointSeries | undefined;
    const s = (): EndpointSeries | undefined => {
      if (held && !held.dropped) {
        held.lastActive = this.interval;
        return held;
      }
      return (held = this.seriesFor(key, inferenceId, taskType));
    };
    const noop = () => undefined;
    return {
      upstreamRequest: (status, seconds) => {
        const into = s();
        if (!into) return;
        into.upstream++;
        into.latency(seconds * 1000);
        if (typeof status !== 'number' || status >= 300)
          count(into.upstreamErrors === EMPTY ? (into.upstreamErrors = {}) : into.upstreamErrors, status);
      },
      upstreamFault: noop,
      retry: () => {
        const into = s();
        if (into) into.retries++;
      },
      limiterWait: noop,
      batch: (size) => {
        const into = s();
        if (!into) return;
        into.batches++;
        into.batchTexts += size;
      },
      textsEmbedded: (n) => {
        const into = s();
        if (into) into.texts += n;
      },
      cacheLookups: (hits, misses) => {
        const into = s();
        if (!into) return;
        into.cacheHits += hits;
        into.cacheMisses += misses;
      },
      watchQueue: (depth) => {
        const g = this.gaugesOf(key);
        g.queues.add(depth);
        return () => {
          g.queues.delete(depth);
          this.release(key, g);
        };
      },
      streamOpened: () => {
        const g = this.gaugesOf(key);
        g.streams++;
        s();
        let open = true;
        return () => {
          if (open) {
            g.streams--;
            this.release(key, g);
          }
          open = false;
        };
      },
      tokensStreamed: noop,
      unexpected: noop,
    };
  }

  private gaugesOf(key: string): LiveGauges {
    let g = this.gauges.get(key);
    if (!g) this.gauges.set(key, (g = { queues: new Set(), streams: 0 }));
    return g;
  }

  /** Forgets an endpoint's gauges once nothing of it is live. */
  private release(key: string, g: LiveGauges): void {
    if (g.queues.size === 0 && g.streams === 0 && this.gauges.get(key) === g) this.gauges.delete(key);
  }

  forget(inferenceId: string): void {
    for (const taskType of TASK_TYPES) {
      const key = keyOf(inferenceId, taskType);
      const s = this.series.get(key);
      if (s) {
        s.dropped = true;
        this.series.delete(key);
      }
    }
  }
}
