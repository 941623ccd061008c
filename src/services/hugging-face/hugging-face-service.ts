// The hugging_face service: its settings (hugging-face-settings.ts), and each stored endpoint bound to its task type's
// wire (the *-wire.ts modules).
import { cacheScope } from '../../cache/embedding-cache.js';
import { errors } from '../../errors.js';
import { renderSettings } from '../../settings-reader.js';
import type { SettingsMap } from '../../store/endpoint-store.js';
import { TASK_TYPES as ALL_TASK_TYPES, type TaskType } from '../../inference-task-type.js';
import type {
  BoundEndpoint,
  InferenceService,
  ModelDetails,
  ParsedServiceConfig,
  StoredEndpoint,
  TaskSettingsByType,
} from '../inference-service.js';
import { SendError } from '../send-error.js';
import type { HttpTransport } from '../upstream/http-transport.js';
import { NO_TELEMETRY, type Telemetry } from '../../telemetry.js';
import { maskingFailures } from './call.js';
import { missingChatTemplate } from './hugging-face-errors.js';
import { generationWire } from './generation-wire.js';
import { rerankWire } from './rerank-wire.js';
import {
  checkProtocolTaskSettings,
  DEFAULT_MAX_CONCURRENT_REQUESTS,
  DEFAULT_MAX_CONCURRENT_STREAMS,
  describeServiceSettings,
  MAX_BATCH_SIZE,
  SERVER_INFO,
  mergeTaskSettings,
  protocolOf,
  readServiceSettings,
  readTaskSettings,
  SERVICE_NAME,
  SERVICE_SETTINGS_VIEW,
  updateServiceSettings,
  viewServiceSettings,
  type ServiceSettingsOf,
} from './hugging-face-settings.js';
import { fetchServerInfo, servesTaskRefusal, storedServerInfo, type ServerInfo } from './server-info.js';
import { sparseEmbeddingWire } from './sparse-embedding-wire.js';
import type { TaskWire, WireContext } from './task-wire.js';
import { textEmbeddingWire } from './text-embedding-wire.js';

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

/** The task types this build serves: every one of the API, in its order. */
const TASK_TYPES: readonly TaskType[] = ALL_TASK_TYPES;

/** `120000` → `120s`, `1500` → `1500ms`: a duration as UPSTREAM_TIMEOUT is written. */
const durationText = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

const isGeneration = (taskType: TaskType) => taskType === 'completion' || taskType === 'chat_completion';

/** Task settings a generation endpoint's protocol has no field for (see checkProtocolTaskSettings). */
function checkProtocol(
  taskType: TaskType,
  serviceSettings: SettingsMap,
  taskSettings: SettingsMap,
  problems: string[],
) {
  if (!isGeneration(taskType)) return;
  // Both were read by their definitions: a url here is a valid one.
  checkProtocolTaskSettings(protocolOf(serviceSettings), taskSettings, problems);
}

/** Each task type's wire, as one service makes them. */
type TaskWires = { [T in TaskType]: TaskWire<T> };

/**
 * The settings the wire works with: a TEI that refuses inputs longer than its max_input_length (it does unless started
 * with --auto-truncate) has them cut to that length before they are sent, or to max_input_tokens if that is lower.
 */
function withinInputLimit<T extends TaskType>(
  taskType: T,
  settings: ServiceSettingsOf<T>,
  info: ServerInfo | undefined,
): ServiceSettingsOf<T> {
  if (taskType !== 'text_embedding' && taskType !== 'sparse_embedding') return settings;
  const limit = info?.auto_truncate === true ? undefined : info?.max_input_length;
  if (limit === undefined) return settings;
  const own = (settings as ServiceSettingsOf<'text_embedding'>).max_input_tokens;
  return { ...settings, max_input_tokens: own === undefined ? limit : Math.min(own, limit) };
}

/**
 * What determines an embedding endpoint's vectors besides the text as sent (docs/embedding-cache.md#the-key): the
 * service, the task type, the urls called (a hosted model's url names the model), the model id, the dimensions, and
 * what the server said of its model at creation (its id, revision, pooling, version, truncation). The text as sent
 * already carries the input type's prefix and the cut to the input limit. Never the api key: two keys for one server
 * get the same vectors.
 */
