// What a text-embeddings-inference or text-generation-inference server says of itself at `GET /info`
// (docs/hugging-face-protocols.md#what-the-server-says-of-itself): read at creation, stored with the endpoint, it sets the
// endpoint's limits and refuses a url whose model cannot serve the task type.
import type { StopSignal } from '../../cancellation.js';
import { errors, type EsError } from '../../errors.js';
import { maskKeyEcho } from '../../redaction.js';
import type { TaskType } from '../../inference-task-type.js';
import type { HttpTransport } from '../upstream/http-transport.js';
import { isJsonObject } from './json.js';

const TEI = 'text-embeddings-inference';
const TGI = 'text-generation-inference';

/**
 * The part of a server's `/info` this service reads, under the server's own field names (TEI's `Info` and TGI's
 * `Info`, router/src/lib.rs of each). Stored as `server_info` in the endpoint's service settings, shown by GET.
 */
export interface ServerInfo {
  server: typeof TEI | typeof TGI;
  model_id?: string;
  /** TEI: the revision of the model's repository it loaded, when it says one. */
  model_sha?: string;
  /** TEI: what the model is (`model_type`'s one key). */
  model_type?: 'embedding' | 'reranker' | 'classifier';
  /** TEI, an embedding model: its pooling (`cls`, `mean`, `splade`, …). */
  pooling?: string;
  version?: string;
  /** Most inputs in one request (both servers). */
  max_client_batch_size?: number;
  /** TEI: most tokens in one input. */
  max_input_length?: number;
  /** TEI: whether it cuts a longer input itself instead of refusing it. */
  auto_truncate?: boolean;
  /** TEI: most tokens in one of its own batches. */
  max_batch_tokens?: number;
  /** Requests the server takes at once before it answers "overloaded" (both servers). */
  max_concurrent_requests?: number;
  /** TGI: most tokens of a prompt (`max_input_length` before TGI 2.0), and of a prompt and its generation. */
  max_input_tokens?: number;
  max_total_tokens?: number;
}

/** How long a server may take to answer `/info` before it counts as one without it. */
const INFO_TIMEOUT_MS = 5000;

/** Routes a url may end with: `/info` is beside them, at the server's base. */
const ROUTE =
  /\/(?:embed|embed_all|embed_sparse|rerank|predict|generate|generate_stream|v1\/chat\/completions|chat\/completions|v1\/completions|v1\/embeddings|v1)$/;

/** `/info` of the server a url names: its base, or one of its routes. */
function infoUrl(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = `${parsed.pathname.replace(/\/+$/, '').replace(ROUTE, '')}/info`;
  parsed.search = '';
  parsed.hash = '';
  return parsed.toString();
}

const count = (v: unknown): number | undefined =>
  Number.isSafeInteger(v) && (v as number) > 0 ? (v as number) : undefined;

/** A string the server gave, short and without the key (a server could say anything). */
const text = (v: unknown, apiKey: string): string | undefined =>
  typeof v === 'string' && v !== '' ? maskKeyEcho(v.slice(0, 200), apiKey) : undefined;

/** Only the fields present, in this order. */
function compact(info: ServerInfo): ServerInfo {
  return Object.fromEntries(Object.entries(info).filter(([, v]) => v !== undefined)) as unknown as ServerInfo;
}

