// Parsing Hugging Face embedding responses: every shape the servers send, checked, never trusted (SPEC §3).
import { errors } from '../../errors.js';

/** A short description of a JSON value's shape for error messages; never the values themselves. */
export function describeShape(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    if (value.length === 0) return 'an empty array';
    const kinds = [...new Set(value.slice(0, 50).map((v) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v)))];
    return `an array of ${value.length} (${kinds.join(', ')})`;
  }
  if (typeof value === 'object') return `an object with keys [${Object.keys(value).slice(0, 10).join(', ')}]`;
  return `a ${typeof value}`;
}

const isNumberArray = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x));

/** Mean over token vectors, for models served without pooling: `[[tokens × dims]]` → `[dims]`. */
function meanPool(tokens: unknown[]): number[] | undefined {
  if (tokens.length === 0 || !tokens.every(isNumberArray)) return undefined;
  const rows = tokens as number[][];
  const dims = rows[0]!.length;
  if (!rows.every((r) => r.length === dims)) return undefined;
  const out = new Array<number>(dims).fill(0);
  for (const row of rows) for (let d = 0; d < dims; d++) out[d]! += row[d]!;
  for (let d = 0; d < dims; d++) out[d]! /= rows.length;
  return out;
}

/**
 * The vectors of an embedding response for `inputCount` inputs. Accepts `[[…], …]` (TEI,
 * Inference Endpoints), `{"embeddings": [[…], …]}`, a flat `[…]` for a single input, and
 * token-level `[[[…], …], …]` (mean-pooled). Anything else, a count that differs from the
 * inputs, or vectors of different lengths is a 502 naming the shape.
 */
export function parseEmbeddings(body: unknown, inputCount: number, inferenceId: string): number[][] {
  const fail = (detail: string) => errors.badUpstreamResponse(inferenceId, detail);
  const list =
    body !== null && typeof body === 'object' && !Array.isArray(body) && Array.isArray((body as { embeddings?: unknown }).embeddings)
      ? ((body as { embeddings: unknown[] }).embeddings as unknown[])
      : body;
  if (!Array.isArray(list) || list.length === 0) {
    throw fail(`expected an array of ${inputCount} embeddings, got ${describeShape(body)}`);
  }
  let vectors: number[][];
  if (list.every((x) => typeof x === 'number')) {
    if (inputCount !== 1 || !isNumberArray(list)) throw fail(`expected ${inputCount} embeddings, got one flat vector`);
    vectors = [list];
  } else {
    vectors = [];
    for (const [i, item] of list.entries()) {
      if (isNumberArray(item)) {
        vectors.push(item);
        continue;
      }
      const pooled = Array.isArray(item) && Array.isArray(item[0]) ? meanPool(item) : undefined;
      if (!pooled) throw fail(`embedding [${i}] is not a list of finite numbers: got ${describeShape(item)}`);
      vectors.push(pooled);
    }
  }
  if (vectors.length !== inputCount) throw fail(`sent ${inputCount} inputs but received ${vectors.length} embeddings`);
  const dims = vectors[0]!.length;
  const odd = vectors.findIndex((v) => v.length !== dims);
  if (odd >= 0) throw fail(`embedding [${odd}] has ${vectors[odd]!.length} dimensions where embedding [0] has ${dims}`);
  return vectors;
}