function cacheOf(
  taskType: TaskType,
  stored: ServiceSettingsOf<TaskType>,
  info: ServerInfo | undefined,
  urls: readonly string[],
): BoundEndpoint['cache'] {
  if (taskType !== 'text_embedding' && taskType !== 'sparse_embedding') return undefined;
  const settings = stored as ServiceSettingsOf<'text_embedding'>;
  const server = info && [
    info.server,
    info.model_id ?? null,
    info.model_sha ?? null,
    info.pooling ?? null,
    info.version ?? null,
    info.auto_truncate ?? null,
  ];
  const identity = JSON.stringify([
    SERVICE_NAME,
    taskType,
    urls,
    settings.model_id ?? null,
    settings.dimensions ?? null,
    server ?? null,
  ]);
  return { scope: cacheScope(identity), enabled: settings.cache !== false };
}

/** A limit of the endpoint's own (or its default), never above the server's. */
const atMost = (value: number, server: number | undefined) => (server === undefined ? value : Math.min(value, server));

function rejectBadStored(inferenceId: string, problems: string[]): void {
  if (problems.length > 0)
    throw new Error(`the stored settings of endpoint [${inferenceId}] are not valid: ${problems.join('; ')}`);
}

/** The check's failure, with what to do about a model that has no chat template. */
function withChatTemplateHint(err: SendError, taskType: TaskType): SendError {
  const hint =
    taskType === 'chat_completion'
      ? "The model has no chat template, so it cannot chat: a chat_completion endpoint needs a chat or instruct model. A base model serves a completion endpoint on the same url, which then uses the server's /generate."
      : "The model has no chat template: give [protocol] [text_generation], or no protocol, to complete through the server's /generate.";
  const { error } = err.failure;
  return new SendError({ ...err.failure, error: errors.upstream(error.status, `${error.reason}. ${hint}`) });
}

