// The hugging_face service: its settings (hugging-face-settings.ts) and, for each stored endpoint, the upstream operations of its task type.
import { errors } from '../../errors.js';
import { renderSettings } from '../../settings-reader.js';
import type { SettingsMap } from '../../store/endpoint-store.js';
import { TASK_TYPES as ALL_TASK_TYPES, type TaskType } from '../../inference-task-type.js';
import type {
  BoundEndpoint,
  GenerationOperations,
  InferenceService,
  ModelDetails,
  ParsedServiceConfig,
  RerankOperations,
  SparseEmbeddingOperations,
  TaskOperations,
  TextEmbeddingOperations,
} from '../inference-service.js';
import type { HttpTransport } from '../upstream/http-transport.js';
import { NO_TELEMETRY, type EndpointTelemetry, type Telemetry } from '../../telemetry.js';
import { postJson } from './call.js';
import { chatUrl, openAiChatProtocol } from './chat-completion-wire.js';
import { generationOperations, type GenerationProtocol } from './generation-wire.js';
import { parseRerank, rerankRequest } from './rerank-wire.js';
import {
  DEFAULT_MAX_CONCURRENT_REQUESTS,
  DEFAULT_MAX_CONCURRENT_STREAMS,
  describeServiceSettings,
  protocolOf,
  readServiceSettings,
  readTaskSettings,
  SERVICE_NAME,
  SERVICE_SETTINGS_VIEW,
  updateServiceSettings,
  viewServiceSettings,
  type Secrets,
  type ServiceSettingsOf,
  type TaskSettingsOf,
} from './hugging-face-settings.js';
import { DECODE_BATCH, decodeRequest, decodeUrl, parseDecode, parseSparse, sparseRequest, TokenCache, toTokens } from './sparse-embedding-wire.js';
import { embeddingRequest, embeddingUrl, parseEmbeddings, truncateInput } from './text-embedding-wire.js';
import { generateUrls, textGenerationProtocol } from './text-generation-wire.js';
import { text2textProtocol, text2textUrl } from './text2text-wire.js';

export interface HuggingFaceDeps {
  transport: HttpTransport;
  /** Base of Hugging Face's serverless API (hosted mode). */
  hfApiBase: string;
  /** Base of Hugging Face's router (hosted chat). */
  hfRouterBase: string;
  /** UPSTREAM_TIMEOUT: a stream silent this long after its first event is ended. */
  upstreamTimeoutMs: number;
  /** Where each upstream request is counted and timed. */
  telemetry?: Telemetry;
}

/** Sparse endpoints whose decoded tokens are kept (each up to TOKEN_CACHE_SIZE tokens); the oldest goes first. */
const TOKEN_CACHES = 256;

/** The task types this build serves: every one of the API, in its order. */
const TASK_TYPES: readonly TaskType[] = ALL_TASK_TYPES;

/** `120000` → `120s`, `1500` → `1500ms`: a duration as UPSTREAM_TIMEOUT is written. */
const durationText = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

type GenerationSettings = ServiceSettingsOf<'completion'>;

function rejectBadStored(inferenceId: string, problems: string[]): void {
  if (problems.length > 0) throw new Error(`the stored settings of endpoint [${inferenceId}] are not valid: ${problems.join('; ')}`);
}

