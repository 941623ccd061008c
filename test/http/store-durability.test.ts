// The store and the secrets: durability across restarts, one winner for concurrent PUTs, no key in clear anywhere.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import pino from 'pino';
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { loggerOptions } from '../../src/logger.js';
import { SecretBox } from '../../src/secrets.js';
import { SCHEMA_VERSION, SqliteEndpointStore } from '../../src/store/sqlite.js';
import { API_KEY, envelope, hfBody, startApp } from '../helpers/app-harness.js';

const ROTATED = 'hf_RotatedSecretAbcdef0123456789';

/** Every byte of the database and its WAL, as latin1 text so a search sees raw bytes. */
const databaseBytes = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('inference.db'))
    .map((f) => fs.readFileSync(path.join(dir, f)).toString('latin1'))
    .join('\n');

t.test('endpoints survive a restart, and their secrets still decrypt', async (t) => {
  const dataDir = t.testdir();
  const first = await startApp(t, {}, dataDir);
  await first.request('PUT', '/_inference/text_embedding/keep', hfBody({ dimensions: 384 }));
  await first.request('PUT', '/_inference/text_embedding/gone', hfBody());
  await first.request('DELETE', '/_inference/gone');
  const before = (await first.request('GET', '/_inference')).json;
  await first.app.close();

  const second = await startApp(t, {}, dataDir);
  t.strictSame((await second.request('GET', '/_inference')).json, before);
  // An update decrypts the stored secrets and seals them again: proof the key survived too.
  const res = await second.request('PUT', '/_inference/keep/_update', {
    service_settings: { rate_limit: { requests_per_minute: 10 } },
  });
  t.equal(res.status, 200);
});

t.test('of concurrent PUTs of one id exactly one succeeds', async (t) => {
  const s = await startApp(t);
  const address = await s.app.listen({ port: 0, host: '127.0.0.1' });
  const answers = await Promise.all(
    Array.from({ length: 25 }, (_, i) =>
      fetch(`${address}/_inference/text_embedding/race`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(hfBody({ url: `https://host-${i}.hf.test` })),
      }).then(async (r) => ({ status: r.status, json: (await r.json()) as any })),
    ),
  );
  const winners = answers.filter((a) => a.status === 200);
  t.equal(winners.length, 1);
  for (const loser of answers.filter((a) => a.status !== 200)) {
    t.strictSame(
      loser.json,
      envelope(400, 'resource_already_exists_exception', 'Inference endpoint [race] already exists'),
    );
  }
  const stored = (await s.request('GET', '/_inference/race')).json.endpoints[0];
  t.equal(
    stored.service_settings.url,
    winners[0]!.json.service_settings.url,
    'the stored endpoint is the one acknowledged',
  );
});

t.test('the database file never holds an api key in clear text', async (t) => {
  const s = await startApp(t);
  await s.request('PUT', '/_inference/text_embedding/a', hfBody());
  await s.request('PUT', '/_inference/text_embedding/b', hfBody());
  await s.request('PUT', '/_inference/a/_update', { service_settings: { api_key: ROTATED } });
  const bytes = databaseBytes(s.dataDir);
  t.ok(bytes.length > 0);
  t.match(bytes, 'inference_id', 'the scan reads the real file');
  for (const secret of [API_KEY, ROTATED]) {
    t.notMatch(bytes, secret);
    t.notMatch(bytes, Buffer.from(secret).toString('base64'));
    t.notMatch(bytes, Buffer.from(secret).toString('hex'));
  }
  const db = new Database(path.join(s.dataDir, 'inference.db'), { readonly: true });
  const rows = db.prepare('SELECT secrets FROM endpoints').all() as Array<{ secrets: string }>;
  db.close();
  t.equal(rows.length, 2);
  for (const row of rows) t.match(row.secrets, /^v1\.[A-Za-z0-9+/=]+$/);
});

