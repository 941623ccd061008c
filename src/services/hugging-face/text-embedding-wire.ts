// text_embedding on the wire (docs/hugging-face-protocols.md#text_embedding): where the request goes, its body, every
// answer shape the servers send, checked, and the operations they make.
import type { StopSignal } from '../../cancellation.js';
import type { Embedding } from '../inference-service.js';
import { asciiBytes, readVector, type VectorRead } from '../vector-text.js';
import { badAnswer, describeShape, isJsonObject, postJson, type JsonAnswer } from './call.js';
import type { ServiceSettingsOf } from './hugging-face-settings.js';
import type { TaskWire, WireContext } from './task-wire.js';

type Settings = ServiceSettingsOf<'text_embedding'>;

/**
 * A `url` is used as given; hosted mode (`model_id` alone) targets the serverless API's feature-extraction pipeline.
 */
function embeddingUrl(settings: Settings, hfApiBase: string): string {
  if (settings.url) return settings.url;
  return `${hfApiBase}/models/${settings.model_id}/pipeline/feature-extraction`;
}

/** Cuts an input to `max_input_tokens × 3` characters, when that setting is present. */
export function truncateInput(text: string, maxInputTokens: number | undefined): string {
  return maxInputTokens !== undefined && text.length > maxInputTokens * 3 ? text.slice(0, maxInputTokens * 3) : text;
}

/** The request body: always a list, even for one text. */
export function embeddingRequest(texts: readonly string[]): string {
  return JSON.stringify({ inputs: texts });
}

/**
 * A vector the upstream wrote, passed on as its own text; its numbers are parsed only if something needs them (a mean
 * of chunks, a vector to scale).
 */
class PassedVector implements Embedding {
  private parsed: number[] | undefined;

  constructor(
    readonly json: string,
    readonly unit: boolean,
  ) {}

  get values(): number[] {
    return (this.parsed ??= JSON.parse(this.json) as number[]);
  }
}

const SPACE = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

const read: VectorRead = { count: 0, unit: false };

/**
 * `[[n, …], …]` in one pass: the text of each vector, whether it is surely of length 1, and their common length, or
 * undefined when the text is anything else (other shapes, vectors of different lengths, a number out of the plain
 * range that `readVector` reads, trailing text): those are left to JSON.parse and the general checks.
 */
export function scanVectorList(text: string): { vectors: string[]; units: boolean[]; dims: number } | undefined {
  const ascii = asciiBytes(text);
  if (!ascii) return undefined;
  const { bytes: b, view, length } = ascii;
  let i = 0;
  while (SPACE(b[i]!)) i++;
  if (b[i++] !== 0x5b) return undefined;
  const vectors: string[] = [];
  const units: boolean[] = [];
  let dims = -1;
  for (;;) {
    while (SPACE(b[i]!)) i++;
    if (b[i] !== 0x5b) return undefined;
    const end = readVector(b, view, i, read);
    if (end < 0) return undefined;
    if (dims < 0) dims = read.count;
    else if (read.count !== dims) return undefined;
    vectors.push(text.slice(i, end));
    units.push(read.unit);
    i = end;
    while (SPACE(b[i]!)) i++;
    const c = b[i++];
    if (c === 0x2c) continue;
    if (c !== 0x5d) return undefined;
    while (SPACE(b[i]!)) i++;
    return i === length ? { vectors, units, dims } : undefined;
  }
}

function isNumberArray(v: unknown): v is number[] {
  if (!Array.isArray(v) || v.length === 0) return false;
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) return false;
  }
  return true;
}

/** Mean over token vectors, for models served without pooling: `[[tokens × dims]]` → `[dims]`. */
function meanPool(tokens: unknown[]): number[] | undefined {
  if (tokens.length === 0 || !tokens.every(isNumberArray)) return undefined;
  const rows = tokens;
  const dims = rows[0]!.length;
  if (!rows.every((r) => r.length === dims)) return undefined;
  const out = new Array<number>(dims).fill(0);
  for (const row of rows) for (let d = 0; d < dims; d++) out[d]! += row[d]!;
  for (let d = 0; d < dims; d++) out[d]! /= rows.length;
  return out;
}

const skipSpace = (text: string, i: number) => {
  while (SPACE(text.charCodeAt(i))) i++;
  return i;
};

/**
 * The exact JSON text of each vector in a response already parsed and checked as `[[…], …]`
 * or a flat `[…]`: the service sends these back as they came instead of re-formatting every
 * float. Undefined for other shapes (their vectors are serialized from the numbers).
 */
function vectorTexts(text: string, count: number): string[] | undefined {
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
 * The vectors of an answer to `inputCount` texts, each with its own JSON text when the shape
 * allows passing it through. Accepts `[[…], …]` (TEI, Inference Endpoints), `{"embeddings": [[…], …]}`,
 * a flat `[…]` for a single input, and token-level `[[[…], …], …]` (mean-pooled). Anything else,
 * a count that differs from the inputs, vectors of different lengths, or a length other than
 * the endpoint's `dimensions` throws SendError (a 502 naming the problem).
 */
export function parseEmbeddings(
  answer: JsonAnswer,
  inputCount: number,
  inferenceId: string,
  dimensions: number | undefined,
): Embedding[] {
  // TEI's and Inference Endpoints' shape is checked in one pass over the text, without building
  // the numbers; anything else (or anything odd in it) takes the general path, which names the problem.
  const fast = scanVectorList(answer.text);
  if (fast && fast.vectors.length === inputCount && (dimensions === undefined || fast.dims === dimensions)) {
    return fast.vectors.map((json, i) => new PassedVector(json, fast.units[i]!));
  }
  const vectors = checkEmbeddings(answer.body, inputCount, inferenceId);
  const got = vectors[0]!.length;
  if (dimensions !== undefined && got !== dimensions) {
    throw badAnswer(inferenceId, `received embeddings of ${got} dimensions where the endpoint has ${dimensions}`);
  }
  const texts = Array.isArray(answer.body) ? vectorTexts(answer.text, inputCount) : undefined;
  return vectors.map((values, i) => ({ values, json: texts?.[i] }));
}

function checkEmbeddings(body: unknown, inputCount: number, inferenceId: string): number[][] {
  const fail = (detail: string) => badAnswer(inferenceId, detail);
  const list = isJsonObject(body) && Array.isArray(body.embeddings) ? (body.embeddings as unknown[]) : body;
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

/** One text_embedding endpoint: one POST per batch of texts. */
export function textEmbeddingWire({ transport, hfApiBase }: WireContext): TaskWire<'text_embedding'> {
  return ({ inferenceId, settings, apiKey, telemetry }) => {
    const call = { url: embeddingUrl(settings, hfApiBase), apiKey, inferenceId, telemetry };
    const embed = async (texts: string[], signal: StopSignal, dimensions: number | undefined) =>
      parseEmbeddings(
        await postJson(transport, call, embeddingRequest(texts), signal),
        texts.length,
        inferenceId,
        dimensions,
      );
    return {
      upstreamUrls: [call.url],
      operations: {
        embed: (texts, signal) => embed(texts, signal, settings.dimensions),
        prepare: (text) => truncateInput(text, settings.max_input_tokens),
        prefixFor: (inputType) => settings.prefix_strings?.[inputType],
        measure: async (text, signal) => (await embed([text], signal, undefined))[0]!.values.length,
      },
    };
  };
}
