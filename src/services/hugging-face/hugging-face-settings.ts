// hugging_face settings: one definition per setting (which task types have it, how it is read and validated,
// whether it can change), and the TypeScript type of each task type's settings derived from those definitions.
import Type from 'typebox';
import { HF_TOKEN, MIN_SECRET_LENGTH, redactUrl, SECRET_NAME } from '../../redaction.js';
import { MAX_INT, renderSettings, SettingsReader } from '../../settings-reader.js';
import type { SettingsMap } from '../../store/endpoint-store.js';
import { INPUT_TYPES, SAMPLING_LIMITS, type InputType } from '../inference-service.js';
import { TASK_TYPES, type TaskType } from '../../inference-task-type.js';
import type { SettingDescription } from '../../../schemas/services.js';

export const SERVICE_NAME = 'hugging_face';
const SIMILARITIES = ['cosine', 'dot_product', 'l2_norm'] as const;
type Similarity = (typeof SIMILARITIES)[number];
const DEFAULT_REQUESTS_PER_MINUTE = 3000;
export const MAX_BATCH_SIZE = 1024;
/**
 * Upstream requests in flight per endpoint unless it sets `max_concurrent_requests` (ours,
 * docs/rate-limiting.md#batching-under-load-ours).
 */
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 8;
const MAX_CONCURRENT_REQUESTS = 1024;
/**
 * Streams (and unstreamed generations) in flight per endpoint unless it sets `max_concurrent_streams` (ours,
 * docs/api.md#streaming).
 */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 64;
const MAX_CONCURRENT_STREAMS = 4096;
/** What Elasticsearch shows (and we apply) as the input limit of a sparse embedding endpoint. */
const SPARSE_MAX_INPUT_TOKENS = 512;

interface RateLimit {
  requests_per_minute: number;
}

/** While reading one settings object: the task type it is for, and where nested maps put their unknown keys. */
interface ReadContext {
  taskType: TaskType;
  nestedUnknown: SettingsMap[];
}

export interface SettingDefinition<V, Ts extends readonly TaskType[] = readonly TaskType[]> {
  /** The task types that have this setting; for any other it is an unknown key. */
  tasks: Ts;
  /** What `_services` shows. */
  label: string;
  description: string;
  type: 'str' | 'int' | 'float' | 'bool' | 'map' | 'list';
  /** May change through `_update`. */
  updatable: boolean;
  /** Required at creation (url has its own rule: see readUrl). */
  required?: boolean;
  /** A secret: kept encrypted, never shown. */
  sensitive?: boolean;
  /** Reads and validates the value, reporting problems through the reader; undefined when absent or invalid. */
  read(reader: SettingsReader, context: ReadContext): V | undefined;
}

/** Keeps each definition's value type and task list as literal types, so the settings types below can be derived. */
function setting<V, const Ts extends readonly TaskType[]>(
  definition: SettingDefinition<V, Ts>,
): SettingDefinition<V, Ts> {
  return definition;
}

/** A Hugging Face repository id: `owner/name` or `name`; it becomes part of a URL path. */
const MODEL_ID = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\/[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)?$/;

/** HF_TOKEN without its global flag, for a plain test. */
const HF_TOKEN_SHAPE = new RegExp(HF_TOKEN.source);

/**
 * A url as it may be echoed: a password in it becomes [REDACTED], and so does a user name alone (a token is often put
 * there).
 */
const maskUserinfo = (url: string) =>
  url.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)([^/:@]*)(:[^/@]*)?@/i,
    (_m, scheme: string, user: string, password?: string) =>
      password === undefined ? `${scheme}[REDACTED]@` : `${scheme}${user}:[REDACTED]@`,
  );

const GENERATION = ['completion', 'chat_completion'] as const;

/** Task types whose endpoints may name a model alone (hosted mode) instead of a url. */
const HOSTED_TASKS: readonly TaskType[] = ['text_embedding', ...GENERATION];

