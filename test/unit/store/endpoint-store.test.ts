// One contract for every store: the same tests run against SQLite and PostgreSQL (insert, races, order, atomic updates,
// delete, meta, API keys).
import t, { type Test } from 'tap';
import { errors } from '../../../src/errors.js';
import { PostgresEndpointStore } from '../../../src/store/postgres.js';
import { SqliteEndpointStore } from '../../../src/store/sqlite.js';
import type { ApiKeyRecord, EndpointRecord, EndpointStore, StoreChange } from '../../../src/store/endpoint-store.js';
import { createDatabase, servicesAvailable, sql } from '../../helpers/backing-services.js';

const record = (inferenceId: string, extra: Partial<EndpointRecord> = {}): EndpointRecord => ({
  inferenceId,
  taskType: 'text_embedding',
  service: 'hugging_face',
  // Key order as a user gave it, not alphabetical: the store must keep it.
  serviceSettings: {
    url: 'https://x.example',
    similarity: 'cosine',
    dimensions: 384,
    rate_limit: { requests_per_minute: 3000 },
  },
  taskSettings: {},
  chunkingSettings: { strategy: 'sentence', max_chunk_size: 250, sentence_overlap: 1 },
  sealedSecrets: 'v1.c2VhbGVk',
  ...extra,
});

const key = (id: string, name: string, createdAt: number): ApiKeyRecord => ({
  id,
  name,
  privilege: 'manage_inference',
  salt: 'c2FsdA==',
  hash: 'aGFzaA==',
  createdAt,
  revokedAt: null,
});

type Open = (t: Test) => Promise<EndpointStore>;

