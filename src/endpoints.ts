// The endpoint registry: create, read, update and delete inference endpoints (SPEC §1), free of HTTP.
import { parseChunkingSettings } from './chunking/settings.js';
import { errors } from './errors.js';
import type { SecretBox } from './secrets.js';
import { findService } from './services/index.js';
import type { InferenceService, ResolvedEndpoint, ServiceConfig } from './services/types.js';
import { renderSettings, SettingsReader } from './settings.js';
import type { EndpointRecord, EndpointStore, SettingsMap } from './store/types.js';
import { isChunkedTaskType, parseTaskType, type TaskType } from './task-types.js';

const INFERENCE_ID = /^[a-z0-9](?:[a-z0-9_\-.]*[a-z0-9])?$/;

/** An endpoint as PUT, GET and `_update` show it: Elasticsearch's field order, never a secret. */
export interface EndpointView {
  inference_id: string;
  task_type: TaskType;
  service: string;
  service_settings: SettingsMap;
  task_settings?: SettingsMap;
  chunking_settings?: SettingsMap;
}

export interface DeleteResult {
  acknowledged: boolean;
  pipelines: string[];
  indexes: string[];
  error_message?: string;
}

export function validateInferenceId(id: string): void {
  if (!INFERENCE_ID.test(id)) throw errors.invalidInferenceId(id);
}

/** The first map with keys in it becomes Elasticsearch's "unknown settings" error. */
function rejectUnknown(service: string, maps: readonly SettingsMap[]): void {
  const unknown = maps.find((m) => Object.keys(m).length > 0);
  if (unknown) throw errors.unknownSettings(service, renderSettings(unknown));
}

function throwIfProblems(problems: readonly string[]): void {
  if (problems.length > 0) throw errors.validation(problems);
}

/** The create-time call to the upstream: resolves to the length of the vector the model returns. */
export type ModelProbe = (endpoint: ResolvedEndpoint, timeout: { ms: number; text: string }) => Promise<number>;

/** Told after an endpoint changed or went away, so live state (rate limiters, queues) follows. */
export interface RegistryListener {
  updated(inferenceId: string): void;
  deleted(inferenceId: string): void;
}

/** Refuses an endpoint whose upstream may not be called (throws a validation error). */
export type UpstreamCheck = (record: EndpointRecord) => Promise<void>;

export class EndpointRegistry {
  /** Unset: endpoints are stored without calling the upstream (SKIP_VALIDATION). */
  probe: ModelProbe | undefined;
  upstreamCheck: UpstreamCheck | undefined;
  listener: RegistryListener | undefined;

  constructor(
    private readonly store: EndpointStore,
    private readonly secretBox: SecretBox,
  ) {}

  view(record: EndpointRecord): EndpointView {
    const view: EndpointView = {
      inference_id: record.inferenceId,
      task_type: record.taskType,
      service: record.service,
      service_settings: this.serviceOf(record).viewServiceSettings(record.taskType, record.serviceSettings),
    };
    if (Object.keys(record.taskSettings).length > 0) view.task_settings = record.taskSettings;
    if (record.chunkingSettings) view.chunking_settings = record.chunkingSettings;
    return view;
  }

  /**
   * PUT: validates everything, asks the upstream for the model's dimensions (unless probing is
   * off), then stores the endpoint durably.
   */
  async create(input: {
    pathTaskType?: string;
    inferenceId: string;
    body: SettingsMap;
    timeout: { ms: number; text: string };
  }): Promise<EndpointView> {
    const urlTaskType = input.pathTaskType === undefined ? undefined : parseTaskType(input.pathTaskType);
    validateInferenceId(input.inferenceId);

    const problems: string[] = [];
    const top = new SettingsReader(input.body, 'config', problems);
    const bodyTaskTypeRaw = top.takeRaw('task_type');
    const bodyTaskType = bodyTaskTypeRaw === undefined ? undefined : parseTaskType(String(bodyTaskTypeRaw));
    if (urlTaskType && bodyTaskType && urlTaskType !== bodyTaskType) throw errors.conflictingTaskType(urlTaskType, bodyTaskType);
    const taskType = urlTaskType ?? bodyTaskType;
    if (!taskType) throw errors.missingTaskType();

    const serviceName = top.takeRaw('service');
    if (serviceName === undefined) throw errors.missingService();
    const service = findService(String(serviceName));
    if (!service) throw errors.unknownService(String(serviceName));
    if (!service.taskTypes.includes(taskType)) throw errors.unsupportedTaskType(service.name, taskType);

    const serviceSettings = top.takeMap('service_settings');
    if (serviceSettings === undefined) throw errors.missingField('service_settings');
    const parsed = service.parseCreate(taskType, serviceSettings, top.takeMap('task_settings') ?? {}, problems);
    const chunkingRaw = top.takeMap('chunking_settings');
    const chunking = isChunkedTaskType(taskType) ? parseChunkingSettings(chunkingRaw, problems) : undefined;
    if (!isChunkedTaskType(taskType) && chunkingRaw !== undefined) {
      problems.push(`[chunking_settings] are not supported for task type [${taskType}]`);
    }
    throwIfProblems(problems);
    rejectUnknown(service.name, [top.leftovers(), ...parsed.unknown]);

    // Checked before the upstream call so a taken id costs nothing; the insert decides races.
    if (await this.store.get(input.inferenceId)) throw errors.endpointExists(input.inferenceId);
    const record: EndpointRecord = {
      inferenceId: input.inferenceId,
      taskType,
      service: service.name,
      serviceSettings: parsed.serviceSettings,
      taskSettings: parsed.taskSettings,
      chunkingSettings: (chunking as SettingsMap | undefined) ?? null,
      sealedSecrets: this.seal(input.inferenceId, parsed.secrets),
    };
    await this.upstreamCheck?.(record);
    const dimensions = this.probe ? await this.probe({ record, secrets: parsed.secrets }, input.timeout) : undefined;
    record.serviceSettings = service.withModelDetails(taskType, record.serviceSettings, dimensions);
    await this.store.insert(record);
    return this.view(record);
  }

