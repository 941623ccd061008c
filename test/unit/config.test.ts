// DATABASE_URL, REDIS_URL, CLUSTER_SIZE, REQUEST_READ_TIMEOUT and ELASTICSEARCH_VERSION: defaults, one-line errors
// naming the variable, never a password in a message.
import t from 'tap';
import { ConfigError, describeRateLimiter, loadConfig } from '../../src/config.js';
import { hideUrlPassword } from '../../src/redaction.js';
import { closedPort } from '../helpers/network.js';
import { runServerToExit, startServer } from '../helpers/process.js';

const KEY = 'q7Jm0VbJ9bS1mCkqvqz0o3sVw1x9y8ZlRk5XqYcYh3A=';

t.test('defaults: embedded SQLite, local rate limiters, a cluster of one', async (t) => {
  const c = loadConfig({});
  t.equal(c.databaseUrl, undefined);
  t.equal(c.redisUrl, undefined);
  t.equal(c.clusterSize, 1);
  t.equal(describeRateLimiter(loadConfig({ DATA_DIR: '/srv/data' })), 'local (one per endpoint in this process)');
});

t.test('REQUEST_READ_TIMEOUT reads like the other durations', async (t) => {
  t.equal(loadConfig({ REQUEST_READ_TIMEOUT: '2m' }).requestReadTimeoutMs, 120_000);
  t.equal(loadConfig({ REQUEST_READ_TIMEOUT: '500ms' }).requestReadTimeoutMs, 500);
});

t.test('the shared set-up, described without its passwords', async (t) => {
  const c = loadConfig({
    DATABASE_URL: 'postgres://gw:s3cret@db.internal:5432/gateway',
    REDIS_URL: 'redis://:r3dis@cache:6379/2',
    CLUSTER_SIZE: '3',
    SECRETS_KEY: KEY,
  });
  t.equal(c.databaseUrl, 'postgres://gw:s3cret@db.internal:5432/gateway');
  t.equal(c.redisUrl, 'redis://:r3dis@cache:6379/2');
  t.equal(c.clusterSize, 3);
  const limiter = describeRateLimiter(c);
  t.equal(
    limiter,
    'redis redis://:***@cache:6379/2 (shared by every instance; requests_per_minute / 3 each while Redis is away)',
  );
  t.equal(
    hideUrlPassword(c.databaseUrl!),
    'postgres://gw:***@db.internal:5432/gateway',
    'the store names itself the same way',
  );
  t.notMatch(limiter, /r3dis/);
  t.equal(loadConfig({ DATABASE_URL: 'postgresql://db/x', SECRETS_KEY: KEY }).databaseUrl, 'postgresql://db/x');
  t.equal(loadConfig({ REDIS_URL: 'rediss://cache:6380' }).redisUrl, 'rediss://cache:6380');
});

t.test('ELASTICSEARCH_VERSION: what GET / reports as version.number', async (t) => {
  t.equal(loadConfig({}).elasticsearchVersion, '9.4.0');
  t.equal(loadConfig({ ELASTICSEARCH_VERSION: ' 8.19.0 ' }).elasticsearchVersion, '8.19.0');
});

