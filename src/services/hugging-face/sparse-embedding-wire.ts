// sparse_embedding on the wire (docs/hugging-face-protocols.md#sparse_embedding): token-weight maps from an Inference
// Endpoint handler, or TEI's /embed_sparse indices decoded through /decode (their tokens cached).
import type { SparseVector } from '../inference-service.js';
import { badAnswer, describeShape, isJsonObject, postJson, type JsonAnswer } from './call.js';
import type { TaskWire, WireContext } from './task-wire.js';
import { embeddingRequest as sparseRequest, truncateInput } from './text-embedding-wire.js';

/** What one answer holds: token maps, or token ids still to decode (TEI's /embed_sparse). */
type SparseAnswer =
  { kind: 'tokens'; vectors: SparseVector[] } | { kind: 'ids'; vectors: Array<Array<[number, number]>> };

const isWeight = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * The vectors of an answer to `inputCount` texts: `[{"token": weight, …}, …]` or
 * `[[{"index": 17, "value": 0.8}, …], …]`. Anything else, or a count other than the inputs',
 * throws SendError.
 */
function parseSparse(answer: JsonAnswer, inputCount: number, inferenceId: string): SparseAnswer {
  const body = answer.body;
  const fail = (detail: string) => badAnswer(inferenceId, detail);
  if (!Array.isArray(body))
    throw fail(`expected a list of ${inputCount} sparse embeddings, got ${describeShape(body)}`);
  if (body.length !== inputCount) throw fail(`sent ${inputCount} inputs but received ${body.length} sparse embeddings`);
  if (body.every(isJsonObject)) {
    const vectors = body.map((item, i) => {
      const vector: SparseVector = new Map();
      for (const [token, weight] of Object.entries(item)) {
        if (!isWeight(weight))
          throw fail(`sparse embedding [${i}] has a weight that is not a finite number for token [${token}]`);
        vector.set(token, weight);
      }
      return vector;
    });
    return { kind: 'tokens', vectors };
  }
  if (body.every(Array.isArray)) {
    const vectors = (body as unknown[][]).map((item, i) =>
      item.map((entry): [number, number] => {
        if (
          !isJsonObject(entry) ||
          !Number.isInteger(entry.index) ||
          (entry.index as number) < 0 ||
          !isWeight(entry.value)
        ) {
          throw fail(
            `sparse embedding [${i}] holds ${describeShape(entry)} where {"index": integer, "value": number} was expected`,
          );
        }
        return [entry.index as number, entry.value];
      }),
    );
    return { kind: 'ids', vectors };
  }
  throw fail(`expected token maps or lists of {"index", "value"}, got ${describeShape(body)}`);
}

/** TEI's tokenizer route beside `/embed_sparse` (or beside the url's own path). */
function decodeUrl(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = /\/embed_sparse\/?$/.test(parsed.pathname)
    ? parsed.pathname.replace(/\/embed_sparse\/?$/, '/decode')
    : `${parsed.pathname.replace(/\/+$/, '')}/decode`;
  parsed.search = '';
  return parsed.toString();
}

/** Most ids in one /decode call: TEI caps its lists at max_client_batch_size (32 by default). */
const DECODE_BATCH = 32;

/** Each id decoded on its own: `{"ids": [[17], [42]]}` answers `["tok", "tok2"]`. */
function decodeRequest(ids: readonly number[]): string {
  return JSON.stringify({ ids: ids.map((id) => [id]) });
}

function parseDecode(answer: JsonAnswer, idCount: number, inferenceId: string): string[] {
  const body = answer.body;
  if (!Array.isArray(body) || body.length !== idCount || !body.every((t) => typeof t === 'string')) {
    throw badAnswer(inferenceId, `expected ${idCount} decoded tokens from /decode, got ${describeShape(body)}`);
  }
  return body;
}

/**
 * Token ids with weights → a token map. Ids whose token is empty (special tokens the server
 * skips) are left out; ids that decode to the same token keep the larger weight.
 */
function toTokens(ids: ReadonlyArray<[number, number]>, tokenOf: (id: number) => string): SparseVector {
  const vector: SparseVector = new Map();
  for (const [id, weight] of ids) {
    const token = tokenOf(id);
    if (token === '') continue;
    const had = vector.get(token);
    if (had === undefined || weight > had) vector.set(token, weight);
  }
  return vector;
}

/** Most decoded tokens kept per endpoint (vocabularies of SPLADE models are ~30k). */
export const TOKEN_CACHE_SIZE = 65_536;

/**
 * Decoded tokens of one endpoint: each id is decoded once (a token id never changes meaning), concurrent batches share
 * a decode.
 */
export class TokenCache {
  private readonly tokens = new Map<number, string>();
  private readonly decoding = new Map<number, Promise<Map<number, string>>>();

