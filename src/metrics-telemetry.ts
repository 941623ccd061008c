// Telemetry as Prometheus metrics (prom-client, one registry per app) plus the warn line of each upstream fault.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TaskType } from './inference-task-type.js';
import type { EndpointTelemetry, Telemetry } from './telemetry.js';

/** Where fault lines go (the app's pino logger). */
export interface FaultLog {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Every metric name starts with this. */
const METRIC_PREFIX = 'hf_gateway_';

const ENDPOINT = ['inference_id', 'task_type'] as const;
type EndpointLabel = (typeof ENDPOINT)[number];

/** Seconds: from a lone fast request to a loading model's wait. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 20, 32, 64, 128, 256, 512, 1024];

/**
 * One endpoint's counts, kept as plain numbers on the hot path and handed to prom-client when
 * it is scraped (a labelled prom-client `inc` hashes and checks its labels on every call).
 */
class EndpointFigures {
  readonly requests = new Map<number, number>();
  readonly upstream = new Map<number | string, number>();
  readonly retries = { backoff: 0, split: 0 };
  texts = 0;
  tokens = 0;
  streams = 0;
  /** Depth readers of the endpoint's live queues. */
  readonly queues = new Set<() => number>();
  constructor(readonly labels: Record<EndpointLabel, string>) {}
}

const add = <K>(map: Map<K, number>, key: K, n = 1) => map.set(key, (map.get(key) ?? 0) + n);

export class Metrics implements Telemetry {
  readonly registry = new Registry();
  private readonly figures = new Map<string, EndpointFigures>();

  /** A counter (or gauge) whose series are read from the figures when it is scraped. */
  private fromFigures<T extends Counter<string> | Gauge<string>>(
    make: (collect: () => void) => T,
    read: (f: EndpointFigures, set: (labels: Record<string, string | number>, value: number) => void) => void,
  ): T {
    const metric: T = make(() => {
      metric.reset();
      for (const f of this.figures.values()) read(f, (labels, value) => (metric as Counter<string>).inc(labels, value));
    });
    return metric;
  }

