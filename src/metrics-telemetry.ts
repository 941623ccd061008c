// Telemetry as Prometheus metrics plus the warn line of each upstream fault: the endpoints' figures kept as plain
// numbers and written out in slices, a bounded number of endpoints with series of their own; the process's own
// figures by prom-client.
//
// Why the endpoints' series are no longer prom-client metrics (measured with 10,000 endpoints that had each served a
// request, bench section `scale`, docs/performance.md): prom-client writes each metric in one synchronous pass over all
// its series (the scrape held the event loop for 1.6 s and was 65 MB), and it can list a metric's series only by
// building all of them (`get()`), which is how an endpoint's series were found to remove them: 0.75 s per DELETE,
// and 1 GB of garbage for 16 concurrent ones. Here each endpoint's figures are one object found by its own key,
// dropped in O(1), and written out by a loop that yields to the event loop every few milliseconds.
import { collectDefaultMetrics, Registry } from 'prom-client';
import { TASK_TYPES, type TaskType } from './inference-task-type.js';
import type { EndpointTelemetry, Telemetry } from './telemetry.js';
import type { CacheStats } from './cache/embedding-cache.js';

/** Where fault lines go (the app's pino logger). */
export interface FaultLog {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface MetricsOptions {
  /** Endpoints with series of their own at once; the others' figures are added up under `inference_id="_other"`. */
  maxEndpoints: number;
  /** An endpoint that recorded nothing for this long (and has nothing queued or streaming) loses its own series. */
  idleMs: number;
}

/** Every metric name starts with this. */
const METRIC_PREFIX = 'hf_gateway_';
/** The `inference_id` of the figures of endpoints past `maxEndpoints` (a user's id cannot start with `_`). */
const OTHER_ENDPOINTS = '_other';

/** Seconds: from a lone fast request to a loading model's wait. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 20, 32, 64, 128, 256, 512, 1024];
/** Longest stretch a scrape writes before it lets other work run. */
const SLICE_MS = 2;
/**
 * How long the process's own figures (prom-client's) are reused by later scrapes: reading them is about a third of a
 * scrape's CPU, and scrapes closer together than this (several Prometheus servers, or a loop) need no fresher
 * heap or CPU figures. The endpoints' figures are always current.
 */
const PROCESS_FIGURES_MS = 1000;

/** A histogram's counts per bucket (not cumulative; the last one is +Inf), sum and count. */
class Histogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

const NOTHING = Buffer.alloc(0);
/** Text as the bytes a scrape copies; most gauges of most endpoints write nothing. */
const encoded = (text: string): Buffer => (text === '' ? NOTHING : Buffer.from(text));

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** One endpoint's figures (or those of every endpoint past the limit, for one task type). */
class EndpointFigures {
  /** `inference_id="…",task_type="…"`, written once. */
  readonly labels: string;
  readonly requests = new Map<number, number>();
  readonly upstream = new Map<number | string, number>();
  readonly retries = { backoff: 0, split: 0 };
  texts = 0;
  tokens = 0;
  cacheHits = 0;
  cacheMisses = 0;
  readonly requestSeconds = new Histogram(LATENCY_BUCKETS);
  readonly upstreamSeconds = new Histogram(LATENCY_BUCKETS);
  readonly limiterWait = new Histogram(LATENCY_BUCKETS);
  readonly batchSize = new Histogram(BATCH_BUCKETS);
  /** performance.now() of its last record. */
  lastActive = performance.now();
  /** No longer written out (its endpoint was deleted or idle): whoever holds it looks again. */
  dropped = false;
  /** Counts records: the text written for each family is kept until the next one. */
  version = 0;
  /** Encoded once: a scrape copies these bytes, never re-reads the text (see `Metrics.write`). */
  private readonly written: Buffer[] = [];
  private writtenVersion = -1;
  constructor(
    readonly key: string,
    inferenceId: string,
    readonly taskType: string,
    /** The figures of every endpoint past the limit. */
    readonly shared: boolean,
  ) {
    this.labels = `inference_id="${escapeLabel(inferenceId)}",task_type="${escapeLabel(taskType)}"`;
  }

