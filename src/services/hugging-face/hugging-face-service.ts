// The hugging_face service: its settings (hugging-face-settings.ts), and each stored endpoint bound to its task type's
// wire (the *-wire.ts modules).
import { errors } from '../../errors.js';
import { renderSettings } from '../../settings-reader.js';
import type { SettingsMap } from '../../store/endpoint-store.js';
import { TASK_TYPES as ALL_TASK_TYPES, type TaskType } from '../../inference-task-type.js';
import type {
  BoundEndpoint,
  InferenceService,
  ModelDetails,
  ParsedServiceConfig,
  TaskSettingsByType,
} from '../inference-service.js';
import type { HttpTransport } from '../upstream/http-transport.js';
import { NO_TELEMETRY, type Telemetry } from '../../telemetry.js';
import { maskingFailures } from './call.js';
import { generationWire } from './generation-wire.js';
import { rerankWire } from './rerank-wire.js';
import {
  checkProtocolTaskSettings,
  DEFAULT_MAX_CONCURRENT_REQUESTS,
  DEFAULT_MAX_CONCURRENT_STREAMS,
  describeServiceSettings,
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

/** A stored endpoint, as the service is given it to bind. */
type StoredEndpoint = Parameters<InferenceService['bind']>[0];

function rejectBadStored(inferenceId: string, problems: string[]): void {
  if (problems.length > 0)
    throw new Error(`the stored settings of endpoint [${inferenceId}] are not valid: ${problems.join('; ')}`);
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
    const wire = wires[taskType]({
      inferenceId,
      settings,
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
        batchSize: dispatch.batch_size,
        // A generation holds its slot for as long as it streams: its cap is max_concurrent_streams.
        maxConcurrentRequests: generating
          ? (dispatch.max_concurrent_streams ?? DEFAULT_MAX_CONCURRENT_STREAMS)
          : (dispatch.max_concurrent_requests ?? DEFAULT_MAX_CONCURRENT_REQUESTS),
      },
      upstreamUrls: wire.upstreamUrls,
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
      if (taskType !== 'text_embedding') return raw;
      const settings = { ...raw } as SettingsMap & ServiceSettingsOf<'text_embedding'>;
      // What the creation check learned stands, over any dimensions given: Elasticsearch's hugging_face service has no
      // dimensions_set_by_user, so its validator stores the model's length and never compares (docs/api.md#dimensions).
      if (details?.dimensions !== undefined) settings.dimensions = details.dimensions;
      settings.similarity ??= 'cosine';
      return settings;
    },

    bind(endpoint): BoundEndpoint {
      return bindAs(endpoint.taskType, endpoint);
    },
  };
}
