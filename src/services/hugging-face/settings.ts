// hugging_face service and task settings: validation, defaults and the public view (SPEC §3).
import { errors } from '../../errors.js';
import { MAX_INT, SettingsReader } from '../../settings.js';
import type { SettingsMap } from '../../store/types.js';
import type { TaskType } from '../../task-types.js';
import type { InferenceService, ParsedServiceConfig, ServiceConfig } from '../types.js';
import { embed, embeddingUrl, truncateInput } from './embeddings.js';

export const SERVICE_NAME = 'hugging_face';
export const SIMILARITIES = ['cosine', 'dot_product', 'l2_norm'] as const;
export type Similarity = (typeof SIMILARITIES)[number];
export const DEFAULT_REQUESTS_PER_MINUTE = 3000;
/** Texts per upstream request unless the endpoint sets `batch_size` (ours). */
export const DEFAULT_BATCH_SIZE = 20;
export const MAX_BATCH_SIZE = 1024;

/** Task types this build accepts; the others answer "does not support task type" until they are built. */
export const SUPPORTED_TASK_TYPES: readonly TaskType[] = ['text_embedding'];

export interface HfServiceSettings {
  url?: string;
  model_id?: string;
  similarity?: Similarity;
  dimensions?: number;
  max_input_tokens?: number;
  /** Most texts in one upstream request (ours); lowered at run time when the upstream says a batch is too large. */
  batch_size?: number;
  rate_limit: { requests_per_minute: number };
}

export interface HfSecrets {
  api_key: string;
}

/** A Hugging Face repository id: `owner/name` or `name`; it becomes part of a URL path. */
const MODEL_ID = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\/[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)?$/;

/** A url as it may be echoed: a password in it becomes [REDACTED]. */
const maskUserinfo = (url: string) => url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@]*):[^/@]*@/i, '$1:[REDACTED]@');

function readUrl(reader: SettingsReader): string | undefined {
  const url = reader.takeString('url');
  if (url === undefined) return undefined;
  let reason: string | undefined;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      reason = `unsupported scheme [${parsed.protocol.slice(0, -1)}]; the url must use http or https`;
    } else if (parsed.username || parsed.password) {
      // A credential in the url would be stored in clear and shown by GET: it belongs in api_key.
      reason = 'credentials in the url are not allowed; put the token in [api_key]';
    }
  } catch {
    reason = 'Invalid URL';
  }
  if (reason) {
    reader.problem(`[${reader.scope}] Invalid url [${maskUserinfo(url)}] received for field [url]. Error: ${reason}`);
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
    reader.problem(`[${reader.scope}] Invalid value [${value}] received. [similarity] must be one of [${SIMILARITIES.join(', ')}]`);
    return undefined;
  }
  return lower as Similarity;
}

/** rate_limit: `{requests_per_minute}`, default 3000; returns its own leftovers too. */
function readRateLimit(reader: SettingsReader, problems: string[]): { value: { requests_per_minute: number }; unknown: SettingsMap } {
  const rateLimit = new SettingsReader(reader.takeMap('rate_limit'), 'rate_limit', problems);
  const rpm = rateLimit.takeInteger('requests_per_minute', { kind: 'long', max: Number.MAX_SAFE_INTEGER });
  return { value: { requests_per_minute: rpm ?? DEFAULT_REQUESTS_PER_MINUTE }, unknown: rateLimit.leftovers() };
}

function readTaskSettings(taskType: TaskType, raw: SettingsMap | undefined, problems: string[]): { value: SettingsMap; unknown: SettingsMap } {
  const reader = new SettingsReader(raw, 'task_settings', problems);
  const value: SettingsMap = {};
  if (taskType === 'rerank') {
    const topN = reader.takeInteger('top_n', { max: MAX_INT });
    const returnDocuments = reader.takeBoolean('return_documents');
    if (topN !== undefined) value.top_n = topN;
    if (returnDocuments !== undefined) value.return_documents = returnDocuments;
  }
  return { value, unknown: reader.leftovers() };
}

