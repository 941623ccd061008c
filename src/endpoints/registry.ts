// The endpoint registry: create, read, update and delete inference endpoints (docs/api.md#routes), free of HTTP.
import { parseChunkingSettings, type ChunkingSettings } from '../chunking/chunking-settings.js';
import { SendError } from '../services/send-error.js';
import { EsError, errors } from '../errors.js';
import type { SecretBox } from '../secrets.js';
import type { BoundEndpoint, InferenceService, ModelDetails, StoredEndpoint } from '../services/inference-service.js';
import { renderSettings, SettingsReader } from '../settings-reader.js';
import type { EndpointRecord, EndpointStore, SettingsMap } from '../store/endpoint-store.js';
import { parseTaskType, type TaskType } from '../inference-task-type.js';
import { DEFAULT_TIMEOUT, parseTimeValue } from '../request-params.js';
import type { Static } from 'typebox';
import type { DeleteAnswer, EndpointView as EndpointViewSchema } from '../../schemas/endpoints.js';
import type { EndpointChanges } from './changes.js';

/** How long an `_update`'s creation check may take (its route has no `timeout` parameter): a PUT's default. */
const UPDATE_CHECK_TIMEOUT = { ms: parseTimeValue('timeout', DEFAULT_TIMEOUT), text: DEFAULT_TIMEOUT };

/** Longest stretch a listing works before it lets other requests run. */
const LIST_SLICE_MS = 2;
/**
 * A listing that lacks more views than this, and more than a twentieth of them, reads every record in pages rather than
 * the missing ones by id (a few hundred changed among 100,000 are read by id).
 */
const LIST_READ_ALL = 100;

const INFERENCE_ID = /^[a-z0-9](?:[a-z0-9_\-.]*[a-z0-9])?$/;

/** An endpoint as PUT, GET and `_update` show it: Elasticsearch's field order, never a secret. */
export type EndpointView = Static<typeof EndpointViewSchema>;

export type DeleteResult = Static<typeof DeleteAnswer>;

function validateInferenceId(id: string): void {
  if (!INFERENCE_ID.test(id)) throw errors.invalidInferenceId(id);
}

/**
 * Every problem found, and the keys nobody knew. Unknown keys alone are Elasticsearch's
 * "unknown settings" status_exception; beside other problems they join the numbered
 * validation_exception, so a typo (`ulr`) is shown next to the setting it left missing (`url`).
 */
function throwIfProblems(service: string, problems: readonly string[], unknownMaps: readonly SettingsMap[]): void {
  const unknown = unknownMaps.filter((m) => Object.keys(m).length > 0).map((m) => renderSettings(m));
  if (problems.length > 0)
    throw errors.validation([
      ...problems,
      ...unknown.map((rendered) => errors.unknownSettings(service, rendered).reason),
    ]);
  if (unknown.length > 0) throw errors.unknownSettings(service, unknown.join(', '));
}

export interface RegistryDeps {
  store: EndpointStore;
  secretBox: SecretBox;
  /** The service a PUT names in `service`. */
  findService(name: string): InferenceService | undefined;
  /** Whether endpoints of a task type carry `chunking_settings`. */
  isChunked(taskType: TaskType): boolean;
  /** Told of every change, so live state (rate limiters, queues) follows. */
  changes: EndpointChanges;
  /** Refuses a url the service may not call (throws a validation error); checked at PUT for every upstream url. */
  checkUpstream(url: string): Promise<void>;
  /**
   * The creation check, resolving to what it learned about the model; `creating` is false for an `_update`'s.
   * Undefined: endpoints are stored without calling the upstream (SKIP_VALIDATION).
   */
  validate:
    | ((endpoint: BoundEndpoint, signal: AbortSignal, creating: boolean) => Promise<ModelDetails | undefined>)
    | undefined;
}

/** A record with its secrets in clear, as a service binds it. */
const stored = (record: EndpointRecord, secrets: SettingsMap): StoredEndpoint => ({
  inferenceId: record.inferenceId,
  taskType: record.taskType,
  serviceSettings: record.serviceSettings,
  secrets,
  taskSettings: record.taskSettings,
  chunking: record.chunkingSettings as ChunkingSettings | null,
});