  /** GET one: 404 when absent, 400 when the path names another task type. */
  async get(inferenceId: string, pathTaskType?: string): Promise<EndpointView> {
    return this.view(await this.find(inferenceId, pathTaskType));
  }

  async list(pathTaskType?: string): Promise<EndpointView[]> {
    const taskType = pathTaskType === undefined ? undefined : parseTaskType(pathTaskType);
    return (await this.store.list(taskType)).map((r) => this.view(r));
  }

  /** `_update`: api key, rate limit, task settings and chunking settings; everything else is fixed at creation. */
  async update(inferenceId: string, pathTaskType: string | undefined, body: SettingsMap): Promise<EndpointView> {
    const requested = pathTaskType === undefined ? undefined : parseTaskType(pathTaskType);
    const updated = await this.store.update(inferenceId, (current) => {
      if (requested && requested !== current.taskType) throw errors.taskTypeMismatchOnRead(requested, current.taskType);
      const problems: string[] = [];
      const top = new SettingsReader(body, 'config', problems);
      const bodyTaskType = top.takeRaw('task_type');
      if (bodyTaskType !== undefined) {
        const parsedType = parseTaskType(String(bodyTaskType));
        if (parsedType !== current.taskType) throw errors.taskTypeMismatchOnRead(parsedType, current.taskType);
      }
      const serviceName = top.takeRaw('service');
      if (serviceName !== undefined && serviceName !== current.service) {
        throw errors.serviceMismatchOnUpdate(String(serviceName), current.service);
      }
      const service = this.serviceOf(current);
      const currentConfig: ServiceConfig = {
        serviceSettings: current.serviceSettings,
        secrets: this.unseal(current),
        taskSettings: current.taskSettings,
      };
      const parsed = service.parseUpdate(
        current.taskType,
        currentConfig,
        top.takeMap('service_settings'),
        top.takeMap('task_settings'),
        problems,
      );
      let chunking = current.chunkingSettings;
      if (top.has('chunking_settings')) {
        const raw = top.takeMap('chunking_settings');
        if (!isChunkedTaskType(current.taskType)) {
          problems.push(`[chunking_settings] are not supported for task type [${current.taskType}]`);
        } else {
          chunking = (parseChunkingSettings(raw, problems) as SettingsMap | undefined) ?? null;
        }
      }
      throwIfProblems(problems);
      rejectUnknown(service.name, [top.leftovers(), ...parsed.unknown]);
      return {
        ...current,
        serviceSettings: parsed.serviceSettings,
        taskSettings: parsed.taskSettings,
        chunkingSettings: chunking,
        sealedSecrets: this.seal(inferenceId, parsed.secrets),
      };
    });
    if (!updated) throw errors.endpointNotFound(inferenceId);
    this.listener?.updated(inferenceId);
    return this.view(updated);
  }

  /** The endpoint with its secrets, for calling the upstream. 404 when it does not exist. */
  async resolve(inferenceId: string): Promise<ResolvedEndpoint> {
    const record = await this.store.get(inferenceId);
    if (!record) throw errors.endpointNotFound(inferenceId);
    return { record, secrets: this.unseal(record) };
  }

  serviceFor(record: EndpointRecord): InferenceService {
    return this.serviceOf(record);
  }

  async delete(inferenceId: string, pathTaskType: string | undefined, opts: { dryRun: boolean }): Promise<DeleteResult> {
    await this.find(inferenceId, pathTaskType);
    if (opts.dryRun) return { acknowledged: false, pipelines: [], indexes: [], error_message: '' };
    if (!(await this.store.delete(inferenceId))) throw errors.endpointNotFound(inferenceId);
    this.listener?.deleted(inferenceId);
    return { acknowledged: true, pipelines: [], indexes: [] };
  }

  private async find(inferenceId: string, pathTaskType: string | undefined): Promise<EndpointRecord> {
    const requested = pathTaskType === undefined ? undefined : parseTaskType(pathTaskType);
    const record = await this.store.get(inferenceId);
    if (!record) throw errors.endpointNotFound(inferenceId);
    if (requested && requested !== record.taskType) throw errors.taskTypeMismatchOnRead(requested, record.taskType);
    return record;
  }

  private serviceOf(record: EndpointRecord): InferenceService {
    const service = findService(record.service);
    if (!service) throw new Error(`endpoint [${record.inferenceId}] names a service this build does not know [${record.service}]`);
    return service;
  }

  private seal(inferenceId: string, secrets: SettingsMap): string {
    return this.secretBox.encrypt(JSON.stringify(secrets), inferenceId);
  }

  private unseal(record: EndpointRecord): SettingsMap {
    return JSON.parse(this.secretBox.decrypt(record.sealedSecrets, record.inferenceId));
  }
}