export function createHuggingFaceService(deps: HuggingFaceDeps): InferenceService {
  const context: WireContext = {
    transport: deps.transport,
    hfApiBase: deps.hfApiBase,
    hfRouterBase: deps.hfRouterBase,
    silenceLimit: durationText(deps.upstreamTimeoutMs),
  };
  const telemetry = deps.telemetry ?? NO_TELEMETRY;
  const wires: TaskWires = {
    text_embedding: textEmbeddingWire(context),
    sparse_embedding: sparseEmbeddingWire(context),
    rerank: rerankWire(context),
    completion: generationWire(context),
    chat_completion: generationWire(context),
  };

  /** A stored endpoint bound to its task type's wire, with its settings read as that type's. */
  function bindAs<T extends TaskType>(taskType: T, endpoint: StoredEndpoint): BoundEndpoint<T> {
    const { inferenceId } = endpoint;
    const problems: string[] = [];
    const { settings } = readServiceSettings(taskType, endpoint.serviceSettings, problems, 'store');
    const stored = readTaskSettings(taskType, endpoint.taskSettings, problems).settings;
    rejectBadStored(inferenceId, problems);
    const apiKey = endpoint.secrets.api_key;
    if (typeof apiKey !== 'string') throw new Error(`the stored secrets of endpoint [${inferenceId}] hold no api key`);
    const info = storedServerInfo(endpoint.serviceSettings[SERVER_INFO]);
    const wire = wires[taskType]({
      inferenceId,
      settings: withinInputLimit(taskType, settings, info),
      apiKey,
      telemetry: telemetry.endpoint(inferenceId, taskType),
    });
    const dispatch = settings as ServiceSettingsOf<'text_embedding'> & ServiceSettingsOf<'completion'>;
    const generating = isGeneration(taskType);
    return {
      inferenceId,
      taskType,
      service: SERVICE_NAME,
      chunking: endpoint.chunking,
      dispatch: {
        requestsPerMinute: settings.rate_limit.requests_per_minute,
        // A server that says how many inputs it takes in one request starts there, instead of learning it from refusals.
        batchSize:
          generating || info?.max_client_batch_size === undefined
            ? dispatch.batch_size
            : Math.min(dispatch.batch_size ?? info.max_client_batch_size, info.max_client_batch_size, MAX_BATCH_SIZE),
        // A generation holds its slot for as long as it streams: its cap is max_concurrent_streams.
        maxConcurrentRequests: atMost(
          generating
            ? (dispatch.max_concurrent_streams ?? DEFAULT_MAX_CONCURRENT_STREAMS)
            : (dispatch.max_concurrent_requests ?? DEFAULT_MAX_CONCURRENT_REQUESTS),
          info?.max_concurrent_requests,
        ),
      },
      upstreamUrls: wire.upstreamUrls,
      cache: cacheOf(taskType, settings, info, wire.upstreamUrls),
      operations: maskingFailures(wire.operations, apiKey),
      taskSettings(overrides) {
        // Read by the task type's own definitions: these are that type's task settings.
        if (overrides === null || overrides === undefined || Object.keys(overrides).length === 0)
          return stored as TaskSettingsByType[T];
        const requestProblems: string[] = [];
        const request = readTaskSettings(taskType, overrides, requestProblems);
        checkProtocol(taskType, settings, request.settings, requestProblems);
        if (requestProblems.length > 0) throw errors.validation(requestProblems);
        if (Object.keys(request.unknown).length > 0)
          throw errors.unknownSettings(SERVICE_NAME, renderSettings(request.unknown));
        return mergeTaskSettings(stored, request.settings) as TaskSettingsByType[T];
      },
    };
  }

  return {
    name: SERVICE_NAME,
    taskTypes: TASK_TYPES,
    settingsView: SERVICE_SETTINGS_VIEW,

    describe: () => ({
      service: SERVICE_NAME,
      name: 'Hugging Face',
      task_types: [...TASK_TYPES],
      configurations: describeServiceSettings(TASK_TYPES),
    }),

    parseCreate(taskType, serviceSettingsRaw, taskSettingsRaw, problems): ParsedServiceConfig {
      const service = readServiceSettings(taskType, serviceSettingsRaw, problems);
      const task = readTaskSettings(taskType, taskSettingsRaw, problems);
      checkProtocol(taskType, service.settings, task.settings, problems);
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
        checkProtocol(taskType, current.serviceSettings, task.settings, problems);
        taskSettings = mergeTaskSettings(current.taskSettings, task.settings);
        taskUnknown = task.unknown;
      }
      const secrets = service.apiKey === undefined ? current.secrets : { ...current.secrets, api_key: service.apiKey };
      return { serviceSettings: service.settings, secrets, taskSettings, unknown: [...service.unknown, taskUnknown] };
    },

    viewServiceSettings,

    withModelDetails(taskType, raw, details: ModelDetails | undefined): SettingsMap {
      const settings = { ...raw } as SettingsMap & ServiceSettingsOf<'text_embedding'>;
      if (details?.protocol !== undefined) settings.protocol = details.protocol;
      // What the server said of itself replaces what it said before (an `_update`'s check asks again).
      if (details?.server !== undefined) settings[SERVER_INFO] = details.server;
      if (taskType !== 'text_embedding') return settings;
      // What the creation check learned stands, over any dimensions given: Elasticsearch's hugging_face service has no
      // dimensions_set_by_user, so its validator stores the model's length and never compares (docs/api.md#dimensions).
      if (details?.dimensions !== undefined) settings.dimensions = details.dimensions;
      settings.similarity ??= 'cosine';
      return settings;
    },

    bind(endpoint): BoundEndpoint {
      return bindAs(endpoint.taskType, endpoint);
    },

    async inspect(endpoint, signal, check, { choose }): Promise<ModelDetails> {
      const { taskType, inferenceId, serviceSettings } = endpoint;
      const url = typeof serviceSettings.url === 'string' ? serviceSettings.url : undefined;
      const apiKey = String(endpoint.secrets.api_key);
      // No grant of the rate limit: /info is no inference, and at a low rate a second grant would wait a whole
      // interval, past the PUT's timeout.
      const info = url === undefined ? undefined : await fetchServerInfo(deps.transport, url, apiKey, signal);
      const refusal = info && servesTaskRefusal(taskType, info, inferenceId);
      if (refusal) throw refusal;
      const learned: ModelDetails = info ? { server: info as unknown as SettingsMap } : {};
      const settings = info ? { ...serviceSettings, [SERVER_INFO]: info } : serviceSettings;
      const checked = (over: SettingsMap) => check(bindAs(taskType, { ...endpoint, serviceSettings: over }));
      try {
        return { ...(await checked(settings)), ...learned };
      } catch (err) {
        if (!isGeneration(taskType) || !missingChatTemplate(err)) throw err;
        // A base model: the server's chat route has no template to apply. A completion whose url left the protocol
        // open is sent to the same server's /generate, as Dify's Inference Endpoint mode does; a chat cannot be.
        if (taskType === 'chat_completion' || !choose || url === undefined || serviceSettings.protocol !== undefined)
          throw withChatTemplateHint(err, taskType);
        const protocol = 'text_generation';
        return { ...(await checked({ ...settings, protocol })), ...learned, protocol };
      }
    },
  };
}