  constructor(private readonly capacity = TOKEN_CACHE_SIZE) {}

  get size(): number {
    return this.tokens.size;
  }

  /**
   * The token of every id, decoding with one call those that nobody has decoded or is decoding.
   * Ids another caller is decoding are waited for; if that call fails (its own request went
   * away, say), this caller decodes them itself rather than fail with someone else's error.
   */
  async lookup(ids: Iterable<number>, decode: (ids: number[]) => Promise<string[]>): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    const others = new Map<Promise<Map<number, string>>, number[]>();
    const missing: number[] = [];
    for (const id of new Set(ids)) {
      const token = this.tokens.get(id);
      if (token !== undefined) {
        out.set(id, token);
        continue;
      }
      const pending = this.decoding.get(id);
      if (pending) others.set(pending, [...(others.get(pending) ?? []), id]);
      else missing.push(id);
    }
    const own = missing.length > 0 ? this.start(missing, decode) : undefined;
    const retry: number[] = [];
    for (const [pending, waited] of others) {
      const found = await pending.catch(() => undefined);
      if (found) for (const id of waited) out.set(id, found.get(id)!);
      else retry.push(...waited);
    }
    if (own) for (const [id, token] of await own) out.set(id, token);
    if (retry.length > 0) for (const [id, token] of await this.start(retry, decode)) out.set(id, token);
    return out;
  }

  /** One decode call for `ids`, shared with whoever asks for them while it runs. */
  private start(ids: number[], decode: (ids: number[]) => Promise<string[]>): Promise<Map<number, string>> {
    const call = decode(ids)
      .then((tokens) => {
        const found = new Map<number, string>();
        ids.forEach((id, i) => {
          found.set(id, tokens[i]!);
          this.remember(id, tokens[i]!);
        });
        return found;
      })
      .finally(() => {
        for (const id of ids) if (this.decoding.get(id) === call) this.decoding.delete(id);
      });
    for (const id of ids) this.decoding.set(id, call);
    // A caller that awaits it handles its failure; this keeps the failure from being reported as unhandled meanwhile.
    call.catch(() => undefined);
    return call;
  }

  private remember(id: number, token: string): void {
    if (this.tokens.size >= this.capacity) this.tokens.delete(this.tokens.keys().next().value!);
    this.tokens.set(id, token);
  }
}

/** Sparse endpoints whose decoded tokens are kept (each up to TOKEN_CACHE_SIZE tokens); the oldest goes first. */
const TOKEN_CACHES = 256;

/**
 * One sparse_embedding endpoint: one POST per batch of texts, then /decode for the token ids nobody has decoded yet.
 */
export function sparseEmbeddingWire({ transport }: WireContext): TaskWire<'sparse_embedding'> {
  /**
   * Decoded tokens per endpoint and decode url, kept across bindings: an endpoint is bound again on
   * every change (a new key, a new rate), and its vocabulary must not be decoded again each time.
   */
  const tokenCaches = new Map<string, TokenCache>();
  const tokenCacheOf = (inferenceId: string, url: string): TokenCache => {
    const key = `${inferenceId} ${url}`;
    let cache = tokenCaches.get(key);
    if (!cache) {
      if (tokenCaches.size >= TOKEN_CACHES) tokenCaches.delete(tokenCaches.keys().next().value!);
      cache = new TokenCache();
      tokenCaches.set(key, cache);
    }
    return cache;
  };

  return ({ inferenceId, settings, apiKey, telemetry }) => {
    const call = { url: settings.url!, apiKey, inferenceId, telemetry };
    const decodeCall = { url: decodeUrl(call.url), apiKey, inferenceId, telemetry };
    const tokens = tokenCacheOf(inferenceId, decodeCall.url);
    return {
      upstreamUrls: [call.url, decodeCall.url],
      operations: {
        async embed(texts, signal, acquire) {
          const answer = parseSparse(
            await postJson(transport, call, sparseRequest(texts), signal),
            texts.length,
            inferenceId,
          );
          if (answer.kind === 'tokens') return answer.vectors;
          const known = await tokens.lookup(
            answer.vectors.flatMap((v) => v.map(([id]) => id)),
            async (ids) => {
              const tokens: string[] = [];
              // One call per DECODE_BATCH ids, each an upstream request with its own rate-limit grant.
              for (let i = 0; i < ids.length; i += DECODE_BATCH) {
                const part = ids.slice(i, i + DECODE_BATCH);
                await acquire();
                tokens.push(
                  ...parseDecode(
                    await postJson(transport, decodeCall, decodeRequest(part), signal),
                    part.length,
                    inferenceId,
                  ),
                );
              }
              return tokens;
            },
          );
          return answer.vectors.map((ids) => toTokens(ids, (id) => known.get(id)!));
        },
        prepare: (text) => truncateInput(text, settings.max_input_tokens),
      },
    };
  };
}