/**
 * How a text generation endpoint talks to its upstream (docs/hugging-face-protocols.md#text-generation, ours):
 * - `openai_chat`: OpenAI-compatible chat completions (TGI ≥ 1.4, vLLM, Inference Endpoints, the router);
 * - `text_generation`: TGI's native `/generate` and `/generate_stream`;
 * - `text2text_generation`: the transformers text2text-generation pipeline (one answer, not streamed).
 */
const PROTOCOLS = ['openai_chat', 'text_generation', 'text2text_generation'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/**
 * The protocol an endpoint uses: the one it names, else TGI native for a url ending in `/generate` or
 * `/generate_stream`, else OpenAI chat.
 */
export function protocolOf(settings: { url?: string; protocol?: Protocol }): Protocol {
  if (settings.protocol) return settings.protocol;
  if (settings.url !== undefined && /\/generate(_stream)?\/?$/.test(new URL(settings.url).pathname))
    return 'text_generation';
  return 'openai_chat';
}

function readProtocol(reader: SettingsReader): Protocol | undefined {
  const value = reader.takeString('protocol');
  if (value === undefined) return undefined;
  if (!(PROTOCOLS as readonly string[]).includes(value)) {
    reader.problem(
      `[${reader.scope}] Invalid value [${value}] received. [protocol] must be one of [${PROTOCOLS.join(', ')}]`,
    );
    return undefined;
  }
  return value as Protocol;
}

/** Rules across settings of a text generation endpoint, checked once each setting has been read. */
function checkGeneration(
  taskType: TaskType,
  settings: { url?: string; model_id?: string; protocol?: Protocol },
  problems: string[],
): void {
  if (taskType === 'chat_completion' && settings.protocol !== undefined && settings.protocol !== 'openai_chat') {
    // A conversation needs the model's chat template, which only an OpenAI-compatible chat server applies.
    problems.push(
      `[service_settings] Invalid value [${settings.protocol}] received. [protocol] must be [openai_chat] for task type [chat_completion]`,
    );
  }
  if (settings.url === undefined && settings.protocol === 'text_generation' && settings.model_id !== undefined) {
    problems.push(
      '[service_settings] protocol [text_generation] needs a [url]: hosted models are reached through the router with [openai_chat]',
    );
  }
}

function readUrl(reader: SettingsReader, { taskType }: ReadContext): string | undefined {
  if (!reader.has('url') && !(HOSTED_TASKS.includes(taskType) && reader.has('model_id'))) {
    reader.missing('url');
    return undefined;
  }
  const url = reader.takeString('url');
  if (url === undefined) return undefined;
  let reason: string | undefined;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      reason = `unsupported scheme [${parsed.protocol.slice(0, -1)}]; the url must use http or https`;
    } else if (
      parsed.username ||
      parsed.password ||
      [...parsed.searchParams.keys()].some((name) => SECRET_NAME.test(name)) ||
      HF_TOKEN_SHAPE.test(url)
    ) {
      // A credential in the url (user:password@, ?token=…, a Hugging Face token anywhere) would be
      // stored in clear and shown by GET: it belongs in api_key, which is encrypted.
      reason = 'credentials in the url are not allowed; put the token in [api_key]';
    }
  } catch {
    reason = 'Invalid URL';
  }
  if (reason) {
    reader.problem(
      `[${reader.scope}] Invalid url [${redactUrl(maskUserinfo(url), '[REDACTED]')}] received for field [url]. Error: ${reason}`,
    );
    return undefined;
  }
  return url;
}

function readModelId(reader: SettingsReader): string | undefined {
  const id = reader.takeString('model_id');
  if (id !== undefined && (!MODEL_ID.test(id) || id.includes('..'))) {
    reader.problem(
      `[${reader.scope}] Invalid value [${id}] received for field [model_id]. It must be a Hugging Face model id such as [sentence-transformers/all-MiniLM-L6-v2]`,
    );
    return undefined;
  }
  return id;
}

function readSimilarity(reader: SettingsReader): Similarity | undefined {
  const value = reader.takeString('similarity');
  if (value === undefined) return undefined;
  const lower = value.toLowerCase();
  if (!(SIMILARITIES as readonly string[]).includes(lower)) {
    reader.problem(
      `[${reader.scope}] Invalid value [${value}] received. [similarity] must be one of [${SIMILARITIES.join(', ')}]`,
    );
    return undefined;
  }
  return lower as Similarity;
}