  /**
   * Its lines of the recorded family (counter or histogram) at `index`: written again only after a record (an
   * endpoint that served nothing since the last scrape costs a string concatenation). Gauges are not recorded: the
   * scrape writes their lines itself, every time.
   */
  lines(index: number, family: Family, gauges: LiveGauges | undefined, others: OtherGauges): Buffer {
    if (this.writtenVersion !== this.version) {
      this.written.length = 0;
      this.writtenVersion = this.version;
    }
    return (this.written[index] ??= encoded(family.write(this, gauges, others)));
  }
}

/** What an endpoint's live queues and streams hold now, whether or not it has series of its own. */
interface LiveGauges {
  readonly taskType: string;
  readonly queues: Set<() => number>;
  streams: number;
}

const add = <K>(map: Map<K, number>, key: K, n = 1) => map.set(key, (map.get(key) ?? 0) + n);
const keyOf = (inferenceId: string, taskType: string) => `${taskType}\u0000${inferenceId}`;
const queued = (g: LiveGauges | undefined) => {
  let sum = 0;
  if (g) for (const depth of g.queues) sum += depth();
  return sum;
};
const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The gauges of the endpoints without series of their own, per task type. */
type OtherGauges = Map<string, { streams: number }>;

/** One metric family: its name, type and help, and how one endpoint's figures are written into it. */
interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  write(f: EndpointFigures, gauges: LiveGauges | undefined, others: OtherGauges): string;
}

function histogramFamily(name: string, help: string, of: (f: EndpointFigures) => Histogram): Family {
  return {
    name,
    type: 'histogram',
    help,
    write(f) {
      const h = of(f);
      if (h.count === 0) return '';
      let text = '';
      let cumulative = 0;
      for (let i = 0; i < h.bounds.length; i++) {
        cumulative += h.counts[i]!;
        text += `${name}_bucket{le="${h.bounds[i]}",${f.labels}} ${cumulative}\n`;
      }
      return (
        text +
        `${name}_bucket{le="+Inf",${f.labels}} ${h.count}\n${name}_sum{${f.labels}} ${h.sum}\n${name}_count{${f.labels}} ${h.count}\n`
      );
    },
  };
}

const FAMILIES: readonly Family[] = [
  {
    name: `${METRIC_PREFIX}inference_requests_total`,
    type: 'counter',
    help: 'Inference requests answered, by endpoint, task type and HTTP status.',
    write(f) {
      let text = '';
      for (const [status, n] of f.requests) text += `${this.name}{${f.labels},status="${status}"} ${n}\n`;
      return text;
    },
  },
  histogramFamily(
    `${METRIC_PREFIX}inference_request_duration_seconds`,
    'Time from arrival to answer of inference requests.',
    (f) => f.requestSeconds,
  ),
  {
    name: `${METRIC_PREFIX}upstream_requests_total`,
    type: 'counter',
    help: 'Requests sent to the upstream, by its HTTP status (network_error, timeout or too_large when it gave none).',
    write(f) {
      let text = '';
      for (const [status, n] of f.upstream) text += `${this.name}{${f.labels},status="${status}"} ${n}\n`;
      return text;
    },
  },
  histogramFamily(
    `${METRIC_PREFIX}upstream_request_duration_seconds`,
    'Duration of each upstream request, from sending to the whole answer read.',
    (f) => f.upstreamSeconds,
  ),
  {
    name: `${METRIC_PREFIX}upstream_retries_total`,
    type: 'counter',
    help: 'Upstream work sent again: backoff (429, 502, 503, network errors) or split (too large).',
    write(f) {
      let text = '';
      if (f.retries.backoff > 0) text += `${this.name}{${f.labels},kind="backoff"} ${f.retries.backoff}\n`;
      if (f.retries.split > 0) text += `${this.name}{${f.labels},kind="split"} ${f.retries.split}\n`;
      return text;
    },
  },
  {
    name: `${METRIC_PREFIX}queue_depth`,
    type: 'gauge',
    help: 'Texts (or documents) waiting in the endpoint queue for an upstream request.',
    // Endpoints with series of their own only: queues are read, not counted, and reading every
    // endpoint's at each scrape is what the limit avoids.
    write(f, gauges) {
      return !f.shared && gauges && gauges.queues.size > 0 ? `${this.name}{${f.labels}} ${queued(gauges)}\n` : '';
    },
  },
  histogramFamily(
    `${METRIC_PREFIX}limiter_wait_seconds`,
    'Time each upstream request waited for its rate-limit grant.',
    (f) => f.limiterWait,
  ),
  histogramFamily(`${METRIC_PREFIX}batch_size`, 'Texts (or documents) per upstream request.', (f) => f.batchSize),
  {
    name: `${METRIC_PREFIX}texts_embedded_total`,
    type: 'counter',
    help: 'Texts (chunks) the upstream answered for: embedded, or scored for rerank.',
    write(f) {
      return f.texts > 0 ? `${this.name}{${f.labels}} ${f.texts}\n` : '';
    },
  },
  {
    name: `${METRIC_PREFIX}embedding_cache_hits_total`,
    type: 'counter',
    help: "Texts answered by the embedding cache, or by another request's upstream call under way.",
    write(f) {
      return f.cacheHits > 0 ? `${this.name}{${f.labels}} ${f.cacheHits}\n` : '';
    },
  },
  {
    name: `${METRIC_PREFIX}embedding_cache_misses_total`,
    type: 'counter',
    help: 'Texts looked up in the embedding cache and sent upstream.',
    write(f) {
      return f.cacheMisses > 0 ? `${this.name}{${f.labels}} ${f.cacheMisses}\n` : '';
    },
  },
  {
    name: `${METRIC_PREFIX}streams_open`,
    type: 'gauge',
    help: 'Streamed answers in progress.',
    write(f, gauges, others) {
      const open = f.shared ? (others.get(f.taskType)?.streams ?? 0) : (gauges?.streams ?? 0);
      return open > 0 ? `${this.name}{${f.labels}} ${open}\n` : '';
    },
  },
  {
    name: `${METRIC_PREFIX}tokens_streamed_total`,
    type: 'counter',
    help: 'Tokens forwarded on streamed answers.',
    write(f) {
      return f.tokens > 0 ? `${this.name}{${f.labels}} ${f.tokens}\n` : '';
    },
  },
];

