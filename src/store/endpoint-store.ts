// The storage contract: what any store (SQLite, PostgreSQL) provides, every operation asynchronous.
import type { TaskType } from '../inference-task-type.js';

export type SettingsMap = Record<string, unknown>;

/** One inference endpoint as stored. Secrets arrive here already sealed: a store never sees an api key. */
export interface EndpointRecord {
  inferenceId: string;
  taskType: TaskType;
  service: string;
  serviceSettings: SettingsMap;
  taskSettings: SettingsMap;
  /** null for task types that are not chunked. */
  chunkingSettings: SettingsMap | null;
  sealedSecrets: string;
}

export interface EndpointStore {
  /** Durable when it resolves. Rejects with `resource_already_exists_exception` if the id is taken. */
  insert(record: EndpointRecord): Promise<void>;
  get(inferenceId: string): Promise<EndpointRecord | undefined>;
  /** Those of the ids that exist, in no particular order: one round trip to a shared store for a listing's few. */
  getMany(inferenceIds: readonly string[]): Promise<EndpointRecord[]>;
  /** Sorted by inference id. */
  list(taskType?: TaskType): Promise<EndpointRecord[]>;
  /** The inference ids alone, sorted as `list` sorts them: what a listing reads when it has the views already. */
  listIds(taskType?: TaskType): Promise<string[]>;
  /**
   * Reads, changes and writes one endpoint atomically. `change` may throw to abort the update.
   * Resolves to undefined when the endpoint does not exist.
   */
  update(inferenceId: string, change: (current: EndpointRecord) => EndpointRecord): Promise<EndpointRecord | undefined>;
  /** Resolves to false when there was nothing to delete; with `taskType`, an endpoint of another task type stays. */
  delete(inferenceId: string, taskType?: TaskType): Promise<boolean>;
  /** Values the service keeps about itself (the secrets key check). */
  getMeta(key: string): Promise<string | undefined>;
  /**
   * Sets `key` only if it has no value yet (instances starting together: the first one decides); resolves to the value
   * kept.
   */
  initMeta(key: string, value: string): Promise<string>;
  readonly apiKeys: ApiKeyStore;
  /**
   * For a store other processes write too (PostgreSQL): calls `onChange` for every write another
   * process commits, and `onResync` when writes may have been missed (after a lost connection).
   * Resolves once changes are followed. Absent on a store only this process serves.
   */
  watch?(onChange: (change: StoreChange) => void, onResync: () => void): Promise<void>;
  close(): Promise<void>;
  /** Where the data lives, for messages (never a password). */
  readonly location: string;
  /** The kind of store, for the start-up line: `sqlite`, `postgres`. */
  readonly kind: string;
}

/** A write another process committed to a shared store. */
export interface StoreChange {
  table: 'endpoints' | 'api_keys';
  op: 'created' | 'updated' | 'deleted';
  /** The inference id or the API key id. */
  id: string;
}

/** An API key as stored: never the secret, only a salted scrypt hash of it. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  privilege: string;
  salt: string;
  hash: string;
  createdAt: number;
  revokedAt: number | null;
}

export interface ApiKeyStore {
  /** Rejects when the name is taken. */
  insert(record: ApiKeyRecord): Promise<void>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  list(): Promise<ApiKeyRecord[]>;
  /** Marks the key with this id or name revoked; false when there is no such active key. */
  revoke(idOrName: string, at: number): Promise<boolean>;
  hasActive(): Promise<boolean>;
}