t.test('a bad value is one line naming the variable, and never shows a password', async (t) => {
  const bad: Array<[Record<string, string>, string]> = [
    [{ CLUSTER_SIZE: '0' }, 'CLUSTER_SIZE must be an integer from 1 to 1000, got [0]'],
    [{ CLUSTER_SIZE: 'three' }, 'CLUSTER_SIZE must be an integer from 1 to 1000, got [three]'],
    [{ CLUSTER_SIZE: '2.5' }, 'CLUSTER_SIZE must be an integer from 1 to 1000, got [2.5]'],
    [{ CLUSTER_SIZE: '1001' }, 'CLUSTER_SIZE must be an integer from 1 to 1000, got [1001]'],
    [{ METRICS_ENDPOINTS: '-1' }, 'METRICS_ENDPOINTS must be an integer from 0 to 100000, got [-1]'],
    [{ METRICS_ENDPOINTS: 'all' }, 'METRICS_ENDPOINTS must be an integer from 0 to 100000, got [all]'],
    [{ METRICS_IDLE_TIMEOUT: '10' }, 'METRICS_IDLE_TIMEOUT must be a duration such as 120s, 2m or 500ms, got [10]'],
    [
      { EMBEDDING_CACHE_SIZE: '-1' },
      'EMBEDDING_CACHE_SIZE must be a positive size such as 10mb, 512kb or 1048576, got [-1]',
    ],
    [{ EMBEDDING_CACHE_TTL: '1d' }, 'EMBEDDING_CACHE_TTL must be a duration such as 120s, 2m or 500ms, got [1d]'],
    [
      { DATABASE_URL: 'mysql://u:pw@db/x', SECRETS_KEY: KEY },
      'DATABASE_URL must be a URL such as postgres://host:port/…, got [mysql://u:***@db/x]',
    ],
    [
      { DATABASE_URL: 'not a url', SECRETS_KEY: KEY },
      'DATABASE_URL must be a URL such as postgres://host:port/…, got [not a url]',
    ],
    [
      { DATABASE_URL: 'postgres://u:pw@db/x' },
      'DATABASE_URL needs SECRETS_KEY: every instance on the database must use the same key (openssl rand -base64 32)',
    ],
    [
      { REDIS_URL: 'http://u:pw@cache:6379' },
      'REDIS_URL must be a URL such as redis://host:port/…, got [http://u:***@cache:6379]',
    ],
    [{ ELASTICSEARCH_VERSION: '9' }, 'ELASTICSEARCH_VERSION must be a version such as 9.4.0 or 8.19.0, got [9]'],
    [
      { ELASTICSEARCH_VERSION: 'v9.1.0' },
      'ELASTICSEARCH_VERSION must be a version such as 9.4.0 or 8.19.0, got [v9.1.0]',
    ],
    [
      { ELASTICSEARCH_VERSION: '9.1.0-SNAPSHOT' },
      'ELASTICSEARCH_VERSION must be a version such as 9.4.0 or 8.19.0, got [9.1.0-SNAPSHOT]',
    ],
    [{ REQUEST_READ_TIMEOUT: '30' }, 'REQUEST_READ_TIMEOUT must be a duration such as 120s, 2m or 500ms, got [30]'],
    [{ REQUEST_READ_TIMEOUT: '0s' }, 'REQUEST_READ_TIMEOUT must be a duration such as 120s, 2m or 500ms, got [0s]'],
  ];
  for (const [env, message] of bad) t.throws(() => loadConfig(env), new ConfigError(message), message);
  t.equal(hideUrlPassword('postgres://user:pa:ss@host/db'), 'postgres://user:***@host/db');
  t.equal(hideUrlPassword('garbage user:secret@host'), 'garbage user:***@host');
});

/** Passwords with every character that ends or splits a URL's parts, each alone and all together. */
const AWKWARD_PASSWORDS = ['pa/ssWORD', 'my@pw', 'pa:ss', '100%pw', 'pa%2Fss', 'pa#ss', 'pa?ss', 'a/b@c:d%e#f?g'];