/** The contract's tests, as subtests of `parent`. */
function contract(parent: Test | typeof t, name: string, open: Open): void {
  parent.test(`${name}: insert and get give back exactly what was stored`, async (t) => {
    const store = await open(t);
    const a = record('a');
    const b = record('b', {
      taskType: 'rerank',
      chunkingSettings: null,
      taskSettings: { top_n: 3, return_documents: true },
    });
    await store.insert(a);
    await store.insert(b);
    t.strictSame(await store.get('a'), a);
    t.strictSame(await store.get('b'), b);
    t.strictSame(
      Object.keys((await store.get('a'))!.serviceSettings),
      ['url', 'similarity', 'dimensions', 'rate_limit'],
      'key order kept',
    );
    t.equal(await store.get('missing'), undefined);
  });

  parent.test(`${name}: getMany gives back those of the ids that exist, as get does`, async (t) => {
    const store = await open(t);
    const a = record('a');
    const b = record('b', { taskType: 'rerank', chunkingSettings: null, taskSettings: { top_n: 3 } });
    await store.insert(a);
    await store.insert(b);
    await store.insert(record('c'));
    const many = await store.getMany(['b', 'missing', 'a']);
    t.strictSame(
      [...many].sort((x, y) => x.inferenceId.localeCompare(y.inferenceId)),
      [a, b],
    );
    t.strictSame(await store.getMany([]), []);
    t.strictSame(await store.getMany(['missing']), []);
  });

  parent.test(`${name}: a taken id is refused with resource_already_exists_exception`, async (t) => {
    const store = await open(t);
    await store.insert(record('dup'));
    await t.rejects(store.insert(record('dup', { sealedSecrets: 'v1.b3RoZXI=' })), errors.endpointExists('dup'));
    t.equal((await store.get('dup'))!.sealedSecrets, 'v1.c2VhbGVk', 'the first one stays');
  });

  parent.test(`${name}: of 20 concurrent inserts of one id exactly one wins, and it is the one stored`, async (t) => {
    const store = await open(t);
    const attempts = Array.from({ length: 20 }, (_, i) => record('race', { sealedSecrets: `v1.${i}` }));
    const results = await Promise.allSettled(attempts.map((r) => store.insert(r)));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    t.equal(won.length, 1);
    for (const r of results) {
      if (r.status === 'rejected')
        t.match(r.reason, {
          status: 400,
          type: 'resource_already_exists_exception',
          reason: 'Inference endpoint [race] already exists',
        });
    }
    t.equal((await store.get('race'))!.sealedSecrets, `v1.${won[0]}`);
  });

  parent.test(`${name}: list is sorted by inference id in byte order, optionally by task type`, async (t) => {
    const store = await open(t);
    const ids = ['b', 'a_b', 'a-b', 'a.b', 'ab', 'a0', '9z', 'a'];
    for (const id of ids) await store.insert(record(id, id.startsWith('a') ? {} : { taskType: 'sparse_embedding' }));
    // Code-point order: '-' < '.' < digits < '_' < letters (a locale collation would ignore the punctuation).
    t.strictSame(
      (await store.list()).map((r) => r.inferenceId),
      ['9z', 'a', 'a-b', 'a.b', 'a0', 'a_b', 'ab', 'b'],
    );
    t.strictSame(
      (await store.list('sparse_embedding')).map((r) => r.inferenceId),
      ['9z', 'b'],
    );
    t.strictSame(await store.list('rerank'), []);
    t.strictSame(
      await store.listIds(),
      ['9z', 'a', 'a-b', 'a.b', 'a0', 'a_b', 'ab', 'b'],
      'the ids alone, in that order',
    );
    t.strictSame(await store.listIds('sparse_embedding'), ['9z', 'b']);
    t.strictSame(await store.listIds('rerank'), []);
  });

  parent.test(`${name}: update changes atomically; a throwing change leaves the endpoint as it was`, async (t) => {
    const store = await open(t);
    await store.insert(record('u'));
    const next = await store.update('u', (current) => ({
      ...current,
      serviceSettings: { ...current.serviceSettings, dimensions: 768 },
      sealedSecrets: 'v1.bmV3',
    }));
    t.equal(next!.serviceSettings.dimensions, 768);
    t.strictSame(await store.get('u'), next);
    t.equal(await store.update('missing', (c) => c), undefined);
    const failure = errors.validation(['no']);
    await t.rejects(
      store.update('u', (current) => {
        current.sealedSecrets = 'v1.changed-then-thrown';
        throw failure;
      }),
      failure,
    );
    t.strictSame(await store.get('u'), next, 'unchanged after the throw');
  });

  parent.test(`${name}: concurrent updates of one endpoint never lose one`, async (t) => {
    const store = await open(t);
    await store.insert(record('counter', { taskSettings: { n: 0 } }));
    await Promise.all(
      Array.from({ length: 25 }, () =>
        store.update('counter', (current) => ({
          ...current,
          taskSettings: { n: (current.taskSettings.n as number) + 1 },
        })),
      ),
    );
    t.strictSame((await store.get('counter'))!.taskSettings, { n: 25 });
  });

  parent.test(`${name}: delete answers whether there was something to delete`, async (t) => {
    const store = await open(t);
    await store.insert(record('d'));
    t.equal(await store.delete('d'), true);
    t.equal(await store.delete('d'), false);
    t.equal(await store.get('d'), undefined);
    await store.insert(record('d'));
    t.ok(await store.get('d'), 'the id can be used again');
    t.equal(await store.delete('d', 'rerank'), false, 'not of that task type');
    t.ok(await store.get('d'), 'so it stays');
    t.equal(await store.delete('d', 'text_embedding'), true);
    t.equal(await store.get('d'), undefined);
  });

  parent.test(`${name}: meta values are initialised once`, async (t) => {
    const store = await open(t);
    t.equal(await store.getMeta('first'), undefined);
    const kept = await Promise.all(['x', 'y', 'z'].map((v) => store.initMeta('first', v)));
    t.equal(new Set(kept).size, 1, 'every caller is told the same value');
    t.equal(await store.getMeta('first'), kept[0]);
    t.equal(await store.initMeta('first', 'other'), kept[0], 'an existing value is kept');
  });

  parent.test(`${name}: API keys are stored, listed, revoked by id or name`, async (t) => {
    const store = await open(t);
    t.equal(await store.apiKeys.hasActive(), false);
    await store.apiKeys.insert(key('id2', 'second', 2000));
    await store.apiKeys.insert(key('id1', 'first', 1000));
    await t.rejects(store.apiKeys.insert(key('id3', 'first', 3000)), 'a taken name is refused');
    t.strictSame(await store.apiKeys.get('id1'), key('id1', 'first', 1000));
    t.strictSame(
      (await store.apiKeys.list()).map((k) => k.id),
      ['id1', 'id2'],
      'oldest first',
    );
    t.equal(await store.apiKeys.hasActive(), true);
    t.equal(await store.apiKeys.revoke('id1', 5000), true);
    t.equal(await store.apiKeys.revoke('id1', 6000), false, 'already revoked');
    t.equal((await store.apiKeys.get('id1'))!.revokedAt, 5000);
    t.equal(await store.apiKeys.revoke('second', 7000), true, 'by name');
    t.equal(await store.apiKeys.hasActive(), false);
    t.equal(await store.apiKeys.revoke('nobody', 8000), false);
  });
}