/** The ids changed while a listing was reading, or `all` after a reload. */
interface ChangedWhileListing {
  ids: Set<string>;
  all: boolean;
}

export class EndpointRegistry {
  private readonly store: EndpointStore;
  /**
   * Each endpoint's view as JSON text, made by a listing and kept until the endpoint changes (here or, told through
   * `changes`, on another instance): a listing of 100,000 endpoints then reads their ids alone and joins these texts,
   * instead of reading, parsing and writing out every record (docs/performance.md#scale-100000-endpoints).
   */
  private readonly viewTexts = new Map<string, string>();
  /** What changed while each listing under way was reading: views it read before a change are not kept. */
  private readonly listings = new Set<ChangedWhileListing>();

  constructor(private readonly deps: RegistryDeps) {
    this.store = deps.store;
    deps.changes.subscribe((change) => {
      if (change.kind === 'reload') this.viewTexts.clear();
      else this.viewTexts.delete(change.inferenceId);
      for (const changed of this.listings) {
        if (change.kind === 'reload') changed.all = true;
        else changed.ids.add(change.inferenceId);
      }
    });
  }

  view(record: EndpointRecord): EndpointView {
    const view: EndpointView = {
      inference_id: record.inferenceId,
      task_type: record.taskType,
      service: record.service,
      // Stored maps, checked when they were written: shown as they are.
      service_settings: this.serviceOf(record).viewServiceSettings(record.taskType, record.serviceSettings),
    };
    if (Object.keys(record.taskSettings).length > 0) view.task_settings = record.taskSettings;
    if (record.chunkingSettings) view.chunking_settings = record.chunkingSettings as EndpointView['chunking_settings'];
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
    if (urlTaskType && bodyTaskType && urlTaskType !== bodyTaskType)
      throw errors.conflictingTaskType(urlTaskType, bodyTaskType);
    const taskType = urlTaskType ?? bodyTaskType;
    if (!taskType) throw errors.missingTaskType();

    const serviceName = top.takeRaw('service');
    if (serviceName === undefined) throw errors.missingService();
    const service = this.deps.findService(String(serviceName));
    if (!service) throw errors.unknownService(String(serviceName));
    if (!service.taskTypes.includes(taskType)) throw errors.unsupportedTaskType(service.name, taskType);

    const serviceSettings = top.takeMap('service_settings');
    if (serviceSettings === undefined) throw errors.missingField('service_settings');
    const parsed = service.parseCreate(taskType, serviceSettings, top.takeMap('task_settings') ?? {}, problems);
    const chunkingRaw = top.takeMap('chunking_settings');
    const chunked = this.deps.isChunked(taskType);
    const chunking = chunked ? parseChunkingSettings(chunkingRaw, problems) : undefined;
    if (!chunked && chunkingRaw !== undefined) {
      problems.push(`[chunking_settings] are not supported for task type [${taskType}]`);
    }
    throwIfProblems(service.name, problems, [top.leftovers(), ...parsed.unknown]);

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
    const bound = this.bind(service, record, parsed.secrets);
    // At PUT too, so an endpoint that may never be called is not stored (even with SKIP_VALIDATION).
    for (const url of bound.upstreamUrls) await this.deps.checkUpstream(url);
    const details = this.deps.validate
      ? await this.validateModel(this.deps.validate, service, record, parsed.secrets, input.timeout, true)
      : undefined;
    record.serviceSettings = service.withModelDetails(taskType, record.serviceSettings, details);
    await this.store.insert(record);
    this.deps.changes.publish({ kind: 'created', inferenceId: record.inferenceId });
    return this.view(record);
  }

  /** GET one: 404 when absent, 400 when the path names another task type. */
  async get(inferenceId: string, pathTaskType?: string): Promise<EndpointView> {
    return this.view(await this.find(inferenceId, pathTaskType));
  }

