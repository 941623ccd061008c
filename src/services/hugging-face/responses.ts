// Parsing Hugging Face embedding responses: every shape the servers send, checked, never trusted (SPEC §3).
import { errors } from '../../errors.js';
import type { Embedding } from '../types.js';

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

function isNumberArray(v: unknown): v is number[] {
  if (!Array.isArray(v) || v.length === 0) return false;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) return false;
  }
  return true;
}

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

const skipSpace = (text: string, i: number) => {
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  return i;
};

/**
 * The exact JSON text of each vector in a response already parsed and checked as `[[…], …]`
 * or a flat `[…]`: the service sends these back as they came instead of re-formatting every
 * float. Undefined for other shapes (their vectors are serialized from the numbers).
 */
export function vectorTexts(text: string, count: number): string[] | undefined {
  let i = skipSpace(text, 0);
  if (text[i] !== '[') return undefined;
  i = skipSpace(text, i + 1);
  if (text[i] !== '[') return count === 1 ? [text.trim()] : undefined;
  const out: string[] = [];
  while (out.length < count) {
    if (text[i] !== '[') return undefined;
    const end = text.indexOf(']', i);
    // A '[' inside means token-level arrays: their vectors are pooled, not passed through.
    if (end < 0 || text.lastIndexOf('[', end) !== i) return undefined;
    out.push(text.slice(i, end + 1));
    i = skipSpace(text, end + 1);
    if (text[i] === ',') i = skipSpace(text, i + 1);
  }
  return out;
}

/**
 * The vectors of an embedding response for `inputCount` inputs, each with its own JSON text
 * when the response's shape allows passing it through. Accepts `[[…], …]` (TEI,
 * Inference Endpoints), `{"embeddings": [[…], …]}`, a flat `[…]` for a single input, and
 * token-level `[[[…], …], …]` (mean-pooled). Anything else, a count that differs from the
 * inputs, or vectors of different lengths is a 502 naming the shape.
 */
export function parseEmbeddingResponse(text: string, body: unknown, inputCount: number, inferenceId: string): Embedding[] {
  const vectors = checkEmbeddings(body, inputCount, inferenceId);
  const texts = Array.isArray(body) ? vectorTexts(text, inputCount) : undefined;
  return vectors.map((values, i) => ({ values, json: texts?.[i] }));
}

function checkEmbeddings(body: unknown, inputCount: number, inferenceId: string): number[][] {
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
