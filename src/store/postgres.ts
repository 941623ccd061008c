// The shared endpoint store for several instances: PostgreSQL through `pg`, versioned migrations, writes announced with
// NOTIFY in their own transaction.
import crypto from 'node:crypto';
import pg from 'pg';
import { hideUrlPassword } from '../redaction.js';
import { EsError, errors } from '../errors.js';
import type { TaskType } from '../inference-task-type.js';
import { endpointFromRow, keyFromRow, type EndpointRow, type KeyRow } from './rows.js';
import type { ApiKeyRecord, ApiKeyStore, EndpointRecord, EndpointStore, StoreChange } from './endpoint-store.js';

/**
 * Forward migrations; entry i takes the schema from version i to i + 1. Never edit a released
 * entry. Settings are kept as JSON text, not jsonb: jsonb reorders keys, and the order a user
 * gave is the order GET shows.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE endpoints (
     inference_id      text PRIMARY KEY,
     task_type         text NOT NULL,
     service           text NOT NULL,
     service_settings  text NOT NULL,
     task_settings     text NOT NULL,
     chunking_settings text,
     secrets           text NOT NULL,
     created_at        bigint NOT NULL,
     updated_at        bigint NOT NULL
   );
   CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
   CREATE TABLE api_keys (
     id         text PRIMARY KEY,
     name       text NOT NULL UNIQUE,
     privilege  text NOT NULL,
     salt       text NOT NULL,
     hash       text NOT NULL,
     created_at bigint NOT NULL,
     revoked_at bigint
   );`,
  // Listings sort in byte order (COLLATE "C", as SQLite sorts); the primary key's index has the database's collation,
  // so without this one every listing sorted the whole table (at 100,000 endpoints, on disk past work_mem):
  // docs/performance.md#scale-on-a-cluster.
  `CREATE INDEX endpoints_inference_id_bytes ON endpoints (inference_id COLLATE "C");`,
];

const PG_SCHEMA_VERSION = MIGRATIONS.length;

/** One channel per database: every instance on it hears every write. */
const CHANGES_CHANNEL = 'hf_inference_gateway_changes';
/** pg_notify refuses payloads of 8000 bytes or more; a longer one is announced as "reload everything". */
const MAX_PAYLOAD_BYTES = 7900;
/** Any constant; it names the lock that lets one instance at a time migrate. */
const MIGRATION_LOCK = 815_472_031;

/** Errors that mean "PostgreSQL cannot be reached now" (answered 503), as opposed to a bug or a constraint. */
function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (/^E[A-Z]+$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND, EHOSTUNREACH…
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300')
    return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout|Connection is closed/i.test(
    message,
  );
}

/** Runs `op`, turning "PostgreSQL is away" into the 503 every route answers. */
async function reachable<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof EsError || !isConnectionError(err)) throw err;
    throw errors.storeUnavailable();
  }
}

/** $2…$8 of the INSERT and UPDATE statements, in column order. */
const columns = (r: EndpointRecord) => [
  r.taskType,
  r.service,
  JSON.stringify(r.serviceSettings),
  JSON.stringify(r.taskSettings),
  r.chunkingSettings === null ? null : JSON.stringify(r.chunkingSettings),
  r.sealedSecrets,
  Date.now(),
];

/** What goes out on the channel: who wrote (so a process ignores its own writes), what and which. */
interface ChangeMessage {
  origin: string;
  table: StoreChange['table'];
  op: StoreChange['op'];
  id: string;
}

class Announcer {
  constructor(readonly origin: string) {}

  /** The pg_notify payload for a write; too long to send (a huge id): undefined, and the others reload. */
  payload(table: StoreChange['table'], op: StoreChange['op'], id: string): string {
    const text = JSON.stringify({ origin: this.origin, table, op, id } satisfies ChangeMessage);
    return Buffer.byteLength(text) <= MAX_PAYLOAD_BYTES ? text : JSON.stringify({ origin: this.origin, reload: true });
  }
}

class PostgresApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly announce: Announcer,
  ) {}

  insert(r: ApiKeyRecord): Promise<void> {
    return reachable(async () => {
      await this.pool.query(
        `WITH ins AS (
           INSERT INTO api_keys (id, name, privilege, salt, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, NULL) RETURNING id)
         SELECT pg_notify($7, $8) FROM ins`,
        [
          r.id,
          r.name,
          r.privilege,
          r.salt,
          r.hash,
          r.createdAt,
          CHANGES_CHANNEL,
          this.announce.payload('api_keys', 'created', r.id),
        ],
      );
    });
  }

  get(id: string): Promise<ApiKeyRecord | undefined> {
    return reachable(async () => {
      const { rows } = await this.pool.query<KeyRow>('SELECT * FROM api_keys WHERE id = $1', [id]);
      return rows[0] && keyFromRow(rows[0]);
    });
  }

  list(): Promise<ApiKeyRecord[]> {
    return reachable(async () =>
      (await this.pool.query<KeyRow>('SELECT * FROM api_keys ORDER BY created_at, name')).rows.map(keyFromRow),
    );
  }

  revoke(idOrName: string, at: number): Promise<boolean> {
    return reachable(async () => {
      // The key's id is only known once the row is found, so the payload is built in SQL.
      const { rowCount } = await this.pool.query(
        `WITH rev AS (
           UPDATE api_keys SET revoked_at = $2 WHERE (id = $1 OR name = $1) AND revoked_at IS NULL RETURNING id)
         SELECT pg_notify($3, json_build_object('origin', $4::text, 'table', 'api_keys', 'op', 'updated', 'id', rev.id)::text) FROM rev`,
        [idOrName, at, CHANGES_CHANNEL, this.announce.origin],
      );
      return (rowCount ?? 0) > 0;
    });
  }

  hasActive(): Promise<boolean> {
    return reachable(async () => {
      const { rows } = await this.pool.query<{ active: boolean }>(
        'SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL) AS active',
      );
      return rows[0]!.active;
    });
  }
}

export interface PostgresStoreOptions {
  /**
   * Told of connection problems the store recovers from by itself (an idle connection dropped, the listener
   * reconnecting).
   */
  onWarning?: (message: string, err?: unknown) => void;
}

export class PostgresEndpointStore implements EndpointStore {
  readonly kind = 'postgres';
  readonly location: string;
  readonly apiKeys: ApiKeyStore;
  /** This process's name on the change channel. */
  private readonly announce = new Announcer(crypto.randomUUID());
  private listener: ChangeListener | undefined;

  private constructor(
    private readonly url: string,
    private readonly pool: pg.Pool,
    private readonly options: PostgresStoreOptions,
  ) {
    this.location = hideUrlPassword(url);
    this.apiKeys = new PostgresApiKeyStore(pool, this.announce);
  }

  /** Connects and migrates; rejects with a message naming the server when it cannot be reached. */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresEndpointStore> {
    const pool = new pg.Pool({
      connectionString: url,
      max: 10,
      // A stopped server refuses at once; an unreachable one must not hold a request for long.
      connectionTimeoutMillis: 3000,
      idleTimeoutMillis: 10_000,
      keepAlive: true,
      application_name: 'hf-inference-gateway',
    });
    // An idle connection that dies (server restart) is reported here; unhandled it would end the process.
    pool.on('error', (err) => options.onWarning?.('an idle PostgreSQL connection was closed', err));
    const store = new PostgresEndpointStore(url, pool, options);
    try {
      await store.migrate();
    } catch (err) {
      await pool.end().catch(() => {});
      if (isConnectionError(err))
        throw new Error(`cannot reach PostgreSQL at ${store.location}: ${(err as Error).message}`, { cause: err });
      throw err;
    }
    return store;
  }