/** The longest text a `prefix_strings` entry may hold: room for an instruction, not for a document. */
const MAX_PREFIX_LENGTH = 1024;

/**
 * `prefix_strings` (ours; named after the `prefix_strings` of Elasticsearch's trained model configurations, which put
 * e5's `query: ` and `passage: ` before texts): per input type, the text put before each text of a request of that
 * type. Keys are input types in any case, values non-empty strings of at most MAX_PREFIX_LENGTH characters. An empty
 * map is no prefixes (an `_update` giving one removes them).
 */
function readPrefixStrings(reader: SettingsReader): Partial<Record<InputType, string>> | undefined {
  const raw = reader.takeMap('prefix_strings');
  if (raw === undefined) return undefined;
  const out: Partial<Record<InputType, string>> = {};
  const scope = reader.scope;
  for (const [key, value] of Object.entries(raw)) {
    const name = key.trim().toLowerCase() as InputType;
    const field = `prefix_strings.${name}`;
    if (!INPUT_TYPES.includes(name)) {
      reader.problem(
        `[${scope}] Invalid key [${renderSettings(key)}] in [prefix_strings]: its keys are input types, one of [${INPUT_TYPES.join(', ')}]`,
      );
    } else if (out[name] !== undefined) {
      reader.problem(`[${scope}] [prefix_strings] names input type [${name}] more than once`);
    } else if (value === null) {
      continue;
    } else if (typeof value !== 'string') {
      reader.problem(`[${scope}] field [${field}] is not of the expected type; it must be a string`);
    } else if (value === '') {
      reader.problem(`[${scope}] Invalid value empty string. [${field}] must be a non-empty string`);
    } else if (value.length > MAX_PREFIX_LENGTH) {
      reader.problem(
        `[${scope}] Invalid value: [${field}] holds ${value.length} characters; it takes at most ${MAX_PREFIX_LENGTH}`,
      );
    } else {
      out[name] = value;
    }
  }
  return out;
}

/** Settings read as an empty map mean none: not stored, not shown. */
function withoutEmptyMaps(settings: SettingsMap): SettingsMap {
  const prefixes = settings.prefix_strings;
  if (prefixes === undefined || Object.keys(prefixes as SettingsMap).length > 0) return settings;
  const { prefix_strings: _, ...rest } = settings;
  return rest;
}

/** `rate_limit: {requests_per_minute}`, the same for every task type; default 3000. */
function readRateLimit(reader: SettingsReader, context: ReadContext): RateLimit {
  const nested = reader.nested('rate_limit');
  const rpm = nested.takeInteger('requests_per_minute', { kind: 'long', max: Number.MAX_SAFE_INTEGER });
  context.nestedUnknown.push(nested.leftovers());
  return { requests_per_minute: rpm ?? DEFAULT_REQUESTS_PER_MINUTE };
}

const BATCHED = ['text_embedding', 'sparse_embedding', 'rerank'] as const;

/**
 * Every service setting, in the order GET shows them (Elasticsearch's order first). `api_key` is
 * read here too but stored apart, encrypted.
 */
