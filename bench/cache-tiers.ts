// The embedding cache's shared tier in Redis against the same in PostgreSQL (docs/embedding-cache.md#why-redis): a
// request's hits looked up in each, one request at a time, in alternating rounds of one run. Redis is read by the
// service's own tier (MGET); PostgreSQL by the smallest equivalent, an UNLOGGED table keyed by the hash.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Redis } from 'ioredis';
import pg from 'pg';
import { RedisCacheTier } from '../src/cache/redis-cache-tier.js';
import {
  ADMIN_DATABASE_URL,
  freePort,
  makeDatabase,
  OwnRedis,
  postgresReachable,
} from '../test/helpers/backing-services.js';
import { median, type Row } from './stats.js';

/** Entries stored in each tier: 384-dimension vectors, as the upstream of the other sections answers them. */
const ENTRIES = 10_000;
const DIMENSIONS = 384;
/** Texts per lookup: a request of the cache section's size. */
const PER_LOOKUP = 20;
const ROUNDS = 10;
const LOOKUPS_PER_ROUND = 200;

/** User and system CPU time of a process so far, in milliseconds (from /proc; clock ticks are 100 per second here). */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const clientCpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** A vector's JSON text as an upstream writes it. */
function vectorText(seed: number): string {
  const values = Array.from({ length: DIMENSIONS }, (_, d) => Math.sin(seed * 31 + d) * 0.1);
  return `[${values.map((v) => v.toFixed(9)).join(',')}]`;
}

interface Tier {
  name: string;
  serverPid: number;
  lookup(keys: readonly string[]): Promise<Array<string | undefined>>;
}

interface Measured {
  /** Milliseconds per lookup, each lookup timed alone. */
  latencies: number[];
  serverCpuMs: number;
  clientCpuMs: number;
}

async function round(tier: Tier, keys: readonly string[], into: Measured): Promise<void> {
  const server = cpuMs(tier.serverPid);
  const client = clientCpuMs();
  for (let i = 0; i < LOOKUPS_PER_ROUND; i++) {
    const wanted = Array.from({ length: PER_LOOKUP }, () => keys[crypto.randomInt(keys.length)]!);
    const started = performance.now();
    const values = await tier.lookup(wanted);
    into.latencies.push(performance.now() - started);
    if (values.some((v) => v === undefined)) throw new Error(`cache tiers: a miss in ${tier.name}`);
  }
  into.serverCpuMs += cpuMs(tier.serverPid) - server;
  into.clientCpuMs += clientCpuMs() - client;
}

const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