export const huggingFaceService: InferenceService = {
  name: SERVICE_NAME,
  taskTypes: SUPPORTED_TASK_TYPES,

  parseCreate(taskType, serviceSettingsRaw, taskSettingsRaw, problems): ParsedServiceConfig {
    const reader = new SettingsReader(serviceSettingsRaw, 'service_settings', problems);
    const urlGiven = reader.has('url');
    const modelIdGiven = reader.has('model_id');
    const url = readUrl(reader);
    const modelId = readModelId(reader);
    // Hosted mode (model_id without url) exists for embeddings; every other task needs a url.
    const urlRequired = !(taskType === 'text_embedding' && modelIdGiven);
    if (!urlGiven && urlRequired) reader.missing('url');
    const similarity = readSimilarity(reader);
    const dimensions = reader.takeInteger('dimensions', { max: MAX_INT });
    const maxInputTokens = reader.takeInteger('max_input_tokens', { max: MAX_INT });
    const batchSize = reader.takeInteger('batch_size', { max: MAX_BATCH_SIZE });
    const rateLimit = readRateLimit(reader, problems);

    const secretsReader = new SettingsReader({ api_key: reader.takeRaw('api_key') }, 'secret_settings', problems);
    const apiKey = secretsReader.takeString('api_key', { required: true });
    const task = readTaskSettings(taskType, taskSettingsRaw, problems);

    const settings: HfServiceSettings = { rate_limit: rateLimit.value };
    if (url !== undefined) settings.url = url;
    if (modelId !== undefined) settings.model_id = modelId;
    if (similarity !== undefined) settings.similarity = similarity;
    if (dimensions !== undefined) settings.dimensions = dimensions;
    if (maxInputTokens !== undefined) settings.max_input_tokens = maxInputTokens;
    if (batchSize !== undefined) settings.batch_size = batchSize;
    return {
      serviceSettings: settings as unknown as SettingsMap,
      secrets: apiKey === undefined ? {} : { api_key: apiKey },
      taskSettings: task.value,
      unknown: [reader.leftovers(), rateLimit.unknown, task.unknown],
    };
  },

  parseUpdate(taskType, current: ServiceConfig, serviceSettingsRaw, taskSettingsRaw, problems): ParsedServiceConfig {
    const reader = new SettingsReader(serviceSettingsRaw, 'service_settings', problems);
    const serviceSettings = { ...current.serviceSettings };
    const secrets = { ...current.secrets };
    let rateLimitUnknown: SettingsMap = {};
    if (reader.has('rate_limit')) {
      const rateLimit = readRateLimit(reader, problems);
      serviceSettings.rate_limit = rateLimit.value;
      rateLimitUnknown = rateLimit.unknown;
    }
    if (reader.has('batch_size')) {
      const batchSize = reader.takeInteger('batch_size', { max: MAX_BATCH_SIZE });
      if (batchSize !== undefined) serviceSettings.batch_size = batchSize;
    }
    if (reader.has('api_key')) {
      const apiKey = new SettingsReader({ api_key: reader.takeRaw('api_key') }, 'secret_settings', problems).takeString('api_key');
      if (apiKey !== undefined) secrets.api_key = apiKey;
    }
    for (const key of ['url', 'model_id', 'similarity', 'dimensions', 'max_input_tokens']) {
      if (reader.has(key)) {
        reader.drop(key);
        problems.push(`[service_settings] setting [${key}] cannot be updated; create a new inference endpoint to change it`);
      }
    }
    let taskSettings = current.taskSettings;
    let taskUnknown: SettingsMap = {};
    if (taskSettingsRaw !== undefined) {
      const task = readTaskSettings(taskType, taskSettingsRaw, problems);
      taskSettings = { ...current.taskSettings, ...task.value };
      taskUnknown = task.unknown;
    }
    return { serviceSettings, secrets, taskSettings, unknown: [reader.leftovers(), rateLimitUnknown, taskUnknown] };
  },

  viewServiceSettings(_taskType, raw): SettingsMap {
    const s = raw as unknown as HfServiceSettings;
    const view: SettingsMap = {};
    if (s.url !== undefined) view.url = s.url;
    if (s.model_id !== undefined) view.model_id = s.model_id;
    if (s.similarity !== undefined) view.similarity = s.similarity;
    if (s.dimensions !== undefined) view.dimensions = s.dimensions;
    if (s.max_input_tokens !== undefined) view.max_input_tokens = s.max_input_tokens;
    if (s.batch_size !== undefined) view.batch_size = s.batch_size;
    view.rate_limit = { requests_per_minute: s.rate_limit.requests_per_minute };
    return view;
  },

  withModelDetails(_taskType, raw, dimensions): SettingsMap {
    const s = { ...(raw as unknown as HfServiceSettings) };
    if (dimensions !== undefined) {
      if (s.dimensions !== undefined && s.dimensions !== dimensions) {
        throw errors.validation([
          `[service_settings] The configured [dimensions] [${s.dimensions}] do not match the [${dimensions}] dimensions of the model's embeddings`,
        ]);
      }
      s.dimensions = dimensions;
    }
    s.similarity ??= 'cosine';
    return s as unknown as SettingsMap;
  },

  requestsPerMinute(raw): number {
    return (raw as unknown as HfServiceSettings).rate_limit.requests_per_minute;
  },

  batchSize(raw): number {
    return (raw as unknown as HfServiceSettings).batch_size ?? DEFAULT_BATCH_SIZE;
  },

  upstreamUrl(raw, deps): string {
    return embeddingUrl(raw as unknown as HfServiceSettings, deps.hfApiBase);
  },

  prepareInput(raw, text): string {
    return truncateInput(text, raw as unknown as HfServiceSettings);
  },

  embed(endpoint, deps, texts, signal) {
    return embed(
      deps.transport,
      {
        inferenceId: endpoint.record.inferenceId,
        settings: endpoint.record.serviceSettings as unknown as HfServiceSettings,
        secrets: endpoint.secrets as unknown as HfSecrets,
      },
      deps.hfApiBase,
      texts,
      signal,
    );
  },
};
