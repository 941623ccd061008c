// PostgreSQL and Redis for tests: whether they are reachable, a throw-away database per test, and private servers to
// stop and start in fault tests.
//
// Tests that need PostgreSQL or Redis use the ones on 127.0.0.1's standard ports (or
// TEST_DATABASE_URL / TEST_REDIS_URL). When they cannot be reached, such a test FAILS if
// CLUSTER_TESTS=required (set by .ci/run, which starts both first), and otherwise is SKIPPED
// with a loud message: a developer without them sees the skip, never a silent pass.
// Fault tests never stop the shared servers: they start their own on free ports.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Test } from 'tap';

export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379';
/** Databases made by tests start with this, so a run's leftovers can be found and dropped. */
const DATABASE_PREFIX = process.env.TEST_DATABASE_PREFIX || 'test';
const REQUIRED = process.env.CLUSTER_TESTS === 'required';

type Tap = Test;

export async function postgresReachable(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

async function redisReachable(url: string): Promise<string | undefined> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (err) {
    return (err as Error).message || 'unreachable';
  } finally {
    redis.disconnect();
  }
}

/**
 * Whether the services this test needs can be reached. If not: a failure under
 * CLUSTER_TESTS=required, else a loud skip. The caller returns when this resolves false.
 */
export async function servicesAvailable(t: Tap, needs: { postgres?: boolean; redis?: boolean }): Promise<boolean> {
  const problems: string[] = [];
  if (needs.postgres) {
    const why = await postgresReachable(ADMIN_DATABASE_URL);
    if (why) problems.push(`PostgreSQL at ${ADMIN_DATABASE_URL} (${why})`);
  }
  if (needs.redis) {
    const why = await redisReachable(TEST_REDIS_URL);
    if (why) problems.push(`Redis at ${TEST_REDIS_URL} (${why})`);
  }
  if (problems.length === 0) return true;
  const message = `cannot reach ${problems.join(' and ')}`;
  if (REQUIRED) {
    t.fail(`${message}; CLUSTER_TESTS=required`);
  } else {
    const loud = `CLUSTER TESTS NOT RUN: ${message}. Start them, or run \`bash .ci/run\`, which starts both.`;
    process.stderr.write(`\n*** ${loud}\n`);
    t.comment(loud);
    t.pass(loud, { skip: loud });
  }
  return false;
}

/** A new empty database, dropped (connections and all) when the test ends. */
export async function createDatabase(t: Tap): Promise<string> {
  const { url, drop } = await makeDatabase();
  t.teardown(drop);
  return url;
}

/** A new empty database and the function that drops it (for the benchmark, which has no tap). */
export async function makeDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${DATABASE_PREFIX}_${Date.now().toString(36)}_${crypto.randomBytes(4).toString('hex')}`.toLowerCase();
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** Runs SQL against a database directly (to look at what the service wrote, or to change it behind its back). */
export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const waitFor = async (check: () => Promise<boolean>, ms: number, what: string) => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not come up within ${ms} ms`);
};

/**
 * A redis-server of this test's own, without persistence (a restart loses everything, as in production without
 * AOF/RDB).
 */
export class OwnRedis {
  private child: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(t: Tap): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort());
    t.teardown(() => redis.kill());
    await redis.start();
    return redis;
  }

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await waitFor(async () => (await redisReachable(this.url)) === undefined, 10_000, `redis-server on ${this.port}`);
  }

  /** Ends it the hard way (as a crash would): every key is lost. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

const PG_BIN = (() => {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  return versions[0] ? path.join(base, versions[0], 'bin') : '';
})();

/** PostgreSQL refuses to run as root: as root, its commands run as the postgres user. */
function pgCommand(command: string, args: string[]): { file: string; args: string[] } {
  const file = path.join(PG_BIN, command);
  return process.getuid?.() === 0 ? { file: 'runuser', args: ['-u', 'postgres', '--', file, ...args] } : { file, args };
}

/** A PostgreSQL cluster of this test's own (initdb in a temporary directory), to stop and start. */
export class OwnPostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async start(t: Tap): Promise<OwnPostgres> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'own-pg-'));
    fs.chmodSync(dir, 0o777);
    const own = new OwnPostgres(dir, await freePort());
    t.teardown(() => {
      own.stop('immediate');
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const init = pgCommand('initdb', [
      '-D',
      path.join(dir, 'data'),
      '-U',
      'postgres',
      '--auth=trust',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    execFileSync(init.file, init.args, { stdio: 'ignore' });
    own.start();
    return own;
  }

  start(): void {
    const cmd = pgCommand('pg_ctl', [
      '-D',
      path.join(this.dir, 'data'),
      '-l',
      path.join(this.dir, 'log'),
      '-w',
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ]);
    execFileSync(cmd.file, cmd.args, { stdio: 'ignore' });
  }

  stop(mode: 'fast' | 'immediate' = 'fast'): void {
    const cmd = pgCommand('pg_ctl', ['-D', path.join(this.dir, 'data'), '-m', mode, '-w', 'stop']);
    try {
      execFileSync(cmd.file, cmd.args, { stdio: 'ignore' });
    } catch {
      // already stopped
    }
  }
}

/** Whether PostgreSQL's server programs are installed here (fault tests run their own cluster). */
let switchesUser: boolean | undefined;
/**
 * As root, PostgreSQL's programs run as `postgres` through runuser, which a user namespace (the offline run's) cannot
 * do.
 */
const canRunAsPostgres = () => {
  if (process.getuid?.() !== 0) return true;
  if (switchesUser === undefined) {
    try {
      execFileSync('runuser', ['-u', 'postgres', '--', 'true'], { stdio: 'ignore' });
      switchesUser = true;
    } catch {
      switchesUser = false;
    }
  }
  return switchesUser;
};

export const canRunOwnPostgres = () =>
  PG_BIN !== '' && fs.existsSync(path.join(PG_BIN, 'initdb')) && canRunAsPostgres();

/**
 * Runs the rest of a test file alone among files that also ask (tap runs two files at once):
 * timing figures of several service processes should not share two cores with another such
 * file. Released at teardown; a lock left by a killed run is taken over.
 */
export async function runAlone(t: Tap, name: string): Promise<void> {
  const file = path.join(os.tmpdir(), `hf-gateway-${name}.lock`);
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      break;
    } catch {
      const holder = Number(fs.readFileSync(file, 'utf8') || 0);
      let alive: boolean;
      try {
        alive = holder > 0 && process.kill(holder, 0);
      } catch {
        alive = false;
      }
      if (!alive) fs.rmSync(file, { force: true });
      else await new Promise((r) => setTimeout(r, 200));
    }
  }
  t.teardown(() => fs.rmSync(file, { force: true }));
}