/** Each family's HELP and TYPE lines, encoded once. */
const FAMILY_HEADERS = FAMILIES.map((family) =>
  Buffer.from(`\n# HELP ${family.name} ${family.help}\n# TYPE ${family.name} ${family.type}\n`),
);

/** The embedding cache's own figures: this instance's memory tier. */
function cacheLines(stats: CacheStats): string {
  const name = `${METRIC_PREFIX}embedding_cache`;
  const family = (suffix: string, type: string, help: string, value: number) =>
    `\n# HELP ${name}_${suffix} ${help}\n# TYPE ${name}_${suffix} ${type}\n${name}_${suffix} ${value}\n`;
  return (
    family('bytes', 'gauge', 'Estimated bytes the embedding cache holds in memory.', stats.bytes) +
    family(
      'max_bytes',
      'gauge',
      'The most bytes the embedding cache holds in memory (EMBEDDING_CACHE_SIZE).',
      stats.maxBytes,
    ) +
    family('entries', 'gauge', 'Texts whose vectors the embedding cache holds in memory.', stats.entries) +
    family(
      'evictions_total',
      'counter',
      'Entries dropped from memory to make room, least recently used first.',
      stats.evictions,
    ) +
    family(
      'expirations_total',
      'counter',
      'Entries dropped from memory for their age (EMBEDDING_CACHE_TTL).',
      stats.expirations,
    )
  );
}

export class Metrics implements Telemetry {
  /** The process's own figures (prom-client's default metrics). */
  private readonly registry = new Registry();
  /** Endpoints with series of their own, at most `maxEndpoints`. */
  private readonly own = new Map<string, EndpointFigures>();
  /** The figures of the endpoints past the limit, per task type. */
  private readonly others = new Map<string, EndpointFigures>();
  /** Every bound endpoint's queues and streams, by key. */
  private readonly gauges = new Map<string, LiveGauges>();
  /** Streams open per task type, on every endpoint. */
  private readonly streamsOpen = new Map<string, number>();
  /** The scrape being written: a scrape that arrives meanwhile gets the same text. */
  private writing: Promise<Buffer> | undefined;
  /** The embedding cache's figures, when the service keeps one. */
  private cacheStats: (() => CacheStats) | undefined;
  /** The process's own figures as last read, and when (performance.now()). */
  private processFigures: { bytes: Buffer; at: number } | undefined;
  /** Counts records and dropped series: a scrape is written again only when it moved (or a gauge or the process's figures did). */
  private changes = 0;
  /** The last scrape, and what it was written from. */
  private kept: { bytes: Buffer; changes: number; process: Buffer; live: string } | undefined;