  private readonly requestSeconds = new Histogram({
    name: `${METRIC_PREFIX}inference_request_duration_seconds`,
    help: 'Time from arrival to answer of inference requests.',
    labelNames: ENDPOINT,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly upstreamSeconds = new Histogram({
    name: `${METRIC_PREFIX}upstream_request_duration_seconds`,
    help: 'Duration of each upstream request, from sending to the whole answer read.',
    labelNames: ENDPOINT,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly limiterWait = new Histogram({
    name: `${METRIC_PREFIX}limiter_wait_seconds`,
    help: 'Time each upstream request waited for its rate-limit grant.',
    labelNames: ENDPOINT,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly batchSize = new Histogram({
    name: `${METRIC_PREFIX}batch_size`,
    help: 'Texts (or documents) per upstream request.',
    labelNames: ENDPOINT,
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });

  constructor(private readonly log: FaultLog) {
    // Node's and the process's own figures (heap, event loop lag, CPU, file descriptors), read on each scrape.
    collectDefaultMetrics({ register: this.registry });
    // The counters and gauges read from the figures at each scrape: the registry holds them.
    this.fromFigures(
      (collect) =>
        new Counter({
          name: `${METRIC_PREFIX}inference_requests_total`,
          help: 'Inference requests answered, by endpoint, task type and HTTP status.',
          labelNames: [...ENDPOINT, 'status'],
          registers: [this.registry],
          collect,
        }),
      (f, set) => f.requests.forEach((n, status) => set({ ...f.labels, status }, n)),
    );
    this.fromFigures(
      (collect) =>
        new Counter({
          name: `${METRIC_PREFIX}upstream_requests_total`,
          help: 'Requests sent to the upstream, by its HTTP status (network_error, timeout or too_large when it gave none).',
          labelNames: [...ENDPOINT, 'status'],
          registers: [this.registry],
          collect,
        }),
      (f, set) => f.upstream.forEach((n, status) => set({ ...f.labels, status }, n)),
    );
    this.fromFigures(
      (collect) =>
        new Counter({
          name: `${METRIC_PREFIX}upstream_retries_total`,
          help: 'Upstream work sent again: backoff (429, 502, 503, network errors) or split (too large).',
          labelNames: [...ENDPOINT, 'kind'],
          registers: [this.registry],
          collect,
        }),
      (f, set) => {
        if (f.retries.backoff > 0) set({ ...f.labels, kind: 'backoff' }, f.retries.backoff);
        if (f.retries.split > 0) set({ ...f.labels, kind: 'split' }, f.retries.split);
      },
    );
    this.fromFigures(
      (collect) =>
        new Gauge({
          name: `${METRIC_PREFIX}queue_depth`,
          help: 'Texts (or documents) waiting in the endpoint queue for an upstream request.',
          labelNames: ENDPOINT,
          registers: [this.registry],
          collect,
        }),
      (f, set) => {
        if (f.queues.size > 0)
          set(
            f.labels,
            [...f.queues].reduce((sum, depth) => sum + depth(), 0),
          );
      },
    );
    this.fromFigures(
      (collect) =>
        new Counter({
          name: `${METRIC_PREFIX}texts_embedded_total`,
          help: 'Texts (chunks) the upstream answered for: embedded, or scored for rerank.',
          labelNames: ENDPOINT,
          registers: [this.registry],
          collect,
        }),
      (f, set) => {
        if (f.texts > 0) set(f.labels, f.texts);
      },
    );
    this.fromFigures(
      (collect) =>
        new Gauge({
          name: `${METRIC_PREFIX}streams_open`,
          help: 'Streamed answers in progress.',
          labelNames: ENDPOINT,
          registers: [this.registry],
          collect,
        }),
      (f, set) => {
        if (f.streams > 0) set(f.labels, f.streams);
      },
    );
    this.fromFigures(
      (collect) =>
        new Counter({
          name: `${METRIC_PREFIX}tokens_streamed_total`,
          help: 'Tokens forwarded on streamed answers.',
          labelNames: ENDPOINT,
          registers: [this.registry],
          collect,
        }),
      (f, set) => {
        if (f.tokens > 0) set(f.labels, f.tokens);
      },
    );
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  private figuresOf(inferenceId: string, taskType: string): EndpointFigures {
    const key = `${inferenceId}\u0000${taskType}`;
    let f = this.figures.get(key);
    if (!f) this.figures.set(key, (f = new EndpointFigures({ inference_id: inferenceId, task_type: taskType })));
    return f;
  }

  inferenceRequest(inferenceId: string, taskType: string, status: number, seconds: number): void {
    const f = this.figuresOf(inferenceId, taskType);
    add(f.requests, status);
    this.requestSeconds.observe(f.labels, seconds);
  }

  endpoint(inferenceId: string, taskType: TaskType): EndpointTelemetry {
    // The endpoint's figures are made on its first record: binding an endpoint that is then not
    // stored (a PUT refused after it was bound) leaves no series behind.
    let figures: EndpointFigures | undefined;
    const f = () => (figures ??= this.figuresOf(inferenceId, taskType));
    const labels = { inference_id: inferenceId, task_type: taskType };
    const log = this.log;
    return {
      upstreamRequest: (status, seconds) => {
        add(f().upstream, status);
        this.upstreamSeconds.observe(labels, seconds);
      },
      upstreamFault: (reason, detail) => log.warn({ ...labels, ...detail, reason }, 'upstream request failed'),
      retry: (kind) => void f().retries[kind]++,
      limiterWait: (seconds) => this.limiterWait.observe(labels, seconds),
      batch: (size) => this.batchSize.observe(labels, size),
      textsEmbedded: (count) => void (f().texts += count),
      watchQueue: (depth) => {
        f().queues.add(depth);
        return () => f().queues.delete(depth);
      },
      streamOpened: () => {
        f().streams++;
        let open = true;
        return () => {
          if (open) f().streams--;
          open = false;
        };
      },
      tokensStreamed: (count) => void (f().tokens += count),
      unexpected: (err) => log.error({ ...labels, err }, 'unexpected failure while calling the upstream'),
    };
  }

  forget(inferenceId: string): void {
    for (const [key, f] of this.figures) if (f.labels.inference_id === inferenceId) this.figures.delete(key);
    for (const metric of [this.requestSeconds, this.upstreamSeconds, this.limiterWait, this.batchSize])
      void dropSeries(metric, inferenceId);
  }
}

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

/** Removes every series of one endpoint, whatever its other labels. */
async function dropSeries(metric: AnyMetric, inferenceId: string): Promise<void> {
  const names = (metric as unknown as { labelNames: string[] }).labelNames;
  const { values } = await metric.get();
  for (const { labels } of values) {
    if (labels.inference_id !== inferenceId) continue;
    const own: Record<string, string | number> = {};
    for (const name of names) if (labels[name] !== undefined) own[name] = labels[name]!;
    metric.remove(own);
  }
}
