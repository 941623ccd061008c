// Rows as both SQL stores hold them (the same columns in SQLite and PostgreSQL), read back into records.
import type { TaskType } from '../inference-task-type.js';
import type { ApiKeyRecord, EndpointRecord } from './endpoint-store.js';

export interface EndpointRow {
  inference_id: string;
  task_type: string;
  service: string;
  service_settings: string;
  task_settings: string;
  chunking_settings: string | null;
  secrets: string;
}

export const endpointFromRow = (row: EndpointRow): EndpointRecord => ({
  inferenceId: row.inference_id,
  taskType: row.task_type as TaskType,
  service: row.service,
  serviceSettings: JSON.parse(row.service_settings) as EndpointRecord['serviceSettings'],
  taskSettings: JSON.parse(row.task_settings) as EndpointRecord['taskSettings'],
  chunkingSettings:
    row.chunking_settings === null ? null : (JSON.parse(row.chunking_settings) as EndpointRecord['chunkingSettings']),
  sealedSecrets: row.secrets,
});

/** Times are milliseconds since the epoch: SQLite gives them as numbers, PostgreSQL's bigint as strings. */
export interface KeyRow {
  id: string;
  name: string;
  privilege: string;
  salt: string;
  hash: string;
  created_at: number | string;
  revoked_at: number | string | null;
}

export const keyFromRow = (r: KeyRow): ApiKeyRecord => ({
  id: r.id,
  name: r.name,
  privilege: r.privilege,
  salt: r.salt,
  hash: r.hash,
  createdAt: Number(r.created_at),
  revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
});
