// The inference pipeline: chunk → batch → limit → call → assemble, one live runtime per endpoint.
import PQueue from 'p-queue';
import type { Cancellation } from './cancellation.js';
import { chunkText, type Chunk } from './chunking/chunker.js';
import type { ChunkingSettings } from './chunking/settings.js';
import type { EndpointRegistry } from './endpoints.js';
import { EsError, errors } from './errors.js';
import { BatchQueue, BatchSendError, DEFAULT_RETRY, type RetryPolicy } from './limiter/batch-queue.js';
import { RateLimiter } from './limiter/rate-limiter.js';
import { renderSettings } from './settings.js';
import type { Embedding, ResolvedEndpoint, ServiceDeps, InferenceService } from './services/types.js';
import { parseTaskType } from './task-types.js';

export interface InferenceOptions {
  deps: ServiceDeps;
  /** Upstream requests in flight across all endpoints. */
  maxInflight: number;
  retry?: RetryPolicy;
  /** Waiting batches per endpoint before 429. */
  queueCapacity?: number;
}

export interface InferenceRequest {
  inferenceId: string;
  pathTaskType?: string;
  input: unknown;
  taskSettings?: Record<string, unknown> | null;
  /** Cancelled with the error to answer (408) when the request times out, or when its client leaves. */
  lifetime: Cancellation;
}

interface ChunkEmbedding {
  text: string;
  start: number;
  end: number;
  embedding: Embedding;
}

/** One input's result: its vector, and for an input of several chunks, each chunk's. */
export interface TextEmbeddingEntry {
  embedding: Embedding;
  chunks?: ChunkEmbedding[];
}

const vectorJson = (e: Embedding) => e.json ?? JSON.stringify(e.values);

/**
 * The response body (SPEC §1), built as text so that vectors the upstream sent as JSON go back
 * exactly as they came: no float is parsed and re-formatted on the way out.
 */
export function textEmbeddingJson(entries: TextEmbeddingEntry[]): string {
  const parts = entries.map((entry) => {
    if (!entry.chunks) return `{"embedding":${vectorJson(entry.embedding)}}`;
    const chunks = entry.chunks.map(
      (c) => `{"text":${JSON.stringify(c.text)},"start_offset":${c.start},"end_offset":${c.end},"embedding":${vectorJson(c.embedding)}}`,
    );
    return `{"embedding":${vectorJson(entry.embedding)},"chunks":[${chunks.join(',')}]}`;
  });
  return `{"text_embedding":[${parts.join(',')}]}`;
}

/** An endpoint's live state: its decrypted configuration, its rate limiter and its queue. */
class EndpointRuntime {
  readonly limiter: RateLimiter;
  readonly queue: BatchQueue<Embedding>;

  constructor(
    public endpoint: ResolvedEndpoint,
    readonly service: InferenceService,
    opts: InferenceOptions,
    inflight: PQueue,
  ) {
    this.limiter = new RateLimiter(service.requestsPerMinute(endpoint.record.serviceSettings));
    this.queue = new BatchQueue({
      inferenceId: endpoint.record.inferenceId,
      limiter: this.limiter,
      inflight,
      // Reads this.endpoint at send time, so a rotated api key is used from the next request on.
      send: (texts, signal) => this.service.embed(this.endpoint, opts.deps, texts, signal),
      batchSize: service.batchSize(endpoint.record.serviceSettings),
      retry: opts.retry ?? DEFAULT_RETRY,
      capacity: opts.queueCapacity,
    });
  }

  refresh(endpoint: ResolvedEndpoint): void {
    const before = this.service.batchSize(this.endpoint.record.serviceSettings);
    this.endpoint = endpoint;
    this.limiter.setRate(this.service.requestsPerMinute(endpoint.record.serviceSettings));
    const after = this.service.batchSize(endpoint.record.serviceSettings);
    if (after !== before) this.queue.setBatchSize(after);
  }

  async close(error: EsError): Promise<void> {
    this.queue.close(error);
    await this.limiter.stop();
  }
}

/** Word-weighted mean of chunk vectors (equal weights when no chunk has words). */
function weightedMean(vectors: Embedding[], chunks: Chunk[]): Embedding {
  const total = chunks.reduce((sum, c) => sum + c.words, 0);
  const weights = chunks.map((c) => (total > 0 ? c.words / total : 1 / chunks.length));
  const out = new Array<number>(vectors[0]!.values.length).fill(0);
  vectors.forEach(({ values }, i) => {
    const w = weights[i]!;
    for (let d = 0; d < values.length; d++) out[d]! += values[d]! * w;
  });
  return { values: out };
}