contract(t, 'sqlite', async (t) => {
  const store = new SqliteEndpointStore(t.testdir());
  t.teardown(() => store.close());
  return store;
});

// PostgreSQL: a throw-away database per test.
const openPostgres = async (t: Test) => {
  const store = await PostgresEndpointStore.open(await createDatabase(t));
  t.teardown(() => store.close());
  return store;
};

t.test('postgres', async (t) => {
  if (!(await servicesAvailable(t, { postgres: true }))) return;
  contractOn(t);
});

/** The PostgreSQL half of the contract, plus what only a shared store does. */
function contractOn(parent: Test): void {
  contract(parent, 'postgres', openPostgres);

  parent.test('postgres: a second store on the database hears every write of the first, never its own', async (t) => {
    const url = await createDatabase(t);
    const writer = await PostgresEndpointStore.open(url);
    const watcher = await PostgresEndpointStore.open(url);
    t.teardown(async () => {
      await writer.close();
      await watcher.close();
    });
    const heard: StoreChange[] = [];
    const heardByWriter: StoreChange[] = [];
    let resyncs = 0;
    await watcher.watch(
      (c) => heard.push(c),
      () => resyncs++,
    );
    await writer.watch(
      (c) => heardByWriter.push(c),
      () => {},
    );
    await writer.insert(record('w'));
    await writer.update('w', (c) => ({ ...c, sealedSecrets: 'v1.cm90YXRlZA==' }));
    await writer.delete('w');
    await writer.delete('w'); // nothing deleted: nothing announced
    await writer.apiKeys.insert(key('k1', 'one', 1));
    await writer.apiKeys.revoke('one', 2);
    await t.rejects(
      writer.update('missing', (c) => c).then((r) => (r === undefined ? Promise.reject(new Error('none')) : r)),
    );
    const until = Date.now() + 2000;
    while (heard.length < 5 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    t.strictSame(heard, [
      { table: 'endpoints', op: 'created', id: 'w' },
      { table: 'endpoints', op: 'updated', id: 'w' },
      { table: 'endpoints', op: 'deleted', id: 'w' },
      { table: 'api_keys', op: 'created', id: 'k1' },
      { table: 'api_keys', op: 'updated', id: 'k1' },
    ]);
    t.strictSame(heardByWriter, [], 'a store does not hear its own writes');
    t.equal(resyncs, 0);
  });

  parent.test('postgres: a write rolled back is not announced', async (t) => {
    const url = await createDatabase(t);
    const writer = await PostgresEndpointStore.open(url);
    const watcher = await PostgresEndpointStore.open(url);
    t.teardown(async () => {
      await writer.close();
      await watcher.close();
    });
    const heard: StoreChange[] = [];
    await watcher.watch(
      (c) => heard.push(c),
      () => {},
    );
    await writer.insert(record('r'));
    await t.rejects(
      writer.update('r', () => {
        throw new Error('changed my mind');
      }),
    );
    await writer.delete('r');
    const until = Date.now() + 2000;
    while (heard.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    t.strictSame(
      heard.map((c) => c.op),
      ['created', 'deleted'],
    );
  });

  parent.test('postgres: a listener that lost its connection listens again and asks for a resync', async (t) => {
    const url = await createDatabase(t);
    const store = await PostgresEndpointStore.open(url);
    const writer = await PostgresEndpointStore.open(url);
    t.teardown(async () => {
      await store.close();
      await writer.close();
    });
    let resyncs = 0;
    const heard: StoreChange[] = [];
    await store.watch(
      (c) => heard.push(c),
      () => resyncs++,
    );
    const database = new URL(url).pathname.slice(1);
    const killed = await sql(
      url,
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND application_name = $2`,
      [database, 'hf-inference-gateway listener'],
    );
    t.equal(killed.length, 1, 'the listener connection was found and ended');
    const until = Date.now() + 3000;
    while (resyncs === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    t.equal(resyncs, 1, 'one resync after reconnecting');
    await writer.insert(record('after'));
    while (heard.length === 0 && Date.now() < until + 2000) await new Promise((r) => setTimeout(r, 20));
    t.strictSame(heard, [{ table: 'endpoints', op: 'created', id: 'after' }], 'and hears writes again');
  });

  parent.test('postgres: a schema newer than the service is refused', async (t) => {
    const url = await createDatabase(t);
    (await PostgresEndpointStore.open(url)).close();
    await sql(url, 'INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)');
    const location = url.replace(/^postgres:\/\/postgres@/, 'postgres://postgres@');
    await t.rejects(PostgresEndpointStore.open(url), {
      message: `the database ${location} has schema version 99, newer than this service knows (2); upgrade the service`,
    });
  });

  parent.test(
    'postgres: a database of schema version 1 is migrated, its endpoints kept and listed in order',
    async (t) => {
      const url = await createDatabase(t);
      await (await PostgresEndpointStore.open(url)).close();
      // As a service of version 1 left it: no byte-order index, version 1 recorded.
      await sql(url, 'DROP INDEX endpoints_inference_id_bytes');
      await sql(url, 'DELETE FROM schema_migrations WHERE version = 2');
      const ids = ['b', 'a_b', 'a-b', 'a0'];
      for (const id of ids)
        await sql(
          url,
          `INSERT INTO endpoints (inference_id, task_type, service, service_settings, task_settings, chunking_settings, secrets, created_at, updated_at)
         VALUES ($1, 'text_embedding', 'hugging_face', '{}', '{}', NULL, 'v1.c2VhbGVk', 0, 0)`,
          [id],
        );
      const store = await PostgresEndpointStore.open(url);
      t.teardown(() => store.close());
      t.strictSame(await store.listIds(), ['a-b', 'a0', 'a_b', 'b']);
      t.strictSame(
        (await sql(url, 'SELECT version FROM schema_migrations ORDER BY version')).map((r) => r.version),
        [1, 2],
      );
      t.strictSame(
        await sql(url, "SELECT indexname FROM pg_indexes WHERE tablename = 'endpoints' ORDER BY indexname"),
        [{ indexname: 'endpoints_inference_id_bytes' }, { indexname: 'endpoints_pkey' }],
      );
    },
  );

  parent.test('postgres: several stores opening an empty database at once migrate it once', async (t) => {
    const url = await createDatabase(t);
    const stores = await Promise.all([1, 2, 3, 4].map(() => PostgresEndpointStore.open(url)));
    t.teardown(() => Promise.all(stores.map((s) => s.close())));
    t.strictSame(await sql(url, 'SELECT version FROM schema_migrations ORDER BY version'), [
      { version: 1 },
      { version: 2 },
    ]);
    await stores[0]!.insert(record('x'));
    t.ok(await stores[3]!.get('x'));
  });
}
