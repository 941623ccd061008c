// The default endpoint store: one SQLite file (WAL, synchronous=FULL) with versioned forward migrations.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { errors } from '../errors.js';
import type { TaskType } from '../inference-task-type.js';
import { endpointFromRow, keyFromRow, type EndpointRow, type KeyRow } from './rows.js';
import type { ApiKeyRecord, ApiKeyStore, EndpointRecord, EndpointStore } from './endpoint-store.js';

/** Forward migrations; entry i takes the schema from version i to i + 1. Never edit a released entry. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE endpoints (
     inference_id      TEXT PRIMARY KEY,
     task_type         TEXT NOT NULL,
     service           TEXT NOT NULL,
     service_settings  TEXT NOT NULL,
     task_settings     TEXT NOT NULL,
     chunking_settings TEXT,
     secrets           TEXT NOT NULL,
     created_at        INTEGER NOT NULL,
     updated_at        INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;`,
  `CREATE TABLE api_keys (
     id         TEXT PRIMARY KEY,
     name       TEXT NOT NULL UNIQUE,
     privilege  TEXT NOT NULL,
     salt       TEXT NOT NULL,
     hash       TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     revoked_at INTEGER
   ) STRICT;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Rows read at once by a listing (about 2 ms of work). */
const LIST_PAGE = 500;
/** Ids read at once by a listing of ids alone (about 2 ms of work). */
const ID_PAGE = 10_000;

const toParams = (r: EndpointRecord) => ({
  inference_id: r.inferenceId,
  task_type: r.taskType,
  service: r.service,
  service_settings: JSON.stringify(r.serviceSettings),
  task_settings: JSON.stringify(r.taskSettings),
  chunking_settings: r.chunkingSettings === null ? null : JSON.stringify(r.chunkingSettings),
  secrets: r.sealedSecrets,
  now: Date.now(),
});

/** API keys in the same database file as the endpoints. */
class SqliteApiKeyStore implements ApiKeyStore {
  private readonly stmt;

  constructor(db: Database.Database) {
    this.stmt = {
      insert: db.prepare(
        'INSERT INTO api_keys (id, name, privilege, salt, hash, created_at, revoked_at) VALUES (@id, @name, @privilege, @salt, @hash, @createdAt, NULL)',
      ),
      get: db.prepare<[string], KeyRow>('SELECT * FROM api_keys WHERE id = ?'),
      list: db.prepare<[], KeyRow>('SELECT * FROM api_keys ORDER BY created_at, name'),
      revoke: db.prepare('UPDATE api_keys SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL'),
      hasActive: db.prepare<[], { n: number }>('SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL) AS n'),
    };
  }

  async insert(record: ApiKeyRecord): Promise<void> {
    this.stmt.insert.run(record);
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const row = this.stmt.get.get(id);
    return row && keyFromRow(row);
  }

  async list(): Promise<ApiKeyRecord[]> {
    return this.stmt.list.all().map(keyFromRow);
  }

  async revoke(idOrName: string, at: number): Promise<boolean> {
    return this.stmt.revoke.run(at, idOrName, idOrName).changes > 0;
  }

  async hasActive(): Promise<boolean> {
    return this.stmt.hasActive.get()!.n === 1;
  }
}

export class SqliteEndpointStore implements EndpointStore {
  readonly kind = 'sqlite';
  readonly location: string;
  readonly apiKeys: ApiKeyStore;
  private readonly db: Database.Database;
  private readonly stmt;

  constructor(dataDir: string) {
    // The database holds API key hashes and sealed Hugging Face keys, beside secret.key (0600):
    // the directory the service creates is its owner's only (one that exists is left as it is).
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.location = path.join(dataDir, 'inference.db');
    // Created 0600 before SQLite opens it (SQLite would make it 0644); its -wal and -shm files
    // take the database file's mode when SQLite creates them. An existing file is not truncated.
    fs.closeSync(fs.openSync(this.location, 'a', 0o600));
    this.db = new Database(this.location);
    this.db.pragma('journal_mode = WAL');
    // FULL: a write is on disk before the client hears "acknowledged", even across a power cut.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.apiKeys = new SqliteApiKeyStore(this.db);
    this.stmt = {
      insert: this.db.prepare(
        `INSERT INTO endpoints (inference_id, task_type, service, service_settings, task_settings, chunking_settings, secrets, created_at, updated_at)
         VALUES (@inference_id, @task_type, @service, @service_settings, @task_settings, @chunking_settings, @secrets, @now, @now)`,
      ),
      get: this.db.prepare<[string], EndpointRow>('SELECT * FROM endpoints WHERE inference_id = ?'),
      listAll: this.db.prepare<[string, number], EndpointRow>(
        'SELECT * FROM endpoints WHERE inference_id > ? ORDER BY inference_id LIMIT ?',
      ),
      listByTask: this.db.prepare<[string, string, number], EndpointRow>(
        'SELECT * FROM endpoints WHERE task_type = ? AND inference_id > ? ORDER BY inference_id LIMIT ?',
      ),
      idsAll: this.db
        .prepare<[string, number], string>(
          'SELECT inference_id FROM endpoints WHERE inference_id > ? ORDER BY inference_id LIMIT ?',
        )
        .pluck(),
      idsByTask: this.db
        .prepare<[string, string, number], string>(
          'SELECT inference_id FROM endpoints WHERE task_type = ? AND inference_id > ? ORDER BY inference_id LIMIT ?',
        )
        .pluck(),
      update: this.db.prepare(
        `UPDATE endpoints SET task_type = @task_type, service = @service, service_settings = @service_settings,
           task_settings = @task_settings, chunking_settings = @chunking_settings, secrets = @secrets, updated_at = @now
         WHERE inference_id = @inference_id`,
      ),
      delete: this.db.prepare('DELETE FROM endpoints WHERE inference_id = ? AND (? IS NULL OR task_type = ?)'),
      getMeta: this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      initMeta: this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING'),
    };
  }

