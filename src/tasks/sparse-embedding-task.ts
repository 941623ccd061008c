// sparse_embedding: inputs chunked and batched like dense ones; one token-weight map per input (the per-token maximum
// over its chunks).
import { SparseEmbeddingRequest, SparseEmbeddingResult } from '../../schemas/sparse-embedding.js';
import type { SparseVector } from '../services/inference-service.js';
import { DEFAULT_BATCH_SIZE } from './text-embedding-task.js';
import { batchedLifecycle, chunkRequest, halve, perInput } from './batched.js';
import { inputChecker } from './input.js';
import type { QueueState } from './queue-lifecycle.js';
import { submitCached, type CacheCodec } from './cached-submit.js';
import { PROBE_TEXT, type Task } from './task-module.js';

interface SparseItem {
  text: string;
  /** Cut before it was sent (the input limit, or halved after the upstream found it too large). */
  truncated: boolean;
}

interface SparseResult {
  vector: SparseVector;
  truncated: boolean;
}

/** Token weights as a JSON object, in the upstream's order. */
export const sparseVectorJson = (vector: SparseVector) => {
  let out = '{';
  for (const [token, weight] of vector)
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(token)}:${JSON.stringify(weight)}`;
  return out + '}';
};

/** The SPLADE convention for several chunks: each token keeps its largest weight. */
function maxMerge(vectors: readonly SparseVector[]): SparseVector {
  const out: SparseVector = new Map();
  for (const vector of vectors) {
    for (const [token, weight] of vector) {
      const had = out.get(token);
      if (had === undefined || weight > had) out.set(token, weight);
    }
  }
  return out;
}

/**
 * A text's token weights kept as `[truncated, [[token, weight], …]]` in the upstream's order (an object would put
 * numeric tokens first). Whether the text was cut before it was sent is part of its key: two inputs can be sent as the
 * same text, one of them cut.
 */
const SPARSE_CODEC: CacheCodec<SparseItem, SparseResult> = {
  keyText: (item) => (item.truncated ? `1${item.text}` : `0${item.text}`),
  encode: (result) => JSON.stringify([result.truncated ? 1 : 0, [...result.vector]]),
  decode: (value) => {
    const [truncated, pairs] = JSON.parse(value) as [number, Array<[string, number]>];
    return { truncated: truncated === 1, vector: new Map(pairs) };
  },
};

/** One input's result: its token weights, whether it was cut, and for an input of several chunks, each chunk's. */
export interface SparseEntry {
  truncated: boolean;
  vector: SparseVector;
  chunks?: Array<{ text: string; start: number; end: number; vector: SparseVector }>;
}

/** The response body (docs/api.md#sparse_embedding), token weights in the upstream's order. */
function sparseEmbeddingJson(entries: readonly SparseEntry[]): string {
  const parts = entries.map((entry) => {
    const head = `{"is_truncated":${entry.truncated},"embedding":${sparseVectorJson(entry.vector)}`;
    if (!entry.chunks) return `${head}}`;
    const chunks = entry.chunks.map(
      (c) =>
        `{"text":${JSON.stringify(c.text)},"start_offset":${c.start},"end_offset":${c.end},"embedding":${sparseVectorJson(c.vector)}}`,
    );
    return `${head},"chunks":[${chunks.join(',')}]}`;
  });
  return `{"sparse_embedding":[${parts.join(',')}]}`;
}

export const sparseEmbeddingTask: Task<
  'sparse_embedding',
  SparseEmbeddingRequest,
  QueueState<SparseItem, SparseResult, undefined>,
  SparseEmbeddingRequest,
  SparseEntry[]
> = {
  taskType: 'sparse_embedding',
  requestSchema: SparseEmbeddingRequest,
  resultSchema: SparseEmbeddingResult,
  chunked: true,
  checkBody: inputChecker('sparse_embedding', SparseEmbeddingRequest),

  ...batchedLifecycle<'sparse_embedding', SparseItem, SparseResult, undefined>(
    DEFAULT_BATCH_SIZE,
    (context) => async (items, _group, signal) => {
      const vectors = await context.current().operations.embed(
        items.map((i) => i.text),
        signal,
        // A decode call is an upstream request too: its own grant, and the limiter told when it leaves.
        () => context.limiter.acquire().then(() => context.limiter.sent?.()),
      );
      return vectors.map((vector, i) => ({ vector, truncated: items[i]!.truncated }));
    },
    (item) => {
      const text = halve(item.text);
      return text === undefined ? undefined : { text, truncated: true };
    },
  ),

  async run(state, endpoint, body, lifetime) {
    const chunked = chunkRequest(state.queue, endpoint, body);
    const items = chunked.texts.map((text, i) => ({ text, truncated: chunked.truncated[i]! }));
    const results = await submitCached(state, endpoint, items, lifetime, SPARSE_CODEC);
    return perInput(chunked, results).map((mine, i): SparseEntry => {
      const truncated = mine.some((r) => r.truncated);
      const chunks = chunked.chunks[i]!;
      if (chunks.length === 1) return { truncated, vector: mine[0]!.vector };
      return {
        truncated,
        vector: maxMerge(mine.map((r) => r.vector)),
        chunks: chunks.map((c, k) => ({
          text: chunked.inputs[i]!.slice(c.start, c.end),
          start: c.start,
          end: c.end,
          vector: mine[k]!.vector,
        })),
      };
    });
  },

  resultJson: sparseEmbeddingJson,

  // One text, and the /decode call its token ids need (with its own grant) when the server answers ids.
  async validate(endpoint, signal, acquire) {
    await endpoint.operations.embed([PROBE_TEXT], signal, acquire);
    return {};
  },
};