t.test('DATABASE_URL and REDIS_URL: the password is hidden whatever characters it holds', async (t) => {
  for (const password of AWKWARD_PASSWORDS) {
    const database = `postgres://postgres:${password}@db.internal:5432/gw`;
    const redis = `redis://:${password}@cache:6379/2`;
    t.equal(hideUrlPassword(database), 'postgres://postgres:***@db.internal:5432/gw', `${password}: PostgreSQL`);
    t.equal(hideUrlPassword(redis), 'redis://:***@cache:6379/2', `${password}: Redis`);
    // A password with a raw `/`, `#` or `?` makes the URL unreadable: the configuration error shows it masked.
    let shown: string;
    try {
      shown = describeRateLimiter(loadConfig({ DATABASE_URL: database, REDIS_URL: redis, SECRETS_KEY: KEY }));
      t.equal(
        shown,
        'redis redis://:***@cache:6379/2 (shared by every instance; requests_per_minute / 1 each while Redis is away)',
        `${password}: accepted`,
      );
    } catch (err) {
      shown = (err as Error).message;
      t.equal(
        shown,
        'DATABASE_URL must be a URL such as postgres://host:port/…, got [postgres://postgres:***@db.internal:5432/gw]',
        `${password}: refused`,
      );
      const redisError = (() => {
        try {
          loadConfig({ REDIS_URL: redis });
          return '';
        } catch (e) {
          return (e as Error).message;
        }
      })();
      t.equal(
        redisError,
        'REDIS_URL must be a URL such as redis://host:port/…, got [redis://:***@cache:6379/2]',
        `${password}: REDIS_URL refused`,
      );
    }
    for (const part of password.split(/[/@:%#?]/).filter((p) => p.length >= 2))
      t.notMatch(shown, part, `${password}: no part of it shown`);
  }
  t.equal(
    hideUrlPassword('postgres://db.internal:5432/gw?application_name=a@b'),
    'postgres://db.internal:5432/gw?application_name=a@b',
    'no password: as given',
  );
  t.equal(
    hideUrlPassword('postgres://gw@db.internal:5432/gw'),
    'postgres://gw@db.internal:5432/gw',
    'a user without a password: as given',
  );
});

t.test('the process refuses to start on a bad DATABASE_URL with one line, password hidden', async (t) => {
  const { code, stderr } = await runServerToExit(t, {
    DATABASE_URL: 'postgres://u:hunter2@/x',
    SECRETS_KEY: KEY,
    DATA_DIR: t.testdir(),
  });
  t.equal(code, 1);
  t.equal(
    stderr,
    'configuration error: DATABASE_URL must be a URL such as postgres://host:port/…, got [postgres://u:***@/x]\n',
  );
});

t.test('a DATABASE_URL whose password holds a raw / is refused with one line, password hidden', async (t) => {
  const { code, stderr } = await runServerToExit(t, {
    DATABASE_URL: 'postgres://postgres:pa/ssWORD@127.0.0.1/db',
    SECRETS_KEY: KEY,
    DATA_DIR: t.testdir(),
  });
  t.equal(code, 1);
  t.equal(
    stderr,
    'configuration error: DATABASE_URL must be a URL such as postgres://host:port/…, got [postgres://postgres:***@127.0.0.1/db]\n',
  );
});

t.test('PostgreSQL and Redis unreachable: their lines hide a password holding @', async (t) => {
  const port = await closedPort();
  const database = await runServerToExit(t, {
    DATABASE_URL: `postgres://u:my@pw@127.0.0.1:${port}/x`,
    SECRETS_KEY: KEY,
    DATA_DIR: t.testdir(),
  });
  t.equal(
    database.stderr,
    `failed to start: cannot reach PostgreSQL at postgres://u:***@127.0.0.1:${port}/x: connect ECONNREFUSED 127.0.0.1:${port}\n`,
  );
  const server = await startServer(t, { REDIS_URL: `redis://:my@pw@127.0.0.1:${port}`, DATA_DIR: t.testdir() });
  server.child.kill('SIGTERM');
  await server.exited;
  const lines = server.stdout.join('\n');
  t.match(lines, `Redis at redis://:***@127.0.0.1:${port} is not reachable yet`);
  t.match(lines, `"rate_limiter":"redis redis://:***@127.0.0.1:${port} (shared`);
  t.notMatch(lines + server.stderr.join('\n'), /my@pw|@pw/);
});

t.test('PostgreSQL unreachable at start-up: one line naming the server, without its password', async (t) => {
  const port = await closedPort();
  const { code, stderr } = await runServerToExit(t, {
    DATABASE_URL: `postgres://u:hunter2@127.0.0.1:${port}/x`,
    SECRETS_KEY: KEY,
    DATA_DIR: t.testdir(),
  });
  t.equal(code, 1);
  t.equal(
    stderr,
    `failed to start: cannot reach PostgreSQL at postgres://u:***@127.0.0.1:${port}/x: connect ECONNREFUSED 127.0.0.1:${port}\n`,
  );
  t.notMatch(stderr, 'hunter2');
});