const SERVICE_SETTINGS = {
  url: setting({
    tasks: TASK_TYPES,
    label: 'URL',
    description:
      'The URL to call: an Inference Endpoint, a text-embeddings-inference or text-generation-inference server, or any compatible server. Optional for text_embedding, completion and chat_completion when model_id is given.',
    type: 'str',
    updatable: false,
    required: true,
    read: readUrl,
  }),
  model_id: setting({
    tasks: ['text_embedding', ...GENERATION],
    label: 'Model ID',
    description:
      'A model on Hugging Face. Without url it is the hosted model to call (the serverless API for text_embedding, the router for completion and chat_completion); with url it is sent as `model` to OpenAI-compatible servers.',
    type: 'str',
    updatable: false,
    read: readModelId,
  }),
  protocol: setting({
    tasks: GENERATION,
    label: 'Protocol',
    description:
      'How to talk to the upstream: openai_chat (OpenAI-compatible chat completions, the default), text_generation (TGI native /generate, the default for a url ending in /generate) or text2text_generation (the text2text-generation pipeline, not streamed). chat_completion takes openai_chat only.',
    type: 'str',
    updatable: false,
    read: readProtocol,
  }),
  similarity: setting({
    tasks: ['text_embedding'],
    label: 'Similarity',
    description: 'The similarity measure of the vectors: cosine (the default), dot_product or l2_norm.',
    type: 'str',
    updatable: false,
    read: readSimilarity,
  }),
  dimensions: setting({
    tasks: ['text_embedding'],
    label: 'Dimensions',
    description: 'The number of dimensions of the vectors; learned from the model at creation.',
    type: 'int',
    updatable: false,
    read: (r) => r.takeInteger('dimensions', { max: MAX_INT }),
  }),
  max_input_tokens: setting({
    tasks: ['text_embedding', 'sparse_embedding'],
    label: 'Maximum input tokens',
    description: 'Each input is cut to max_input_tokens × 3 characters before it is sent.',
    type: 'int',
    updatable: false,
    read: (r) => r.takeInteger('max_input_tokens', { max: MAX_INT }),
  }),
  prefix_strings: setting({
    tasks: ['text_embedding'],
    label: 'Prefix strings',
    description:
      'Per input type (ingest, search, classification, clustering), the text put before each text of a request of that type, such as e5\'s "query: " and "passage: "; a request may name only these input types. Updatable; {} removes them.',
    type: 'map',
    updatable: true,
    read: readPrefixStrings,
  }),
  cache: setting({
    tasks: ['text_embedding', 'sparse_embedding'],
    label: 'Cache',
    description:
      'Whether vectors are kept in the embedding cache and answered from it (default true): a text embedded before, by the same upstream with the same settings, costs no upstream call and no rate-limit grant. Updatable.',
    type: 'bool',
    updatable: true,
    read: (r) => r.takeBoolean('cache'),
  }),
  batch_size: setting({
    tasks: BATCHED,
    label: 'Batch size',
    description:
      "Most inputs in one upstream request (1-1024); by default the server's max_client_batch_size when its /info says it, and never above it; lowered at run time when the upstream refuses a batch as too large.",
    type: 'int',
    updatable: true,
    read: (r) => r.takeInteger('batch_size', { max: MAX_BATCH_SIZE }),
  }),
  max_concurrent_requests: setting({
    tasks: BATCHED,
    label: 'Maximum concurrent requests',
    description: `Upstream requests in flight at once for this endpoint (default ${DEFAULT_MAX_CONCURRENT_REQUESTS}); while all are busy, waiting inputs gather into fuller batches.`,
    type: 'int',
    updatable: true,
    read: (r) => r.takeInteger('max_concurrent_requests', { max: MAX_CONCURRENT_REQUESTS }),
  }),
  max_concurrent_streams: setting({
    tasks: GENERATION,
    label: 'Maximum concurrent streams',
    description: `Generations (streamed or not) in flight at once for this endpoint (default ${DEFAULT_MAX_CONCURRENT_STREAMS}); the rest wait in the queue under the request timeout.`,
    type: 'int',
    updatable: true,
    read: (r) => r.takeInteger('max_concurrent_streams', { max: MAX_CONCURRENT_STREAMS }),
  }),
  rate_limit: setting({
    tasks: TASK_TYPES,
    label: 'Rate limit',
    description: `requests_per_minute: upstream requests per minute, evenly spaced (default ${DEFAULT_REQUESTS_PER_MINUTE}).`,
    type: 'map',
    updatable: true,
    read: readRateLimit,
  }),
  api_key: setting({
    tasks: TASK_TYPES,
    label: 'API key',
    description: 'The Hugging Face access token, sent as a Bearer token. Stored encrypted, never shown.',
    type: 'str',
    updatable: true,
    required: true,
    sensitive: true,
    read: (r) => r.takeString('api_key'),
  }),
} as const;