  /**
   * The listing's answer, `{"endpoints":[…]}` as JSON text, sorted by id. The ids come from the store, each view from
   * `viewTexts`; those missing are read (together, or all in pages when many are) and written in slices that let
   * other requests run between them, as 100,000 endpoints take about a second to turn into views and text.
   */
  async listJson(pathTaskType?: string): Promise<string> {
    const taskType = pathTaskType === undefined ? undefined : parseTaskType(pathTaskType);
    const changed: ChangedWhileListing = { ids: new Set(), all: false };
    this.listings.add(changed);
    try {
      const ids = await this.store.listIds(taskType);
      const texts: Array<string | undefined> = ids.map((id) => this.viewTexts.get(id));
      const missing = texts.reduce((n, text) => (text === undefined ? n + 1 : n), 0);
      if (missing === 0) return `{"endpoints":[${texts.join(',')}]}`;
      const textOf = (record: EndpointRecord) => {
        let text = this.viewTexts.get(record.inferenceId);
        if (text === undefined) {
          text = JSON.stringify(this.view(record));
          if (!changed.all && !changed.ids.has(record.inferenceId)) this.viewTexts.set(record.inferenceId, text);
        }
        return text;
      };
      const parts: string[] = [];
      let slice = performance.now();
      const breather = async (i: number) => {
        if ((i & 127) === 127 && performance.now() - slice > LIST_SLICE_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          slice = performance.now();
        }
      };
      if (missing > LIST_READ_ALL && missing * 20 > ids.length) {
        const records = await this.store.list(taskType);
        for (let i = 0; i < records.length; i++) {
          parts.push(textOf(records[i]!));
          await breather(i);
        }
      } else {
        // The few missing read together (on PostgreSQL one round trip, not one per endpoint).
        const read = new Map<string, EndpointRecord>();
        for (const record of await this.store.getMany(ids.filter((_, i) => texts[i] === undefined)))
          read.set(record.inferenceId, record);
        for (let i = 0; i < ids.length; i++) {
          const record = texts[i] === undefined ? read.get(ids[i]!) : undefined;
          const text = texts[i] ?? (record && textOf(record));
          // Gone since its id was read: a listing is not a snapshot.
          if (text !== undefined) parts.push(text);
          await breather(i);
        }
      }
      return `{"endpoints":[${parts.join(',')}]}`;
    } finally {
      this.listings.delete(changed);
    }
  }

  /**
   * `_update`: api key, rate limit, task settings and chunking settings; everything else is fixed at creation. A new
   * api key is checked against the upstream first, as a PUT is (docs/api.md#read-update-delete).
   */
  async update(inferenceId: string, pathTaskType: string | undefined, body: SettingsMap): Promise<EndpointView> {
    const requested = pathTaskType === undefined ? undefined : parseTaskType(pathTaskType);
    /** The record as the update leaves it, with its secrets in clear and whether they changed, not yet sealed. */
    const apply = (
      current: EndpointRecord,
    ): { next: EndpointRecord; secrets: SettingsMap; secretsChanged: boolean } => {
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
      const currentConfig = {
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
        if (!this.deps.isChunked(current.taskType)) {
          problems.push(`[chunking_settings] are not supported for task type [${current.taskType}]`);
        } else {
          chunking = (parseChunkingSettings(raw, problems) as SettingsMap | undefined) ?? null;
        }
      }
      throwIfProblems(service.name, problems, [top.leftovers(), ...parsed.unknown]);
      return {
        next: {
          ...current,
          serviceSettings: parsed.serviceSettings,
          taskSettings: parsed.taskSettings,
          chunkingSettings: chunking,
        },
        secrets: parsed.secrets,
        secretsChanged: JSON.stringify(parsed.secrets) !== JSON.stringify(currentConfig.secrets),
      };
    };
    // What the check of a new key learned (the server asked again), kept with the key.
    let learned: ModelDetails | undefined;
    // Sealed again only when they changed (a new api_key): an update of the rate limit leaves the stored secret
    // byte for byte as it was, not a fresh encryption of the same key.
    const change = (current: EndpointRecord): EndpointRecord => {
      const { next, secrets, secretsChanged } = apply(current);
      if (!secretsChanged) return next;
      const serviceSettings = learned
        ? this.serviceOf(next).withModelDetails(next.taskType, next.serviceSettings, learned)
        : next.serviceSettings;
      return { ...next, serviceSettings, sealedSecrets: this.seal(inferenceId, secrets) };
    };
    // A change of what is called (the api key: url, model and protocol are fixed) gets the creation check first;
    // refused, nothing is written.
    const before = this.deps.validate && (await this.store.get(inferenceId));
    if (before && this.deps.validate) {
      const { next, secrets, secretsChanged } = apply(before);
      if (secretsChanged) {
        learned = await this.validateModel(
          this.deps.validate,
          this.serviceOf(next),
          next,
          secrets,
          UPDATE_CHECK_TIMEOUT,
          false,
        );
      }
    }
    const updated = await this.store.update(inferenceId, change);
    if (!updated) throw errors.endpointNotFound(inferenceId);
    this.deps.changes.publish({ kind: 'updated', inferenceId });
    return this.view(updated);
  }