  /** Every instance may start at once: an advisory lock makes them migrate one after another. */
  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)',
      );
      const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
      const current = rows[0]?.v ?? 0;
      if (current > PG_SCHEMA_VERSION) {
        throw new Error(
          `the database ${this.location} has schema version ${current}, newer than this service knows (${PG_SCHEMA_VERSION}); upgrade the service`,
        );
      }
      for (let v = current; v < PG_SCHEMA_VERSION; v++) {
        await client.query(MIGRATIONS[v]!);
        await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [v + 1, Date.now()]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  insert(record: EndpointRecord): Promise<void> {
    return reachable(async () => {
      try {
        // One statement: the row and its announcement commit together.
        await this.pool.query(
          `WITH ins AS (
             INSERT INTO endpoints (inference_id, task_type, service, service_settings, task_settings, chunking_settings, secrets, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING inference_id)
           SELECT pg_notify($9, $10) FROM ins`,
          [
            record.inferenceId,
            ...columns(record),
            CHANGES_CHANNEL,
            this.announce.payload('endpoints', 'created', record.inferenceId),
          ],
        );
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw errors.endpointExists(record.inferenceId);
        throw err;
      }
    });
  }

  get(inferenceId: string): Promise<EndpointRecord | undefined> {
    return reachable(async () => {
      const { rows } = await this.pool.query<EndpointRow>('SELECT * FROM endpoints WHERE inference_id = $1', [
        inferenceId,
      ]);
      return rows[0] && endpointFromRow(rows[0]);
    });
  }

  getMany(inferenceIds: readonly string[]): Promise<EndpointRecord[]> {
    return reachable(async () => {
      if (inferenceIds.length === 0) return [];
      const { rows } = await this.pool.query<EndpointRow>(
        'SELECT * FROM endpoints WHERE inference_id = ANY($1::text[])',
        [inferenceIds],
      );
      return rows.map(endpointFromRow);
    });
  }

  list(taskType?: TaskType): Promise<EndpointRecord[]> {
    return reachable(async () => {
      // COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
      const { rows } = taskType
        ? await this.pool.query<EndpointRow>(
            'SELECT * FROM endpoints WHERE task_type = $1 ORDER BY inference_id COLLATE "C"',
            [taskType],
          )
        : await this.pool.query<EndpointRow>('SELECT * FROM endpoints ORDER BY inference_id COLLATE "C"');
      return rows.map(endpointFromRow);
    });
  }

  listIds(taskType?: TaskType): Promise<string[]> {
    return reachable(async () => {
      // Rows as arrays: 100,000 ids without an object each.
      const { rows } = await this.pool.query<[string]>({
        text: taskType
          ? 'SELECT inference_id FROM endpoints WHERE task_type = $1 ORDER BY inference_id COLLATE "C"'
          : 'SELECT inference_id FROM endpoints ORDER BY inference_id COLLATE "C"',
        values: taskType ? [taskType] : [],
        rowMode: 'array',
      });
      return rows.map((row) => row[0]);
    });
  }

  update(
    inferenceId: string,
    change: (current: EndpointRecord) => EndpointRecord,
  ): Promise<EndpointRecord | undefined> {
    return reachable(async () => {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        // FOR UPDATE: a concurrent update of this endpoint waits here, so neither change is lost.
        const { rows } = await client.query<EndpointRow>('SELECT * FROM endpoints WHERE inference_id = $1 FOR UPDATE', [
          inferenceId,
        ]);
        if (!rows[0]) {
          await client.query('ROLLBACK');
          return undefined;
        }
        const next = change(endpointFromRow(rows[0]));
        await client.query(
          `UPDATE endpoints SET task_type = $2, service = $3, service_settings = $4, task_settings = $5, chunking_settings = $6,
             secrets = $7, updated_at = $8 WHERE inference_id = $1`,
          [inferenceId, ...columns(next)],
        );
        await client.query('SELECT pg_notify($1, $2)', [
          CHANGES_CHANNEL,
          this.announce.payload('endpoints', 'updated', inferenceId),
        ]);
        await client.query('COMMIT');
        return next;
      } catch (err) {
        if (isConnectionError(err)) broken = err as Error;
        else await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw err;
      } finally {
        // A connection that failed mid-transaction is discarded, not handed to the next caller.
        client.release(broken);
      }
    });
  }

  delete(inferenceId: string, taskType?: TaskType): Promise<boolean> {
    return reachable(async () => {
      const { rowCount } = await this.pool.query(
        `WITH del AS (DELETE FROM endpoints WHERE inference_id = $1 AND ($4::text IS NULL OR task_type = $4) RETURNING inference_id)
         SELECT pg_notify($2, $3) FROM del`,
        [inferenceId, CHANGES_CHANNEL, this.announce.payload('endpoints', 'deleted', inferenceId), taskType ?? null],
      );
      return (rowCount ?? 0) > 0;
    });
  }

  getMeta(key: string): Promise<string | undefined> {
    return reachable(
      async () =>
        (await this.pool.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [key])).rows[0]?.value,
    );
  }

  initMeta(key: string, value: string): Promise<string> {
    return reachable(async () => {
      await this.pool.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, value]);
      return (await this.getMeta(key))!;
    });
  }

  async watch(onChange: (change: StoreChange) => void, onResync: () => void): Promise<void> {
    if (this.listener) throw new Error('the store is already watched');
    this.listener = new ChangeListener(this.url, this.announce.origin, onChange, onResync, this.options.onWarning);
    await this.listener.start();
  }

  async close(): Promise<void> {
    await this.listener?.stop();
    this.listener = undefined;
    await this.pool.end().catch(() => {});
  }
}