t.test('api keys are sealed with AES-256-GCM under the key file, bound to their endpoint id', async (t) => {
  const s = await startApp(t);
  await s.request('PUT', '/_inference/text_embedding/sealed', hfBody());
  const key = Buffer.from(fs.readFileSync(path.join(s.dataDir, 'secret.key'), 'utf8').trim(), 'base64');
  const db = new Database(path.join(s.dataDir, 'inference.db'), { readonly: true });
  const { secrets } = db.prepare('SELECT secrets FROM endpoints WHERE inference_id = ?').get('sealed') as {
    secrets: string;
  };
  db.close();
  // Opened here with node's own AES-256-GCM, not the service's code: v1.<base64 of a 12-byte IV, the ciphertext, a
  // 16-byte tag>.
  const raw = Buffer.from(secrets.slice('v1.'.length), 'base64');
  const open = (aad: string) => {
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
  };
  t.strictSame(JSON.parse(open('sealed')), { api_key: API_KEY });
  t.throws(() => open('another-id'), 'bound to its inference id');
});

t.test('_update seals the secret again only when it brings a new api_key', async (t) => {
  const s = await startApp(t);
  const sealed = () => {
    const db = new Database(path.join(s.dataDir, 'inference.db'), { readonly: true });
    const { secrets } = db.prepare('SELECT secrets FROM endpoints WHERE inference_id = ?').get('e') as {
      secrets: string;
    };
    db.close();
    return secrets;
  };
  t.equal((await s.request('PUT', '/_inference/text_embedding/e', hfBody())).status, 200);
  const created = sealed();
  const updates = [
    { service_settings: { rate_limit: { requests_per_minute: 10 } } },
    { task_settings: {} },
    { chunking_settings: { strategy: 'word', max_chunk_size: 100, overlap: 10 } },
    {},
  ];
  for (const body of updates) {
    t.equal((await s.request('PUT', '/_inference/e/_update', body)).status, 200, JSON.stringify(body));
    t.equal(sealed(), created, `${JSON.stringify(body)}: the stored secret is byte for byte the same`);
  }
  t.equal((await s.request('PUT', '/_inference/e/_update', { service_settings: { api_key: ROTATED } })).status, 200);
  t.not(sealed(), created, 'a new api_key is sealed');
  const rotated = sealed();
  t.equal(
    (await s.request('PUT', '/_inference/e/_update', { service_settings: { rate_limit: { requests_per_minute: 20 } } }))
      .status,
    200,
  );
  t.equal(sealed(), rotated, 'and kept as sealed by the next update without one');
  t.strictSame((await s.request('GET', '/_inference/e')).json.endpoints[0].service_settings.rate_limit, {
    requests_per_minute: 20,
  });
});