/** Task settings: stored with the endpoint and overridable per request (in the order Elasticsearch shows them). */
const TASK_SETTINGS = {
  return_documents: setting({
    tasks: ['rerank'],
    label: 'Return documents',
    description: 'Whether each result carries its text.',
    type: 'bool',
    updatable: true,
    read: (r) => r.takeBoolean('return_documents'),
  }),
  top_n: setting({
    tasks: ['rerank'],
    label: 'Top N',
    description: 'How many of the best-scored documents to return.',
    type: 'int',
    updatable: true,
    read: (r) => r.takeInteger('top_n', { max: MAX_INT }),
  }),
  max_tokens: setting({
    tasks: GENERATION,
    label: 'Maximum tokens',
    description: 'Most tokens to generate (max_tokens for OpenAI chat, max_new_tokens for TGI native and text2text).',
    type: 'int',
    updatable: true,
    read: (r) => r.takeInteger('max_tokens', { max: MAX_INT }),
  }),
  max_new_tokens: setting({
    tasks: GENERATION,
    label: 'Maximum new tokens',
    description: "The same as max_tokens, by TGI's name; give one or the other.",
    type: 'int',
    updatable: true,
    read: (r) => r.takeInteger('max_new_tokens', { max: MAX_INT }),
  }),
  temperature: setting({
    tasks: GENERATION,
    label: 'Temperature',
    description: 'Sampling temperature, 0 to 100; 0 asks for greedy decoding.',
    type: 'float',
    updatable: true,
    read: (r) => r.takeNumber('temperature', SAMPLING_LIMITS.temperature),
  }),
  top_p: setting({
    tasks: GENERATION,
    label: 'Top P',
    description: 'Nucleus sampling: above 0, at most 1 (1 means no filtering and is not sent).',
    type: 'float',
    updatable: true,
    read: (r) => r.takeNumber('top_p', SAMPLING_LIMITS.top_p),
  }),
  top_k: setting({
    tasks: GENERATION,
    label: 'Top K',
    description:
      'Sample among the k most likely tokens; a positive integer. Sent to TGI native and text2text, and to OpenAI-compatible servers as an extra field (vLLM reads it).',
    type: 'int',
    updatable: true,
    read: (r) => r.takeInteger('top_k', { max: MAX_INT }),
  }),
  repetition_penalty: setting({
    tasks: GENERATION,
    label: 'Repetition penalty',
    description:
      'Above 0; 1 means no penalty. Sent to TGI native and text2text, and to OpenAI-compatible servers as an extra field (vLLM reads it).',
    type: 'float',
    updatable: true,
    read: (r) => r.takeNumber('repetition_penalty', SAMPLING_LIMITS.repetition_penalty),
  }),
  seed: setting({
    tasks: GENERATION,
    label: 'Seed',
    description: 'The random seed of sampling, 0 or above. Not for text2text_generation, whose pipeline takes none.',
    type: 'int',
    updatable: true,
    read: (r) => r.takeInteger('seed', { allowZero: true, max: Number.MAX_SAFE_INTEGER }),
  }),
  stop: setting({
    tasks: GENERATION,
    label: 'Stop sequences',
    description: `Up to ${SAMPLING_LIMITS.stopSequences} strings that end the generation.`,
    type: 'list',
    updatable: true,
    read: (r) => r.takeStringList('stop', { max: SAMPLING_LIMITS.stopSequences }),
  }),
} as const;

type Definitions = Record<string, SettingDefinition<unknown>>;
type ValueOf<D> = D extends SettingDefinition<infer V, readonly TaskType[]> ? V : never;
type KeysFor<Defs extends Definitions, T extends TaskType> = {
  [K in keyof Defs]: T extends Defs[K]['tasks'][number] ? K : never;
}[keyof Defs];
type SettingsFrom<Defs extends Definitions, T extends TaskType> = { [K in KeysFor<Defs, T>]?: ValueOf<Defs[K]> };

/** The stored service settings of a task type (the api key is kept apart, encrypted). */
export type ServiceSettingsOf<T extends TaskType> = Omit<
  SettingsFrom<typeof SERVICE_SETTINGS, T>,
  'api_key' | 'rate_limit'