/**
 * How long the listener waits before reconnecting: 100 ms, doubling, at most 1 s (a restarted server is heard again
 * within about a second).
 */
const reconnectDelay = (attempt: number) => Math.min(100 * 2 ** attempt, 1000);
/** A half-open connection (a network drop) reports nothing: a query every few seconds finds it out. */
const HEALTH_CHECK_MS = 5000;

/**
 * LISTEN on a connection of its own, reconnecting whenever it is lost. PostgreSQL does not keep
 * notifications for a session that is gone, so every reconnection is followed by `onResync`.
 */
class ChangeListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private connectedOnce = false;

  constructor(
    private readonly url: string,
    private readonly origin: string,
    private readonly onChange: (change: StoreChange) => void,
    private readonly onResync: () => void,
    private readonly onWarning: PostgresStoreOptions['onWarning'],
  ) {}

  /** Resolves once listening; keeps trying while the server cannot be reached. */
  async start(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      if (await this.connect()) return;
      await new Promise((r) => setTimeout(r, reconnectDelay(attempt)));
    }
  }

  private async connect(): Promise<boolean> {
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: 3000,
      query_timeout: 3000,
      keepAlive: true,
      application_name: 'hf-inference-gateway listener',
    });
    client.on('error', () => {
      // Followed by 'end', which reconnects.
    });
    client.on('notification', (n) => this.deliver(n.payload));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => {});
      // Said at each failed attempt (they back off), so a start-up that keeps waiting here is never silent.
      this.onWarning?.(
        this.connectedOnce
          ? 'the PostgreSQL change listener cannot reconnect yet'
          : 'the PostgreSQL change listener cannot connect yet: start-up waits for it',
        err,
      );
      return false;
    }
    if (this.stopped) {
      await client.end().catch(() => {});
      return true;
    }
    this.client = client;
    client.on('end', () => this.lost(client));
    this.timer = setInterval(() => {
      client.query('SELECT 1').catch(() => client.end().catch(() => {}));
    }, HEALTH_CHECK_MS);
    this.timer.unref();
    // Listening again: whatever was written meanwhile was not heard.
    if (this.connectedOnce) this.onResync();
    this.connectedOnce = true;
    return true;
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    clearInterval(this.timer);
    if (this.stopped) return;
    this.onWarning?.('the PostgreSQL change listener lost its connection; reconnecting');
    void this.start();
  }

  private deliver(payload: string | undefined): void {
    let message: Partial<ChangeMessage> & { reload?: boolean };
    try {
      message = JSON.parse(payload ?? '') as typeof message;
    } catch {
      this.onResync();
      return;
    }
    if (message.origin === this.origin) return;
    if (message.reload || typeof message.id !== 'string' || !message.table || !message.op) {
      this.onResync();
      return;
    }
    this.onChange({ table: message.table, op: message.op, id: message.id });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}