t.test('the secrets key file is created once with mode 0600 and reused', async (t) => {
  const s = await startApp(t);
  const file = path.join(s.dataDir, 'secret.key');
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  t.equal(Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64').length, 32);
  const before = fs.readFileSync(file, 'utf8');
  await s.app.close();
  await startApp(t, {}, s.dataDir);
  t.equal(fs.readFileSync(file, 'utf8'), before);
});

t.test(
  'the data directory the service creates is 0700, and the database, its WAL and shared memory are 0600',
  async (t) => {
    // A directory that does not exist yet, under the umask most systems run with (files 0644 otherwise).
    const previous = process.umask(0o022);
    t.teardown(() => void process.umask(previous));
    const dataDir = path.join(t.testdir(), 'new', 'data');
    const s = await startApp(t, {}, dataDir);
    t.equal(
      (await s.request('PUT', '/_inference/text_embedding/e', hfBody())).status,
      200,
      'a write, so the WAL holds data',
    );
    const mode = (file: string) => (fs.statSync(path.join(dataDir, file)).mode & 0o777).toString(8);
    t.equal(mode('.'), '700', 'the data directory');
    t.strictSame(
      Object.fromEntries(
        ['inference.db', 'inference.db-wal', 'inference.db-shm', 'secret.key'].map((f) => [f, mode(f)]),
      ),
      { 'inference.db': '600', 'inference.db-wal': '600', 'inference.db-shm': '600', 'secret.key': '600' },
    );
    await s.app.close();
    // Reopened: nothing loosened, nothing lost.
    const again = await startApp(t, {}, dataDir);
    t.equal((await again.request('GET', '/_inference/e')).status, 200);
    t.equal(mode('inference.db'), '600');
    t.equal(mode('inference.db-wal'), '600');
  },
);

t.test('SECRETS_KEY is used instead of a key file', async (t) => {
  const key = crypto.randomBytes(32).toString('base64');
  const s = await startApp(t, { SECRETS_KEY: key });
  t.notOk(fs.existsSync(path.join(s.dataDir, 'secret.key')));
  await s.request('PUT', '/_inference/text_embedding/a', hfBody());
  await s.app.close();
  const again = await startApp(t, { SECRETS_KEY: key }, s.dataDir);
  t.equal(
    (await again.request('PUT', '/_inference/a/_update', { service_settings: { api_key: ROTATED } })).status,
    200,
  );
});

t.test('a wrong key at start-up is a clear error naming the cause', async (t) => {
  const dataDir = t.testdir();
  const s = await startApp(t, { SECRETS_KEY: crypto.randomBytes(32).toString('base64') }, dataDir);
  await s.request('PUT', '/_inference/text_embedding/a', hfBody());
  await s.app.close();
  const config = loadConfig({
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    SECRETS_KEY: crypto.randomBytes(32).toString('base64'),
  });
  await t.rejects(buildApp(config), {
    name: 'ConfigError',
    message: `the secrets key from SECRETS_KEY is not the key the database ${path.join(dataDir, 'inference.db')} was written with, so its stored api keys cannot be decrypted; start with the original key`,
  });
  // Without SECRETS_KEY and without the key file that database was written with:
  await t.rejects(buildApp(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' })), {
    name: 'ConfigError',
    message: `the database ${path.join(dataDir, 'inference.db')} holds encrypted api keys but the key file ${path.join(dataDir, 'secret.key')} is missing; restore it or set SECRETS_KEY to the original key`,
  });
  t.notOk(fs.existsSync(path.join(dataDir, 'secret.key')), 'no replacement key file was made');
});

t.test('a damaged key file is a clear error', async (t) => {
  const dataDir = t.testdir({ 'secret.key': 'not a key\n' });
  await t.rejects(buildApp(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' })), {
    name: 'ConfigError',
    message: `the secrets key file ${path.join(dataDir, 'secret.key')} does not hold a 32-byte base64 key`,
  });
});

t.test('a sealed secret opens only under its own key and inference id', async (t) => {
  const dir = t.testdir();
  const box = SecretBox.open({
    configuredKey: crypto.randomBytes(32),
    dataDir: dir,
    storeHasSecrets: false,
    databasePath: 'x',
  });
  const other = SecretBox.open({
    configuredKey: crypto.randomBytes(32),
    dataDir: dir,
    storeHasSecrets: false,
    databasePath: 'x',
  });
  const sealed = box.encrypt('{"api_key":"k"}', 'id-a');
  t.equal(box.decrypt(sealed, 'id-a'), '{"api_key":"k"}');
  t.not(box.encrypt('{"api_key":"k"}', 'id-a'), sealed, 'a fresh IV every time');
  t.throws(() => box.decrypt(sealed, 'id-b'), 'copied to another row it does not open');
  t.throws(() => other.decrypt(sealed, 'id-a'), 'another key does not open it');
  const tampered = sealed.slice(0, -6) + (sealed.endsWith('AAAA==') ? 'BBBB==' : 'AAAA==');
  t.throws(() => box.decrypt(tampered, 'id-a'), 'a changed byte is detected');
});

t.test('a database from a newer schema version is refused', async (t) => {
  const dataDir = t.testdir();
  const db = new Database(path.join(dataDir, 'inference.db'));
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  await t.rejects(buildApp(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' })), {
    message: `the database ${path.join(dataDir, 'inference.db')} has schema version ${SCHEMA_VERSION + 1}, newer than this service knows (${SCHEMA_VERSION}); upgrade the service`,
  });
});

t.test('a new database is migrated to the current schema version, in WAL mode', async (t) => {
  const s = await startApp(t);
  const db = new Database(path.join(s.dataDir, 'inference.db'), { readonly: true });
  t.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  db.close();
});

t.test(
  'the store writes in WAL mode with synchronous=FULL: a write is on disk before it is acknowledged',
  async (t) => {
    // The store as buildApp opens it; synchronous is a setting of the connection, read from that connection.
    const store = new SqliteEndpointStore(t.testdir());
    t.teardown(() => store.close());
    t.strictSame(store.durability(), { journalMode: 'wal', synchronous: 'full' });
  },
);

t.test('at trace level no api key or credential reaches the logs', async (t) => {
  const s = await startApp(t, { LOG_LEVEL: 'trace' });
  await s.request('PUT', '/_inference/text_embedding/a', hfBody(), { authorization: `Bearer ${API_KEY}` });
  await s.request(
    'PUT',
    '/_inference/a/_update',
    { service_settings: { api_key: ROTATED } },
    { authorization: 'ApiKey c2VjcmV0OnNlY3JldA==' },
  );
  await s.request('PUT', '/_inference/text_embedding/b', `{"api_key": ${API_KEY}`);
  await s.request('PUT', '/_inference/text_embedding/c', hfBody({ api_key: API_KEY, extra: API_KEY }));
  await s.request('GET', '/_inference');
  t.ok(s.logs.lines.length > 5, 'the app logged');
  for (const secret of [API_KEY, ROTATED, 'c2VjcmV0OnNlY3JldA==']) t.notMatch(s.logs.text, secret);
});

t.test('the logger configuration redacts credentials wherever a log line carries them', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const log = pino(loggerOptions('trace'), sink);
  log.info(
    {
      req: {
        method: 'GET',
        url: `/_inference?api_key=${API_KEY}&pretty`,
        headers: { authorization: `Bearer ${API_KEY}` },
      },
    },
    'request',
  );
  log.info({ upstream: { headers: { authorization: `Bearer ${API_KEY}` } } }, 'upstream call');
  log.info({ body: { service_settings: { api_key: API_KEY } } }, 'body');
  log.info({ endpoint: { secrets: { api_key: API_KEY } } }, 'endpoint');
  log.info({ api_key: API_KEY }, 'flat');
  const text = lines.join('');
  t.equal(lines.length, 5);
  t.notMatch(text, API_KEY);
  // A request is logged as method, url (its secret query values masked) and addresses: never its headers.
  t.strictSame(JSON.parse(lines[0]!).req, { method: 'GET', url: '/_inference?api_key=[Redacted]&pretty' });
  t.equal((text.match(/\[Redacted\]/g) ?? []).length, 5);
});