> & {
  rate_limit: RateLimit;
};
export type TaskSettingsOf<T extends TaskType> = SettingsFrom<typeof TASK_SETTINGS, T>;
interface Secrets {
  api_key: string;
}

const has = (definition: SettingDefinition<unknown>, taskType: TaskType) => definition.tasks.includes(taskType);

/** Reads every setting of the task type from `reader`, in definition order, into a new map. */
function readAll(
  definitions: Definitions,
  reader: SettingsReader,
  context: ReadContext,
  keys?: (key: string) => boolean,
): SettingsMap {
  const out: SettingsMap = {};
  for (const [key, definition] of Object.entries(definitions)) {
    if (!has(definition, context.taskType) || (keys && !keys(key))) continue;
    const value = definition.read(reader, context);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

export interface ReadServiceSettings<T extends TaskType> {
  settings: ServiceSettingsOf<T>;
  secrets: Partial<Secrets>;
  /** Keys nobody knew: the settings' own first, then those of nested maps. */
  unknown: SettingsMap[];
}

/**
 * Whether an Authorization header value can carry `key`: printable ASCII and Latin-1 above the
 * C1 controls, nothing else. A C0 control (tab, CR, LF, NUL, …), DEL or anything above U+00FF
 * makes undici refuse the header at call time, which would turn every request of the endpoint
 * into a retried network error. C1 controls it would send, but no real key holds one, and a
 * server may read U+0085 as a line break.
 */
function headerCarries(key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i);
    if (unit < 0x20 || (unit >= 0x7f && unit < 0xa0) || unit > 0xff) return false;
  }
  return true;
}

/**
 * The api key of a PUT or `_update`, reported under `secret_settings` as Elasticsearch does. A key
 * shorter than the masking minimum is refused: an upstream that echoed it would get it back to the
 * caller, since text that short cannot be masked without mangling every message (a Hugging Face
 * token is 37 characters). So is a key no header can carry (headerCarries). The messages never
 * quote the key (docs/operations.md#storage-and-secrets).
 */
function readApiKey(reader: SettingsReader, problems: string[], required: boolean): string | undefined {
  const apiKey = new SettingsReader({ api_key: reader.takeRaw('api_key') }, 'secret_settings', problems).takeString(
    'api_key',
    { required },
  );
  if (apiKey === undefined) return undefined;
  const before = problems.length;
  if (apiKey.length < MIN_SECRET_LENGTH)
    problems.push(`[secret_settings] Invalid value: [api_key] must be at least ${MIN_SECRET_LENGTH} characters long`);
  if (!headerCarries(apiKey)) {
    problems.push(
      '[secret_settings] Invalid value: [api_key] must hold only characters an HTTP header can carry (no control characters, none above U+00FF)',
    );
  }
  return problems.length === before ? apiKey : undefined;
}

/**
 * Reads a task type's service settings (a PUT's, or stored ones read back) into their typed
 * form; every problem is appended to `problems`.
 */
export function readServiceSettings<T extends TaskType>(
  taskType: T,
  raw: SettingsMap | undefined,
  problems: string[],
  from: 'request' | 'store' = 'request',
): ReadServiceSettings<T> {
  const reader = new SettingsReader(raw, 'service_settings', problems);
  const context: ReadContext = { taskType, nestedUnknown: [] };
  const all = readAll(SERVICE_SETTINGS, reader, context, (key) => key !== 'api_key');
  // A request carries the api key among its settings; the store keeps it apart, encrypted.
  const apiKey = from === 'request' ? readApiKey(reader, problems, true) : undefined;
  if (taskType === 'sparse_embedding') all.max_input_tokens ??= SPARSE_MAX_INPUT_TOKENS;
  if (taskType === 'completion' || taskType === 'chat_completion') checkGeneration(taskType, all, problems);
  return {
    // The one place a map becomes its type: every key in it was read by its definition above.
    settings: withoutEmptyMaps(all) as ServiceSettingsOf<T>,
    secrets: apiKey === undefined ? {} : { api_key: apiKey },
    unknown: [reader.leftovers(), ...context.nestedUnknown],
  };
}

