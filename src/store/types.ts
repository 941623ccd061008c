// The endpoint registry's storage contract: what any store (SQLite now, others later) must provide.
import type { TaskType } from '../task-types.js';

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
  /** Sorted by inference id. */
  list(taskType?: TaskType): Promise<EndpointRecord[]>;
  /**
   * Reads, changes and writes one endpoint atomically. `change` may throw to abort the update.
   * Resolves to undefined when the endpoint does not exist.
   */
  update(inferenceId: string, change: (current: EndpointRecord) => EndpointRecord): Promise<EndpointRecord | undefined>;
  /** Resolves to false when there was nothing to delete. */
  delete(inferenceId: string): Promise<boolean>;
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  close(): void;
  /** Where the data lives, for messages. */
  readonly location: string;
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
  insert(record: ApiKeyRecord): void;
  get(id: string): ApiKeyRecord | undefined;
  list(): ApiKeyRecord[];
  /** Marks the key with this id or name revoked; false when there is no such active key. */
  revoke(idOrName: string, at: number): boolean;
  hasActive(): boolean;
}