t.test('configuration: defaults, and a clear error for each bad value', async (t) => {
  const c = loadConfig({});
  t.equal(c.port, 9200);
  t.equal(c.host, '127.0.0.1');
  t.equal(c.dataDir, path.resolve('./data'));
  t.equal(c.logLevel, 'info');
  t.equal(c.hfApiBase, 'https://router.huggingface.co/hf-inference');
  t.equal(c.bodyLimit, 10 * 1024 * 1024);
  t.equal(c.secretsKey, undefined);
  t.equal(loadConfig({ BODY_LIMIT: '512kb' }).bodyLimit, 512 * 1024);
  t.equal(loadConfig({ BODY_LIMIT: '2048' }).bodyLimit, 2048);
  t.equal(loadConfig({ HF_API_BASE: 'http://127.0.0.1:8080/' }).hfApiBase, 'http://127.0.0.1:8080');
  const bad: Array<[Record<string, string>, string]> = [
    [{ PORT: 'abc' }, 'PORT must be an integer from 0 to 65535, got [abc]'],
    [{ PORT: '70000' }, 'PORT must be an integer from 0 to 65535, got [70000]'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got [loud]'],
    [{ BODY_LIMIT: 'lots' }, 'BODY_LIMIT must be a positive size such as 10mb, 512kb or 1048576, got [lots]'],
    [{ BODY_LIMIT: '0' }, 'BODY_LIMIT must be a positive size such as 10mb, 512kb or 1048576, got [0]'],
    [{ HF_API_BASE: 'ftp://x' }, 'HF_API_BASE must be an http(s) URL, got [ftp://x]'],
    [{ HF_ROUTER_BASE: 'ftp://u:pw@router' }, 'HF_ROUTER_BASE must be an http(s) URL, got [ftp://u:***@router]'],
    [
      { SECRETS_KEY: 'c2hvcnQ=' },
      'SECRETS_KEY must be 32 bytes encoded as base64 (44 characters, e.g. from `openssl rand -base64 32`), got 5 bytes',
    ],
  ];
  for (const [env, message] of bad) t.throws(() => loadConfig(env), new ConfigError(message), message);
});
