// What every inference service (hugging_face now, others later) provides to the endpoint registry.
import type { EndpointRecord, SettingsMap } from '../store/types.js';
import type { TaskType } from '../task-types.js';
import type { HttpTransport } from './http-transport.js';

/** One vector, with the upstream's own JSON text for it when that can be passed through unchanged. */
export interface Embedding {
  values: number[];
  json?: string;
}

/** A stored endpoint with its secrets decrypted: what a service needs to call its upstream. */
export interface ResolvedEndpoint {
  record: EndpointRecord;
  secrets: SettingsMap;
}

/** What a service's calls go through. */
export interface ServiceDeps {
  transport: HttpTransport;
  /** Base of Hugging Face's serverless API (hosted mode). */
  hfApiBase: string;
}

/** A service's validated view of one endpoint's configuration. */
export interface ServiceConfig {
  serviceSettings: SettingsMap;
  secrets: SettingsMap;
  taskSettings: SettingsMap;
}

/** A parsed configuration plus the keys the service did not know, in the order they are reported. */
export interface ParsedServiceConfig extends ServiceConfig {
  unknown: SettingsMap[];
}

export interface InferenceService {
  readonly name: string;
  readonly taskTypes: readonly TaskType[];
  /** Validates a PUT's `service_settings` and `task_settings`; appends every problem to `problems`. */
  parseCreate(taskType: TaskType, serviceSettings: SettingsMap, taskSettings: SettingsMap, problems: string[]): ParsedServiceConfig;
  /** Applies an `_update` to a stored configuration; appends every problem to `problems`. */
  parseUpdate(
    taskType: TaskType,
    current: ServiceConfig,
    serviceSettings: SettingsMap | undefined,
    taskSettings: SettingsMap | undefined,
    problems: string[],
  ): ParsedServiceConfig;
  /** The service settings as GET shows them, in Elasticsearch's field order, never with secrets. */
  viewServiceSettings(taskType: TaskType, serviceSettings: SettingsMap): SettingsMap;
  /**
   * Settings completed at creation: `dimensions` from the validation call when there was one,
   * `similarity` defaulted. Throws when the model contradicts the configuration.
   */
  withModelDetails(taskType: TaskType, serviceSettings: SettingsMap, dimensions: number | undefined): SettingsMap;
  /** requests_per_minute of the endpoint's rate limit. */
  requestsPerMinute(serviceSettings: SettingsMap): number;
  /** Most inputs in one upstream request. */
  batchSize(serviceSettings: SettingsMap): number;
  /** The URL the endpoint's requests go to. */
  upstreamUrl(serviceSettings: SettingsMap, deps: Pick<ServiceDeps, 'hfApiBase'>): string;
  /** An input as it is sent (cut to the endpoint's input limit). */
  prepareInput(serviceSettings: SettingsMap, text: string): string;
  /** One upstream embedding request; throws BatchSendError (from limiter/batch-queue) on failure. */
  embed(endpoint: ResolvedEndpoint, deps: ServiceDeps, texts: string[], signal: AbortSignal): Promise<Embedding[]>;
}