  /**
   * How this connection writes, as SQLite reports it (not as it was asked): the journal mode,
   * and the synchronous level, which is per connection and so cannot be read from another one.
   */
  durability(): { journalMode: string; synchronous: string } {
    const levels = ['off', 'normal', 'full', 'extra'];
    return {
      journalMode: String(this.db.pragma('journal_mode', { simple: true })),
      synchronous: levels[Number(this.db.pragma('synchronous', { simple: true }))] ?? 'unknown',
    };
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > SCHEMA_VERSION) {
      throw new Error(
        `the database ${this.location} has schema version ${current}, newer than this service knows (${SCHEMA_VERSION}); upgrade the service`,
      );
    }
    for (let v = current; v < SCHEMA_VERSION; v++) {
      this.db
        .transaction(() => {
          this.db.exec(MIGRATIONS[v]!);
          this.db.pragma(`user_version = ${v + 1}`);
        })
        .immediate();
    }
  }

  async insert(record: EndpointRecord): Promise<void> {
    try {
      this.stmt.insert.run(toParams(record));
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
        throw errors.endpointExists(record.inferenceId);
      throw err;
    }
  }

  async get(inferenceId: string): Promise<EndpointRecord | undefined> {
    const row = this.stmt.get.get(inferenceId);
    return row && endpointFromRow(row);
  }

  async getMany(inferenceIds: readonly string[]): Promise<EndpointRecord[]> {
    const records: EndpointRecord[] = [];
    for (const id of inferenceIds) {
      const row = this.stmt.get.get(id);
      if (row) records.push(endpointFromRow(row));
    }
    return records;
  }

  /**
   * In pages along the primary key, letting other requests run between them: one read of 100,000
   * rows would hold the event loop for a quarter of a second (a listing is not a snapshot).
   */
  async list(taskType?: TaskType): Promise<EndpointRecord[]> {
    const records: EndpointRecord[] = [];
    for (let after = ''; ;) {
      const rows = taskType
        ? this.stmt.listByTask.all(taskType, after, LIST_PAGE)
        : this.stmt.listAll.all(after, LIST_PAGE);
      for (const row of rows) records.push(endpointFromRow(row));
      if (rows.length < LIST_PAGE) return records;
      after = rows[rows.length - 1]!.inference_id;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async listIds(taskType?: TaskType): Promise<string[]> {
    const ids: string[] = [];
    for (let after = ''; ;) {
      const page = taskType ? this.stmt.idsByTask.all(taskType, after, ID_PAGE) : this.stmt.idsAll.all(after, ID_PAGE);
      for (const id of page) ids.push(id);
      if (page.length < ID_PAGE) return ids;
      after = page[page.length - 1]!;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async update(
    inferenceId: string,
    change: (current: EndpointRecord) => EndpointRecord,
  ): Promise<EndpointRecord | undefined> {
    return this.db
      .transaction(() => {
        const row = this.stmt.get.get(inferenceId);
        if (!row) return undefined;
        const next = change(endpointFromRow(row));
        this.stmt.update.run(toParams({ ...next, inferenceId }));
        return next;
      })
      .immediate();
  }

  async delete(inferenceId: string, taskType?: TaskType): Promise<boolean> {
    return this.stmt.delete.run(inferenceId, taskType ?? null, taskType ?? null).changes > 0;
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.stmt.getMeta.get(key)?.value;
  }

  async initMeta(key: string, value: string): Promise<string> {
    this.stmt.initMeta.run(key, value);
    return this.stmt.getMeta.get(key)!.value;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