/** The two names of the generated length: OpenAI's and TGI's. */
const LENGTH_KEYS = ['max_tokens', 'max_new_tokens'] as const;

/**
 * Reads a task type's task settings (stored, a PUT's or `_update`'s, or a request's overrides). One settings object
 * gives the length by one name only: both at once would leave it unclear which counts.
 */
export function readTaskSettings<T extends TaskType>(
  taskType: T,
  raw: SettingsMap | null | undefined,
  problems: string[],
): { settings: TaskSettingsOf<T>; unknown: SettingsMap } {
  const reader = new SettingsReader(raw, 'task_settings', problems);
  const settings = readAll(TASK_SETTINGS, reader, { taskType, nestedUnknown: [] });
  if (LENGTH_KEYS.every((key) => settings[key] !== undefined)) {
    problems.push(
      '[task_settings] [max_tokens] and [max_new_tokens] are the same setting (the most tokens to generate); give one of them',
    );
  }
  return { settings: settings as TaskSettingsOf<T>, unknown: reader.leftovers() };
}

/**
 * Task settings `over` the `base` ones (an `_update`'s over the stored, a request's over the endpoint's): a length
 * given by either name replaces the base's, by either name.
 */
export function mergeTaskSettings(base: SettingsMap, over: SettingsMap): SettingsMap {
  const merged = { ...base };
  if (LENGTH_KEYS.some((key) => over[key] !== undefined)) for (const key of LENGTH_KEYS) delete merged[key];
  return { ...merged, ...over };
}

/**
 * Task settings the endpoint's protocol has no field for (docs/api.md#generation-parameters-by-protocol): the
 * text2text-generation pipeline hands its parameters to transformers' `generate()`, which has no `seed` and refuses
 * keyword arguments it does not know.
 */
export function checkProtocolTaskSettings(protocol: Protocol, settings: { seed?: number }, problems: string[]): void {
  if (protocol === 'text2text_generation' && settings.seed !== undefined) {
    problems.push(
      '[task_settings] [seed] is not supported by protocol [text2text_generation]: the text2text-generation pipeline takes no seed',
    );
  }
}

/**
 * An `_update`'s service settings over the stored ones: updatable settings are read, the api key
 * replaces the secret, and any other known setting is refused as fixed at creation.
 */
export function updateServiceSettings(
  taskType: TaskType,
  current: SettingsMap,
  raw: SettingsMap | undefined,
  problems: string[],
): { settings: SettingsMap; apiKey: string | undefined; unknown: SettingsMap[] } {
  const reader = new SettingsReader(raw, 'service_settings', problems);
  const context: ReadContext = { taskType, nestedUnknown: [] };
  const updatable = (key: string) =>
    key !== 'api_key' && SERVICE_SETTINGS[key as keyof typeof SERVICE_SETTINGS].updatable && reader.has(key);
  const changed = readAll(SERVICE_SETTINGS, reader, context, updatable);
  let apiKey: string | undefined;
  if (reader.has('api_key')) apiKey = readApiKey(reader, problems, false);
  for (const [key, definition] of Object.entries(SERVICE_SETTINGS)) {
    if (!definition.updatable && has(definition, taskType) && reader.has(key)) {
      reader.drop(key);
      problems.push(
        `[service_settings] setting [${key}] cannot be updated; create a new inference endpoint to change it`,
      );
    }
  }
  return {
    settings: withoutEmptyMaps({ ...current, ...changed }),
    apiKey,
    unknown: [reader.leftovers(), ...context.nestedUnknown],
  };
}

/** How `_services` names a map setting: by its one field, as Elasticsearch does. */
const DESCRIBED_AS: Partial<Record<string, { key: string; type: SettingDefinition<unknown>['type'] }>> = {
  rate_limit: { key: 'rate_limit.requests_per_minute', type: 'int' },
};

/**
 * The service settings as `GET /_inference/_services` lists them, from the definitions above:
 * each with its label, description and flags, and the task types (of those served) that read it.
 */