/** A `/info` answer as TEI or TGI writes it; undefined for anything else (another server, another shape). */
function parseServerInfo(body: unknown, apiKey: string): ServerInfo | undefined {
  if (!isJsonObject(body)) return undefined;
  const type = isJsonObject(body.model_type) ? Object.keys(body.model_type) : [];
  if (type.length === 1 && ['embedding', 'reranker', 'classifier'].includes(type[0]!)) {
    const modelType = type[0] as NonNullable<ServerInfo['model_type']>;
    const detail = (body.model_type as Record<string, unknown>)[modelType];
    return compact({
      server: TEI,
      model_id: text(body.model_id, apiKey),
      model_sha: text(body.model_sha, apiKey),
      model_type: modelType,
      pooling: modelType === 'embedding' && isJsonObject(detail) ? text(detail.pooling, apiKey) : undefined,
      version: text(body.version, apiKey),
      max_client_batch_size: count(body.max_client_batch_size),
      max_input_length: count(body.max_input_length),
      auto_truncate: typeof body.auto_truncate === 'boolean' ? body.auto_truncate : undefined,
      max_batch_tokens: count(body.max_batch_tokens),
      max_concurrent_requests: count(body.max_concurrent_requests),
    });
  }
  const router = typeof body.router === 'string' ? body.router : '';
  if (
    router.startsWith('text-generation-router') ||
    (count(body.max_total_tokens) && typeof body.model_id === 'string')
  ) {
    return compact({
      server: TGI,
      model_id: text(body.model_id, apiKey),
      version: text(body.version, apiKey),
      max_client_batch_size: count(body.max_client_batch_size),
      max_concurrent_requests: count(body.max_concurrent_requests),
      max_input_tokens: count(body.max_input_tokens) ?? count(body.max_input_length),
      max_total_tokens: count(body.max_total_tokens),
    });
  }
  return undefined;
}

/**
 * Asks the server at `url` for its `/info`, with the endpoint's key, through the same transport (host rules, size
 * limit) as every upstream request, for at most INFO_TIMEOUT_MS. Undefined when it does not answer one (a 404, another
 * kind of server, a failure, too late); an abort of `signal` (the PUT's timeout) is rethrown.
 */
export async function fetchServerInfo(
  transport: HttpTransport,
  url: string,
  apiKey: string,
  signal: StopSignal,
): Promise<ServerInfo | undefined> {
  const call = new AbortController();
  const onAbort = () => call.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => call.abort(), INFO_TIMEOUT_MS);
  try {
    const res = await transport.get(
      infoUrl(url),
      { authorization: `Bearer ${apiKey}`, accept: 'application/json' },
      call.signal,
    );
    if (res.status !== 200) return undefined;
    return parseServerInfo(JSON.parse(res.text), apiKey);
  } catch (err) {
    if (signal.aborted) throw err;
    return undefined;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

/** The `server_info` stored in an endpoint's service settings, if any (written by parseServerInfo). */
export function storedServerInfo(value: unknown): ServerInfo | undefined {
  return isJsonObject(value) && (value.server === TEI || value.server === TGI)
    ? (value as unknown as ServerInfo)
    : undefined;
}

/** What a server's model is, in a message. */
function modelKind(info: ServerInfo): string {
  if (info.server === TGI) return 'a text generation model';
  if (info.model_type === 'embedding')
    return info.pooling === 'splade' ? 'a sparse (SPLADE) embedding model' : 'an embedding model';
  return `a ${info.model_type} model`;
}

const NEEDS: Record<TaskType, string> = {
  text_embedding: 'an embedding model',
  sparse_embedding: 'a SPLADE model (an embedding model with splade pooling)',
  rerank: 'a reranker model',
  completion: 'a text generation model',
  chat_completion: 'a text generation model',
};

function serves(taskType: TaskType, info: ServerInfo): boolean {
  switch (taskType) {
    case 'completion':
    case 'chat_completion':
      return info.server === TGI;
    case 'text_embedding':
      return info.server === TEI && info.model_type === 'embedding';
    case 'sparse_embedding':
      return info.server === TEI && info.model_type === 'embedding' && info.pooling === 'splade';
    case 'rerank':
      return info.server === TEI && info.model_type === 'reranker';
  }
}

/**
 * The refusal of a server whose model cannot serve the task type (a rerank url at an embedding model, an embedding url
 * at a reranker, …); undefined when it can. A TEI embedding model without a pooling it names is given the benefit of
 * the doubt for sparse_embedding.
 */
export function servesTaskRefusal(taskType: TaskType, info: ServerInfo, inferenceId: string): EsError | undefined {
  if (taskType === 'sparse_embedding' && info.server === TEI && info.model_type === 'embedding' && !info.pooling)
    return undefined;
  if (serves(taskType, info)) return undefined;
  const model = info.model_id === undefined ? '' : ` [${info.model_id}]`;
  return errors.upstream(
    400,
    `The url of inference endpoint [${inferenceId}] is a ${info.server} server whose model${model} is ${modelKind(info)} (its /info says so): task type [${taskType}] needs ${NEEDS[taskType]}`,
  );
}