  /** The endpoint bound to its service, secrets decrypted, for calling the upstream. 404 when it does not exist. */
  async resolve(inferenceId: string): Promise<BoundEndpoint> {
    const record = await this.store.get(inferenceId);
    if (!record) throw errors.endpointNotFound(inferenceId);
    return this.bind(this.serviceOf(record), record, this.unseal(record));
  }

  async delete(
    inferenceId: string,
    pathTaskType: string | undefined,
    opts: { dryRun: boolean },
  ): Promise<DeleteResult> {
    if (opts.dryRun) {
      await this.find(inferenceId, pathTaskType);
      return { acknowledged: false, pipelines: [], indexes: [], error_message: '' };
    }
    const requested = pathTaskType === undefined ? undefined : parseTaskType(pathTaskType);
    // One statement when there is something to delete (on PostgreSQL one round trip, not a read first); when there is
    // not, the read says why: absent (404) or of another task type (400, and it stays).
    if (!(await this.store.delete(inferenceId, requested))) {
      await this.find(inferenceId, pathTaskType);
      throw errors.endpointNotFound(inferenceId);
    }
    this.deps.changes.publish({ kind: 'deleted', inferenceId });
    return { acknowledged: true, pipelines: [], indexes: [] };
  }

  private async find(inferenceId: string, pathTaskType: string | undefined): Promise<EndpointRecord> {
    const requested = pathTaskType === undefined ? undefined : parseTaskType(pathTaskType);
    const record = await this.store.get(inferenceId);
    if (!record) throw errors.endpointNotFound(inferenceId);
    if (requested && requested !== record.taskType) throw errors.taskTypeMismatchOnRead(requested, record.taskType);
    return record;
  }

  private bind(service: InferenceService, record: EndpointRecord, secrets: SettingsMap): BoundEndpoint {
    return service.bind(stored(record, secrets));
  }

  /**
   * The create-time check, through the service (which may ask the upstream about itself first, and at creation choose
   * the protocol), bounded by the PUT's timeout; any failure is the creation error with its cause.
   */
  private async validateModel(
    validate: NonNullable<RegistryDeps['validate']>,
    service: InferenceService,
    record: EndpointRecord,
    secrets: SettingsMap,
    timeout: { ms: number; text: string },
    creating: boolean,
  ): Promise<ModelDetails | undefined> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.min(timeout.ms, 2 ** 31 - 1));
    const { signal } = controller;
    try {
      return await service.inspect(
        stored(record, secrets),
        signal,
        async (bound) => (await validate(bound, signal, creating)) ?? {},
        { choose: creating },
      );
    } catch (err) {
      if (controller.signal.aborted) throw errors.creationValidationFailed(errors.timeout(timeout.text));
      if (err instanceof SendError) throw errors.creationValidationFailed(err.failure.error);
      if (err instanceof EsError) throw errors.creationValidationFailed(err);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private serviceOf(record: EndpointRecord): InferenceService {
    const service = this.deps.findService(record.service);
    if (!service)
      throw new Error(`endpoint [${record.inferenceId}] names a service this build does not know [${record.service}]`);
    return service;
  }

  private seal(inferenceId: string, secrets: SettingsMap): string {
    return this.deps.secretBox.encrypt(JSON.stringify(secrets), inferenceId);
  }

  private unseal(record: EndpointRecord): SettingsMap {
    return JSON.parse(this.deps.secretBox.decrypt(record.sealedSecrets, record.inferenceId)) as SettingsMap;
  }
}