export function describeServiceSettings(served: readonly TaskType[]): Record<string, SettingDescription> {
  const out: Record<string, SettingDescription> = {};
  for (const [key, definition] of Object.entries(SERVICE_SETTINGS) as Array<[string, SettingDefinition<unknown>]>) {
    const tasks = served.filter((t) => has(definition, t));
    if (tasks.length === 0) continue;
    const named = DESCRIBED_AS[key];
    out[named?.key ?? key] = {
      description: definition.description,
      label: definition.label,
      required: definition.required ?? false,
      sensitive: definition.sensitive ?? false,
      updatable: definition.updatable,
      type: named?.type ?? definition.type,
      supported_task_types: tasks,
    };
  }
  return out;
}

/**
 * What the server said of itself at creation (docs/api.md#what-the-server-says-of-itself): stored beside the settings,
 * shown by GET after them, never given (a PUT or `_update` that names it is refused as an unknown setting).
 */
export const SERVER_INFO = 'server_info';

/** The service settings as GET shows them: definition order, never a secret, then what the server said of itself. */
export function viewServiceSettings(taskType: TaskType, stored: SettingsMap): SettingsMap {
  const view: SettingsMap = {};
  for (const [key, definition] of Object.entries(SERVICE_SETTINGS)) {
    if (definition.sensitive || !has(definition, taskType) || stored[key] === undefined) continue;
    view[key] =
      key === 'rate_limit' ? { requests_per_minute: (stored[key] as RateLimit).requests_per_minute } : stored[key];
  }
  if (stored[SERVER_INFO] !== undefined) view[SERVER_INFO] = stored[SERVER_INFO];
  return view;
}

const VIEW_TYPES = {
  str: () => Type.String(),
  int: () => Type.Integer(),
  float: () => Type.Number(),
  bool: () => Type.Boolean(),
  map: () => Type.Object({}, { additionalProperties: true }),
  list: () => Type.Array(Type.Unknown()),
} as const;

/**
 * The service settings GET shows, from the definition table (their one source): every setting
 * that is not a secret, with its description, for the API document. Open, so a setting added
 * later never makes an answer invalid.
 */
export const SERVICE_SETTINGS_VIEW = Type.Object(
  {
    ...Object.fromEntries(
      (Object.entries(SERVICE_SETTINGS) as Array<[string, SettingDefinition<unknown>]>)
        .filter(([, d]) => !d.sensitive)
        .map(([key, d]) => [
          key,
          Type.Optional(
            key === 'rate_limit'
              ? Type.Object(
                  { requests_per_minute: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) },
                  { additionalProperties: false, description: d.description },
                )
              : { ...VIEW_TYPES[d.type](), description: d.description },
          ),
        ]),
    ),
    [SERVER_INFO]: Type.Optional(
      Type.Object(
        {
          server: Type.Union([Type.Literal('text-embeddings-inference'), Type.Literal('text-generation-inference')]),
          model_id: Type.Optional(Type.String()),
          model_sha: Type.Optional(Type.String()),
          model_type: Type.Optional(
            Type.Union([Type.Literal('embedding'), Type.Literal('reranker'), Type.Literal('classifier')]),
          ),
          pooling: Type.Optional(Type.String()),
          version: Type.Optional(Type.String()),
          max_client_batch_size: Type.Optional(Type.Integer({ minimum: 1 })),
          max_input_length: Type.Optional(Type.Integer({ minimum: 1 })),
          auto_truncate: Type.Optional(Type.Boolean()),
          max_batch_tokens: Type.Optional(Type.Integer({ minimum: 1 })),
          max_concurrent_requests: Type.Optional(Type.Integer({ minimum: 1 })),
          max_input_tokens: Type.Optional(Type.Integer({ minimum: 1 })),
          max_total_tokens: Type.Optional(Type.Integer({ minimum: 1 })),
        },
        {
          additionalProperties: false,
          description:
            "Read only: what a text-embeddings-inference or text-generation-inference server said of itself at GET /info when the endpoint was created (or its api key updated), under the server's own field names. Its limits bound the endpoint's batch_size, input length and concurrency.",
        },
      ),
    ),
  },
  { additionalProperties: true, description: 'The service settings, never the api key.' },
);