/** `input`: a string or a non-empty array of strings (SPEC §1). */
function readInput(input: unknown): string[] {
  if (input === undefined || input === null) throw errors.inputNull();
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.length === 0) throw errors.inputEmpty();
  if (Array.isArray(input) && input.every((x) => typeof x === 'string')) return input as string[];
  throw errors.fieldParse('input', 'expected a string or an array of strings');
}

export class InferencePipeline {
  private readonly runtimes = new Map<string, EndpointRuntime>();
  private readonly inflight: PQueue;

  constructor(
    private readonly registry: EndpointRegistry,
    private readonly opts: InferenceOptions,
  ) {
    this.inflight = new PQueue({ concurrency: opts.maxInflight });
    registry.listener = {
      updated: (id) => void this.refresh(id),
      deleted: (id) => void this.drop(id, errors.endpointNotFound(id)),
    };
  }

  /** The create-time validation call: embeds ["how big"] and answers the vector's length. */
  async probe(endpoint: ResolvedEndpoint, timeout: { ms: number; text: string }): Promise<number> {
    const service = this.registry.serviceFor(endpoint.record);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.min(timeout.ms, 2 ** 31 - 1));
    try {
      const vectors = await service.embed(endpoint, this.opts.deps, ['how big'], controller.signal);
      return vectors[0]!.values.length;
    } catch (err) {
      if (controller.signal.aborted) throw errors.creationValidationFailed(errors.timeout(timeout.text));
      if (err instanceof BatchSendError) throw errors.creationValidationFailed(err.failure.error);
      if (err instanceof EsError) throw errors.creationValidationFailed(err);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async textEmbedding(request: InferenceRequest): Promise<TextEmbeddingEntry[]> {
    const requested = request.pathTaskType === undefined ? undefined : parseTaskType(request.pathTaskType);
    const runtime = await this.runtime(request.inferenceId);
    const { record } = runtime.endpoint;
    if (requested && requested !== record.taskType) throw errors.taskTypeMismatchOnInference(requested, record.taskType);
    const inputs = readInput(request.input);
    if (request.taskSettings && Object.keys(request.taskSettings).length > 0) {
      throw errors.unknownSettings(record.service, renderSettings(request.taskSettings));
    }

    const settings = record.chunkingSettings as unknown as ChunkingSettings;
    const chunked = inputs.map((input) => chunkText(input, settings));
    const texts = chunked.flatMap((chunks, i) =>
      chunks.map((c) => runtime.service.prepareInput(record.serviceSettings, inputs[i]!.slice(c.start, c.end))),
    );

    try {
      // A cancelled request (timed out, client gone) has its queued texts rejected; the answer
      // is then the cancellation's reason (408), not the queue's.
      const vectors = await Promise.all(runtime.queue.submit(texts, request.lifetime));
      let next = 0;
      return chunked.map((chunks, i) => {
        const mine = vectors.slice(next, (next += chunks.length));
        if (chunks.length === 1) return { embedding: mine[0]! };
        return {
          embedding: weightedMean(mine, chunks),
          chunks: chunks.map((c, k) => ({ text: inputs[i]!.slice(c.start, c.end), start: c.start, end: c.end, embedding: mine[k]! })),
        };
      });
    } catch (err) {
      if (request.lifetime.cancelled) throw request.lifetime.reason;
      // One text failed: the rest of this request's work is no longer wanted.
      request.lifetime.cancel(err);
      throw err;
    }
  }

  private async runtime(inferenceId: string): Promise<EndpointRuntime> {
    const live = this.runtimes.get(inferenceId);
    if (live) return live;
    const endpoint = await this.registry.resolve(inferenceId);
    // Another request may have made it while this one read the store.
    let runtime = this.runtimes.get(inferenceId);
    if (!runtime) {
      runtime = new EndpointRuntime(endpoint, this.registry.serviceFor(endpoint.record), this.opts, this.inflight);
      this.runtimes.set(inferenceId, runtime);
    }
    return runtime;
  }

  private async refresh(inferenceId: string): Promise<void> {
    const runtime = this.runtimes.get(inferenceId);
    if (runtime) runtime.refresh(await this.registry.resolve(inferenceId));
  }

  private async drop(inferenceId: string, error: EsError): Promise<void> {
    const runtime = this.runtimes.get(inferenceId);
    this.runtimes.delete(inferenceId);
    await runtime?.close(error);
  }

  async close(): Promise<void> {
    await Promise.all([...this.runtimes.keys()].map((id) => this.drop(id, errors.queueFull(id))));
    await this.opts.deps.transport.close();
  }
}
