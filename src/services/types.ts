// What every inference service (hugging_face now, others later) provides to the endpoint registry.
import type { SettingsMap } from '../store/types.js';
import type { TaskType } from '../task-types.js';

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
}