export async function cacheTierFigures(): Promise<Row[]> {
  const why = await postgresReachable(ADMIN_DATABASE_URL);
  if (why) {
    console.error(`tiers section skipped: PostgreSQL at ${ADMIN_DATABASE_URL} cannot be reached (${why})`);
    return [{ section: 'tiers', case: 'skipped: no PostgreSQL', figure: '-', value: 0 }];
  }
  const redisServer = new OwnRedis(await freePort());
  await redisServer.start();
  const database = await makeDatabase();
  const redis = new Redis(redisServer.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  const postgres = new pg.Client({ connectionString: database.url });
  const redisTier = new RedisCacheTier(redis);
  try {
    await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    await postgres.connect();
    // A key as the service makes it (an identity's scope, then the text's hash); a value as the upstream wrote it.
    const scope = crypto.randomBytes(16).toString('base64url').slice(0, 22) + ':';
    const entries = Array.from(
      { length: ENTRIES },
      (_, i) => [scope + crypto.createHash('sha256').update(`text ${i}`).digest('base64url'), vectorText(i)] as const,
    );
    const keys = entries.map(([key]) => key);

    const memoryBefore = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
    for (let i = 0; i < entries.length; i += 500) redisTier.set(entries.slice(i, i + 500), 24 * 3600_000);
    await redis.ping(); // the writes above are pipelined on this connection: this answer comes after theirs
    const redisBytes = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]) - memoryBefore;

    await postgres.query(
      'CREATE UNLOGGED TABLE embedding_cache (key text PRIMARY KEY, value text NOT NULL, expires_at timestamptz NOT NULL)',
    );
    for (let i = 0; i < entries.length; i += 500) {
      const chunk = entries.slice(i, i + 500);
      await postgres.query(
        "INSERT INTO embedding_cache SELECT k, v, now() + interval '24 hours' FROM unnest($1::text[], $2::text[]) AS t(k, v)",
        [chunk.map(([k]) => k), chunk.map(([, v]) => v)],
      );
    }
    await postgres.query('VACUUM ANALYZE embedding_cache');
    const postgresBytes = Number(
      (await postgres.query<{ n: string }>("SELECT pg_total_relation_size('embedding_cache') AS n")).rows[0]!.n,
    );

    const info = await redis.info('server');
    const tiers: Tier[] = [
      {
        name: 'Redis',
        serverPid: Number(/process_id:(\d+)/.exec(info)![1]),
        lookup: (wanted) => redisTier.get(wanted),
      },
      {
        name: 'PostgreSQL',
        serverPid: (await postgres.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid,
        lookup: async (wanted) => {
          const { rows } = await postgres.query<{ key: string; value: string }>({
            name: 'embedding-cache-lookup',
            text: 'SELECT key, value FROM embedding_cache WHERE key = ANY($1) AND expires_at > now()',
            values: [wanted],
          });
          const found = new Map(rows.map((r) => [r.key, r.value]));
          return wanted.map((k) => found.get(k));
        },
      },
    ];
    const measured = tiers.map((): Measured => ({ latencies: [], serverCpuMs: 0, clientCpuMs: 0 }));
    // A warm-up round each (prepared statement, pages in shared buffers), then alternating rounds, the order swapped.
    for (const tier of tiers) await round(tier, keys, { latencies: [], serverCpuMs: 0, clientCpuMs: 0 });
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) await round(tiers[i]!, keys, measured[i]!);
    }
    const [onRedis, onPostgres] = measured as [Measured, Measured];
    const lookups = ROUNDS * LOOKUPS_PER_ROUND;
    const c = `${PER_LOOKUP} hits of ${ENTRIES.toLocaleString('en')}, 384-dim`;
    const rows: Row[] = [];
    const add = (kase: string, figure: string, value: number) =>
      rows.push({ section: 'tiers', case: kase, figure, value: Math.round(value * 1000) / 1000 });
    add(`${c}, Redis`, 'median ms per lookup', median(onRedis.latencies));
    add(`${c}, PostgreSQL`, 'median ms per lookup', median(onPostgres.latencies));
    add(`${c}`, 'median lookup, PostgreSQL / Redis', median(onPostgres.latencies) / median(onRedis.latencies));
    add(
      `${c}`,
      'p99 lookup, PostgreSQL / Redis',
      percentile(onPostgres.latencies, 99) / percentile(onRedis.latencies, 99),
    );
    add(`${c}`, 'server CPU per lookup, PostgreSQL / Redis', onPostgres.serverCpuMs / Math.max(onRedis.serverCpuMs, 1));
    add(`${c}`, 'client CPU per lookup, PostgreSQL / Redis', onPostgres.clientCpuMs / Math.max(onRedis.clientCpuMs, 1));
    add(`${c}, Redis`, 'server CPU µs per lookup', (onRedis.serverCpuMs * 1000) / lookups);
    add(`${c}, PostgreSQL`, 'server CPU µs per lookup', (onPostgres.serverCpuMs * 1000) / lookups);
    add(`${ENTRIES.toLocaleString('en')} entries, Redis`, 'bytes per entry', redisBytes / ENTRIES);
    add(
      `${ENTRIES.toLocaleString('en')} entries, PostgreSQL`,
      'bytes per entry (table, TOAST, index)',
      postgresBytes / ENTRIES,
    );
    add(`${ENTRIES.toLocaleString('en')} entries`, 'value text per entry', entries[0]![1].length);
    return rows;
  } finally {
    redisTier.close();
    redis.disconnect();
    await postgres.end().catch(() => undefined);
    await database.drop();
    await redisServer.kill();
  }
}