  constructor(
    private readonly log: FaultLog,
    private readonly options: MetricsOptions,
  ) {
    // Node's and the process's own figures (heap, event loop lag, CPU, file descriptors), read on each scrape.
    collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Writes the embedding cache's figures (one instance's memory tier, no endpoint label) into each scrape. */
  watchCache(stats: () => CacheStats): void {
    this.cacheStats = stats;
  }

  scrape(): Promise<Buffer> {
    this.writing ??= this.write().finally(() => (this.writing = undefined));
    return this.writing;
  }

  /**
   * The scrape as bytes: each endpoint's lines are kept encoded, and the answer is one copy of them. Joined as text
   * (`+=`), the answer was a string of thousands of pieces that took about 10 ms to flatten and encode at 1.3 MB, ten
   * times the rest of the scrape (docs/performance.md#scale-100000-endpoints).
   *
   * While nothing was recorded, no gauge moved and the process's figures are those of the last scrape, the last answer
   * is sent again as it is: copying 1.3 MB into a new buffer for every scrape, and collecting it, held the event loop
   * longer than the rest of the scrape and delayed inference requests meanwhile (docs/performance.md).
   */
  private async write(): Promise<Buffer> {
    const own = await this.sweep();
    const others = this.otherGauges(own);
    const rows = [...own, ...this.others.values()];
    const processBytes = await this.processBytes();
    // The gauges are read from live queues and streams, never recorded: their lines are written every time.
    const gaugeLines = new Map<number, Buffer[]>();
    const cacheText = this.cacheStats ? cacheLines(this.cacheStats()) : '';
    let live = cacheText;
    for (const [index, family] of FAMILIES.entries()) {
      if (family.type !== 'gauge') continue;
      const lines: Buffer[] = [];
      for (const f of rows) {
        const text = f.dropped ? '' : family.write(f, this.gauges.get(f.key), others);
        if (text !== '') {
          lines.push(Buffer.from(text));
          live += text;
        }
      }
      gaugeLines.set(index, lines);
    }
    const kept = this.kept;
    if (kept && kept.changes === this.changes && kept.process === processBytes && kept.live === live) return kept.bytes;
    const changes = this.changes;
    const parts: Uint8Array[] = [processBytes];
    let slice = performance.now();
    for (const [index, family] of FAMILIES.entries()) {
      parts.push(FAMILY_HEADERS[index]!);
      const gauges = gaugeLines.get(index);
      if (gauges) {
        parts.push(...gauges);
        continue;
      }
      for (let i = 0; i < rows.length; i++) {
        const f = rows[i]!;
        if (!f.dropped) parts.push(f.lines(index, family, this.gauges.get(f.key), others));
        if ((i & 31) === 31 && performance.now() - slice > SLICE_MS) {
          await yieldTurn();
          slice = performance.now();
        }
      }
    }
    if (cacheText !== '') parts.push(Buffer.from(cacheText));
    const bytes = Buffer.concat(parts);
    // A record made while this was written (it yielded) leaves `changes` moved: the next scrape writes again.
    this.kept = { bytes, changes, process: processBytes, live };
    return bytes;
  }

  private async processBytes(): Promise<Buffer> {
    const kept = this.processFigures;
    if (kept && performance.now() - kept.at < PROCESS_FIGURES_MS) return kept.bytes;
    const bytes = Buffer.from(await this.registry.metrics());
    this.processFigures = { bytes, at: performance.now() };
    return bytes;
  }

  /** Drops the own series of endpoints idle for `idleMs` with nothing queued or streaming; the rest, in order. */
  private async sweep(): Promise<EndpointFigures[]> {
    const idleSince = performance.now() - this.options.idleMs;
    const kept: EndpointFigures[] = [];
    let slice = performance.now();
    let i = 0;
    for (const f of this.own.values()) {
      const gauges = this.gauges.get(f.key);
      if (f.lastActive <= idleSince && (gauges?.streams ?? 0) === 0 && queued(gauges) === 0) this.drop(f);
      else kept.push(f);
      if ((++i & 255) === 0 && performance.now() - slice > SLICE_MS) {
        await yieldTurn();
        slice = performance.now();
      }
    }
    return kept;
  }

