// text_embedding: inputs chunked, chunks batched across requests, one dense vector per input (and per chunk when there
// are several).
import { TextEmbeddingRequest, TextEmbeddingResult } from '../../schemas/text-embedding.js';
import type { Embedding } from '../services/inference-service.js';
import type { Chunk } from '../chunking/chunker.js';
import { batchedLifecycle, chunkRequest, halve, perInput } from './batched.js';
import { inputChecker } from './input.js';
import type { QueueState } from './queue-lifecycle.js';
import { submitCached, type CacheCodec } from './cached-submit.js';
import { PROBE_TEXT, type Task } from './task-module.js';
import { JsonBytes } from '../json-bytes.js';

/** Texts per upstream request unless the endpoint sets `batch_size` (ours). */
export const DEFAULT_BATCH_SIZE = 20;

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

/**
 * A vector as JSON: the upstream's own text when it is kept, so that no float is parsed and written again. It is ASCII
 * either way: the upstream's text is kept only when it is plain numbers (`scanVectorList`), and JSON.stringify writes
 * numbers in ASCII.
 */
export const vectorJson = (e: Embedding) => e.json ?? JSON.stringify(e.values);

/**
 * The response body (docs/api.md#text_embedding), built as bytes so that vectors the upstream sent as JSON go back
 * exactly as they came: no float is parsed and re-formatted on the way out, and no vector is encoded twice.
 */
function textEmbeddingJson(entries: TextEmbeddingEntry[]): Buffer {
  const out = new JsonBytes().raw('{"text_embedding":[');
  entries.forEach((entry, n) => {
    out.raw(n === 0 ? '{"embedding":' : ',{"embedding":').raw(vectorJson(entry.embedding));
    if (entry.chunks) {
      out.raw(',"chunks":[');
      entry.chunks.forEach((c, k) => {
        out
          .raw(k === 0 ? '{"text":' : ',{"text":')
          .text(JSON.stringify(c.text))
          .raw(`,"start_offset":${c.start},"end_offset":${c.end},"embedding":`)
          .raw(vectorJson(c.embedding))
          .raw('}');
      });
      out.raw(']');
    }
    out.raw('}');
  });
  return out.raw(']}').bytes();
}

/** A cached vector: its JSON text as the upstream wrote it, parsed only if a mean of chunks needs its numbers. */
class CachedVector implements Embedding {
  private parsed: number[] | undefined;
  constructor(readonly json: string) {}
  get values(): number[] {
    return (this.parsed ??= JSON.parse(this.json) as number[]);
  }
}

/** A text's vector kept as the JSON text the answer writes: a hit answers the same bytes. */
const DENSE_CODEC: CacheCodec<string, Embedding> = {
  keyText: (text) => text,
  encode: vectorJson,
  decode: (json) => new CachedVector(json),
};

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

export const textEmbeddingTask: Task<
  'text_embedding',
  TextEmbeddingRequest,
  QueueState<string, Embedding, undefined>,
  TextEmbeddingRequest,
  TextEmbeddingEntry[]
> = {
  taskType: 'text_embedding',
  requestSchema: TextEmbeddingRequest,
  resultSchema: TextEmbeddingResult,
  chunked: true,
  checkBody: inputChecker('text_embedding', TextEmbeddingRequest),

  ...batchedLifecycle<'text_embedding', string, Embedding, undefined>(
    DEFAULT_BATCH_SIZE,
    (context) => (texts, _group, signal) => context.current().operations.embed(texts, signal),
    halve,
  ),

  async run(state, endpoint, body, lifetime) {
    const chunked = chunkRequest(state.queue, endpoint, body, endpoint.operations.prefixFor);
    const vectors = await submitCached(state, endpoint, chunked.texts, lifetime, DENSE_CODEC);
    return perInput(chunked, vectors).map((mine, i): TextEmbeddingEntry => {
      const chunks = chunked.chunks[i]!;
      if (chunks.length === 1) return { embedding: mine[0]! };
      return {
        embedding: weightedMean(mine, chunks),
        chunks: chunks.map((c, k) => ({
          text: chunked.inputs[i]!.slice(c.start, c.end),
          start: c.start,
          end: c.end,
          embedding: mine[k]!,
        })),
      };
    });
  },

  resultJson: textEmbeddingJson,

  async validate(endpoint, signal) {
    return { dimensions: await endpoint.operations.measure(PROBE_TEXT, signal) };
  },
};