export function createHuggingFaceService(deps: HuggingFaceDeps): InferenceService {
  const { transport, hfApiBase, hfRouterBase } = deps;
  const telemetry = deps.telemetry ?? NO_TELEMETRY;

  /** The protocol an endpoint's generations use (the table in docs/hugging-face-protocols.md#text-generation), bound to its urls. */
  const protocolFor = (settings: GenerationSettings): GenerationProtocol => {
    switch (protocolOf(settings)) {
      case 'text_generation':
        return textGenerationProtocol(settings.url!);
      case 'text2text_generation':
        return text2textProtocol(text2textUrl(settings.url, settings.model_id, hfApiBase));
      case 'openai_chat':
        return openAiChatProtocol(chatUrl(settings.url, hfRouterBase), settings.model_id);
    }
  };
  const generation = (inferenceId: string, settings: GenerationSettings, secrets: Secrets, telemetry: EndpointTelemetry): GenerationOperations =>
    generationOperations({
      transport,
      inferenceId,
      apiKey: secrets.api_key,
      protocol: protocolFor(settings),
      silenceLimit: durationText(deps.upstreamTimeoutMs),
      telemetry,
    });

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

  /** Each task type's operations, bound to one endpoint's typed settings and key. */
  const operations: {
    [T in keyof TaskOperations]?: (id: string, settings: ServiceSettingsOf<T>, secrets: Secrets, telemetry: EndpointTelemetry) => TaskOperations[T];
  } = {
    text_embedding: (inferenceId, settings, secrets, telemetry): TextEmbeddingOperations => {
      const call = { url: embeddingUrl(settings, hfApiBase), apiKey: secrets.api_key, inferenceId, telemetry };
      return {
        embed: async (texts, signal) => parseEmbeddings(await postJson(transport, call, embeddingRequest(texts), signal), texts.length, inferenceId, settings.dimensions),
        prepare: (text) => truncateInput(text, settings.max_input_tokens),
      };
    },
    sparse_embedding: (inferenceId, settings, secrets, telemetry): SparseEmbeddingOperations => {
      const url = settings.url!;
      const call = { url, apiKey: secrets.api_key, inferenceId, telemetry };
      const decodeCall = { url: decodeUrl(url), apiKey: secrets.api_key, inferenceId, telemetry };
      const tokens = tokenCacheOf(inferenceId, decodeCall.url);
      return {
        async embed(texts, signal, acquire) {
          const answer = parseSparse(await postJson(transport, call, sparseRequest(texts), signal), texts.length, inferenceId);
          if (answer.kind === 'tokens') return answer.vectors;
          const known = await tokens.lookup(
            answer.vectors.flatMap((v) => v.map(([id]) => id)),
            async (ids) => {
              const tokens: string[] = [];
              // One call per DECODE_BATCH ids, each an upstream request with its own rate-limit grant.
              for (let i = 0; i < ids.length; i += DECODE_BATCH) {
                const part = ids.slice(i, i + DECODE_BATCH);
                await acquire();
                tokens.push(...parseDecode(await postJson(transport, decodeCall, decodeRequest(part), signal), part.length, inferenceId));
              }
              return tokens;
            },
          );
          return answer.vectors.map((ids) => toTokens(ids, (id) => known.get(id)!));
        },
        prepare: (text) => truncateInput(text, settings.max_input_tokens),
      };
    },
    rerank: (inferenceId, settings, secrets, telemetry): RerankOperations => {
      const call = { url: settings.url!, apiKey: secrets.api_key, inferenceId, telemetry };
      return {
        score: async (query, texts, returnText, signal) =>
          parseRerank(await postJson(transport, call, rerankRequest(query, texts, returnText), signal), texts.length, inferenceId),
      };
    },
    completion: generation,
    chat_completion: generation,
  };

  const upstreamUrls = (taskType: TaskType, settings: ServiceSettingsOf<TaskType>): string[] => {
    if (taskType === 'text_embedding') return [embeddingUrl(settings, hfApiBase)];
    if (taskType === 'sparse_embedding') return [settings.url!, decodeUrl(settings.url!)];
    if (taskType === 'completion' || taskType === 'chat_completion') {
      const generation = settings as GenerationSettings;
      switch (protocolOf(generation)) {
        case 'text_generation':
          return Object.values(generateUrls(generation.url!));
        case 'text2text_generation':
          return [text2textUrl(generation.url, generation.model_id, hfApiBase)];
        case 'openai_chat':
          return [chatUrl(generation.url, hfRouterBase)];
      }
    }
    return [settings.url!];
  };

  return {
    name: SERVICE_NAME,
    taskTypes: TASK_TYPES,
    settingsView: SERVICE_SETTINGS_VIEW,

    describe: () => ({ service: SERVICE_NAME, name: 'Hugging Face', task_types: [...TASK_TYPES], configurations: describeServiceSettings(TASK_TYPES) }),

    parseCreate(taskType, serviceSettingsRaw, taskSettingsRaw, problems): ParsedServiceConfig {
      const service = readServiceSettings(taskType, serviceSettingsRaw, problems);
      const task = readTaskSettings(taskType, taskSettingsRaw, problems);
      return {
        serviceSettings: service.settings,
        secrets: service.secrets,
        taskSettings: task.settings,
        unknown: [...service.unknown, task.unknown],
      };
    },

    parseUpdate(taskType, current, serviceSettingsRaw, taskSettingsRaw, problems): ParsedServiceConfig {
      const service = updateServiceSettings(taskType, current.serviceSettings, serviceSettingsRaw, problems);
      let taskSettings = current.taskSettings;
      let taskUnknown: SettingsMap = {};
      if (taskSettingsRaw !== undefined) {
        const task = readTaskSettings(taskType, taskSettingsRaw, problems);
        taskSettings = { ...current.taskSettings, ...task.settings };
        taskUnknown = task.unknown;
      }
      const secrets = service.apiKey === undefined ? current.secrets : { ...current.secrets, api_key: service.apiKey };
      return { serviceSettings: service.settings, secrets, taskSettings, unknown: [...service.unknown, taskUnknown] };
    },

    viewServiceSettings,

    withModelDetails(taskType, raw, details: ModelDetails | undefined): SettingsMap {
      if (taskType !== 'text_embedding') return raw;
      const settings = { ...raw } as SettingsMap & ServiceSettingsOf<'text_embedding'>;
      // A model whose vectors differ from configured dimensions has already failed the validation call.
      settings.dimensions ??= details?.dimensions;
      settings.similarity ??= 'cosine';
      return settings;
    },

    bind(endpoint): BoundEndpoint {
      const { inferenceId, taskType } = endpoint;
      const problems: string[] = [];
      const { settings } = readServiceSettings(taskType, endpoint.serviceSettings, problems, 'store');
      const stored = readTaskSettings(taskType, endpoint.taskSettings, problems).settings;
      rejectBadStored(inferenceId, problems);
      const apiKey = endpoint.secrets.api_key;
      if (typeof apiKey !== 'string') throw new Error(`the stored secrets of endpoint [${inferenceId}] hold no api key`);
      const bindOperations = operations[taskType] as
        | ((id: string, s: typeof settings, k: Secrets, m: EndpointTelemetry) => TaskOperations[typeof taskType])
        | undefined;
      if (!bindOperations) throw errors.unsupportedTaskType(SERVICE_NAME, taskType);
      const dispatch = settings as ServiceSettingsOf<'text_embedding'> & ServiceSettingsOf<'completion'>;
      const generating = taskType === 'completion' || taskType === 'chat_completion';
      return {
        inferenceId,
        taskType,
        service: SERVICE_NAME,
        chunking: endpoint.chunking,
        dispatch: {
          requestsPerMinute: settings.rate_limit.requests_per_minute,
          batchSize: dispatch.batch_size,
          // A generation holds its slot for as long as it streams: its cap is max_concurrent_streams.
          maxConcurrentRequests: generating
            ? (dispatch.max_concurrent_streams ?? DEFAULT_MAX_CONCURRENT_STREAMS)
            : (dispatch.max_concurrent_requests ?? DEFAULT_MAX_CONCURRENT_REQUESTS),
        },
        upstreamUrls: upstreamUrls(taskType, settings),
        operations: bindOperations(inferenceId, settings, { api_key: apiKey }, telemetry.endpoint(inferenceId, taskType)),
        taskSettings(overrides) {
          if (overrides === null || overrides === undefined || Object.keys(overrides).length === 0) return stored as never;
          const requestProblems: string[] = [];
          const request = readTaskSettings(taskType, overrides, requestProblems);
          if (requestProblems.length > 0) throw errors.validation(requestProblems);
          if (Object.keys(request.unknown).length > 0) throw errors.unknownSettings(SERVICE_NAME, renderSettings(request.unknown));
          return { ...(stored as TaskSettingsOf<TaskType>), ...request.settings } as never;
        },
      };
    },
  };
}