  /**
   * Streams open on the endpoints without series of their own, per task type: every stream open
   * (a running total) less those of the endpoints with series, so a scrape never visits every endpoint.
   */
  private otherGauges(own: readonly EndpointFigures[]): OtherGauges {
    const sums: OtherGauges = new Map();
    for (const [taskType, streams] of this.streamsOpen) sums.set(taskType, { streams });
    for (const f of own) {
      const g = this.gauges.get(f.key);
      const sum = sums.get(f.taskType);
      if (g && sum) sum.streams -= g.streams;
    }
    return sums;
  }

  private drop(f: EndpointFigures): void {
    this.changes++;
    f.dropped = true;
    this.own.delete(f.key);
  }

  /** Where a record of this endpoint goes now: its own figures, made if there is room, else the shared ones. */
  private figuresFor(key: string, inferenceId: string, taskType: string): EndpointFigures {
    let f = this.own.get(key);
    if (!f) {
      if (this.own.size < this.options.maxEndpoints) {
        this.own.set(key, (f = new EndpointFigures(key, inferenceId, taskType, false)));
      } else {
        f = this.others.get(taskType);
        if (!f) this.others.set(taskType, (f = new EndpointFigures(taskType, OTHER_ENDPOINTS, taskType, true)));
      }
    }
    this.touch(f);
    return f;
  }

  /** A record into `f`: it is active now, and its lines (and the kept scrape) are written again. */
  private touch(f: EndpointFigures): void {
    f.lastActive = performance.now();
    f.version++;
    this.changes++;
  }

  private gaugesOf(key: string, taskType: string): LiveGauges {
    let g = this.gauges.get(key);
    if (!g) this.gauges.set(key, (g = { taskType, queues: new Set(), streams: 0 }));
    return g;
  }

  /** Forgets an endpoint's gauges once nothing of it is live. */
  private release(key: string, g: LiveGauges): void {
    if (g.queues.size === 0 && g.streams === 0 && this.gauges.get(key) === g) this.gauges.delete(key);
  }

  inferenceRequest(inferenceId: string, taskType: string, status: number, seconds: number): void {
    const f = this.figuresFor(keyOf(inferenceId, taskType), inferenceId, taskType);
    add(f.requests, status);
    f.requestSeconds.observe(seconds);
  }

  endpoint(inferenceId: string, taskType: TaskType): EndpointTelemetry {
    // The endpoint's figures are made on its first record: binding an endpoint that is then not
    // stored (a PUT refused after it was bound) leaves no series behind.
    const key = keyOf(inferenceId, taskType);
    let figures: EndpointFigures | undefined;
    const f = () => {
      if (!figures || figures.dropped || (figures.shared && this.own.size < this.options.maxEndpoints))
        figures = this.figuresFor(key, inferenceId, taskType);
      else this.touch(figures);
      return figures;
    };
    const labels = { inference_id: inferenceId, task_type: taskType };
    const log = this.log;
    return {
      upstreamRequest: (status, seconds) => {
        const into = f();
        add(into.upstream, status);
        into.upstreamSeconds.observe(seconds);
      },
      upstreamFault: (reason, detail) => log.warn({ ...labels, ...detail, reason }, 'upstream request failed'),
      retry: (kind) => void f().retries[kind]++,
      limiterWait: (seconds) => f().limiterWait.observe(seconds),
      batch: (size) => f().batchSize.observe(size),
      textsEmbedded: (count) => void (f().texts += count),
      cacheLookups: (hits, misses) => {
        const into = f();
        into.cacheHits += hits;
        into.cacheMisses += misses;
      },
      watchQueue: (depth) => {
        const g = this.gaugesOf(key, taskType);
        g.queues.add(depth);
        return () => {
          g.queues.delete(depth);
          this.release(key, g);
        };
      },
      streamOpened: () => {
        const g = this.gaugesOf(key, taskType);
        g.streams++;
        add(this.streamsOpen, taskType);
        f();
        let open = true;
        return () => {
          if (open) {
            g.streams--;
            add(this.streamsOpen, taskType, -1);
            this.release(key, g);
          }
          open = false;
        };
      },
      tokensStreamed: (count) => void (f().tokens += count),
      unexpected: (err) => log.error({ ...labels, err }, 'unexpected failure while calling the upstream'),
    };
  }

  forget(inferenceId: string): void {
    for (const taskType of TASK_TYPES) {
      const f = this.own.get(keyOf(inferenceId, taskType));
      if (f) this.drop(f);
    }
  }
}
