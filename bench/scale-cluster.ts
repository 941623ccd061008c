// The scale benchmark on a cluster: two service instances on one throw-away PostgreSQL database and the shared Redis,
// holding 1,000, 10,000 and 100,000 endpoints that have each served a request on both — memory per endpoint, DELETE and
// how soon the other instance refuses the deleted endpoint, GET, `_update`, PUT, the listing on each instance (and on
// one after changes made on the other), the metrics scrape, and inference while scrapes run (docs/performance.md).
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Pool } from 'undici';
import { SecretBox } from '../src/secrets.js';
import {
  ADMIN_DATABASE_URL,
  makeDatabase,
  postgresReachable,
  TEST_REDIS_URL,
} from '../test/helpers/backing-services.js';
import { startChild, type Child } from './children.js';
import { expectOk, inferenceP50, inParallel, percentile, timed } from './scale.js';
import { median, row, type Row } from './stats.js';

const SIZES = (process.env.BENCH_SCALE_SIZES ?? '1000,10000,100000').split(',').map(Number);
/** As bench/scale.ts: idle endpoints let go after 10 s, so inference during scrapes is timed as a minute after traffic. */
const LIVE_IDLE_MS = Number(process.env.BENCH_LIVE_IDLE_MS ?? 10_000);
/** Rows per INSERT of the seed. */
const SEED_BATCH = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Instance {
  child: Child;
  pool: Pool;
}

interface Figures {
  rssPerEndpointKb: [number, number];
  rssMb: [number, number];
  rssIdleMb: [number, number];
  heapIdleMb: [number, number];
  deleteP50: number;
  deleteP99: number;
  goneP50: number;
  goneP99: number;
  goneMax: number;
  servedAfterDelete: number;
  getOneP50: number;
  updateP50: number;
  createP50: number;
  listFirstMs: [number, number];
  listMs: [number, number];
  listAfterChangesMs: number;
  listMb: number;
  scrapeMs: [number, number];
  scrapeKb: number;
  inferP50: number;
  inferP50Scraping: number;
  loopMaxScrapingMs: number;
  gcMaxScrapingMs: number;
  scrapesDuring: number;
}

/**
 * Endpoints written straight into PostgreSQL, as copies of one made through the API (each api key sealed again for its
 * own id), as bench/gateway.ts's `seed` does for SQLite: one INSERT … SELECT FROM unnest per 10,000 rows. Written
 * behind the instances' backs (no NOTIFY): neither holds anything of these ids yet, and both read the store.
 */
async function seed(url: string, key: string, template: string, prefix: string, count: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const box = SecretBox.open({
      configuredKey: Buffer.from(key, 'base64'),
      dataDir: '',
      storeHasSecrets: true,
      databasePath: url,
    });
    const { rows } = await client.query<Record<string, string>>('SELECT * FROM endpoints WHERE inference_id = $1', [
      template,
    ]);
    const r = rows[0]!;
    const secrets = box.decrypt(r.secrets!, template);
    for (let from = 0; from < count; from += SEED_BATCH) {
      const ids: string[] = [];
      const sealed: string[] = [];
      for (let i = from; i < Math.min(count, from + SEED_BATCH); i++) {
        ids.push(`${prefix}${i}`);
        sealed.push(box.encrypt(secrets, `${prefix}${i}`));
      }
      await client.query(
        `INSERT INTO endpoints (inference_id, task_type, service, service_settings, task_settings, chunking_settings, secrets, created_at, updated_at)
         SELECT id, $3, $4, $5, $6, $7, s, $8, $9 FROM unnest($1::text[], $2::text[]) AS t(id, s)`,
        [
          ids,
          sealed,
          r.task_type,
          r.service,
          r.service_settings,
          r.task_settings,
          r.chunking_settings,
          r.created_at,
          r.updated_at,
        ],
      );
    }
    await client.query('ANALYZE endpoints');
  } finally {
    await client.end();
  }
}

/** Unlinks this run's limiter clocks (`rl:{inference:<prefix>…}:last`) from the shared Redis, and nothing else. */
async function forgetLimiters(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `rl:{inference:${prefix}*`, 'COUNT', 5000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

async function settle(child: Child): Promise<number> {
  for (let k = 0; k < 3; k++) {
    await sleep(300);
    await child.ask('gc');
  }
  return child.ask<number>('rss');
}

/** A GET's body as text, for comparing what two instances list. */
async function text(pool: Pool, path: string): Promise<string> {
  const res = await pool.request({ path, method: 'GET' });
  const body = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${path}: ${res.statusCode}`);
  return body;
}

async function atSize(upstream: Child, count: number): Promise<Figures> {
  const run = crypto.randomBytes(3).toString('hex');
  // Every id of this run starts with it, so its limiter clocks in the shared Redis can be found and removed.
  const prefix = `sc${run}-`;
  const template = `${prefix}template`;
  const secretsKey = crypto.randomBytes(32).toString('base64');
  const database = await makeDatabase();
  // Stopped by a signal (Ctrl-C): the database is dropped all the same (the children, in the same process group, go too).
  const onSignal = (signal: NodeJS.Signals) =>
    void Promise.allSettled([database.drop(), forgetLimiters(prefix)]).then(() => process.kill(process.pid, signal));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const instances: Instance[] = [];
  try {
    const env = {
      MALLOC_ARENA_MAX: '2',
      BENCH_LIVE_IDLE_MS: String(LIVE_IDLE_MS),
      BENCH_DATABASE_URL: database.url,
      BENCH_REDIS_URL: TEST_REDIS_URL,
      BENCH_SECRETS_KEY: secretsKey,
      BENCH_CLUSTER_SIZE: '2',
    };
    for (let i = 0; i < 2; i++) {
      const child = await startChild('gateway', env, ['--expose-gc']);
      instances.push({ child, pool: new Pool(child.url, { connections: 32 }) });
    }
    const [a, b] = instances as [Instance, Instance];
    const on = (i: number) => instances[i % 2]!;
    const put = (at: Instance, id: string) =>
      expectOk(
        timed(at.pool, 'PUT', `/_inference/text_embedding/${id}`, {
          service: 'hugging_face',
          service_settings: { api_key: 'hf_bench_key', url: `${upstream.url}/embed`, dimensions: 384 },
        }),
        `creating ${id}`,
      );
    const infer = (at: Instance, id: string) =>
      timed(at.pool, 'POST', `/_inference/text_embedding/${id}`, { input: 'x' });
    await put(a, template);
    for (const at of instances) await inferenceP50(at.child.url, 50, template);
    const before = await Promise.all(instances.map((x) => settle(x.child)));
    await seed(database.url, secretsKey, template, prefix, count);
    // Each endpoint serves one request on each instance (B half the ids further on than A, so that one endpoint's two
    // requests do not wait on each other's slot of the shared limiter).
    const half = Math.floor(count / 2);
    await inParallel(2 * count, 64, (k) =>
      expectOk(infer(on(k), `${prefix}${((k >> 1) + (k % 2) * half) % count}`), 'serving'),
    );
    const after = await Promise.all(instances.map((x) => settle(x.child)));

    const creates: number[] = [];
    for (let i = 0; i < 200; i++) creates.push((await put(on(i), `${prefix}new-${i}`)).ms);
    const gets: number[] = [];
    for (let i = 0; i < 200; i++) {
      const id = `${prefix}${(i * 7919) % count}`;
      gets.push((await expectOk(timed(on(i).pool, 'GET', `/_inference/${id}`), 'get')).ms);
    }
    // One instance after the other: two listings at once on 2 cores would each take about twice as long.
    const lists: Array<Array<{ ms: number; bytes: number }>> = [];
    for (const x of instances) {
      const times: Array<{ ms: number; bytes: number }> = [];
      for (let i = 0; i < 3; i++) times.push(await expectOk(timed(x.pool, 'GET', '/_inference/_all'), 'list'));
      lists.push(times);
    }
    // Changes on A: B is told through PostgreSQL and lists those endpoints afresh.
    const updates: number[] = [];
    for (let i = 0; i < 200; i++) {
      const id = `${prefix}${(i * 7919) % count}`;
      const body = { service_settings: { rate_limit: { requests_per_minute: 1000 + i } } };
      updates.push((await expectOk(timed(a.pool, 'PUT', `/_inference/${id}/_update`, body), 'update')).ms);
    }
    await sleep(200);
    const listAfter = await expectOk(timed(b.pool, 'GET', '/_inference/_all'), 'list after changes');
    if ((await text(a.pool, '/_inference/_all')) !== (await text(b.pool, '/_inference/_all')))
      throw new Error('the two instances list different endpoints after the updates');
    const scrapes: Array<Array<{ ms: number; bytes: number }>> = [];
    for (const x of instances) {
      const times: Array<{ ms: number; bytes: number }> = [];
      for (let i = 0; i < 5; i++) times.push(await expectOk(timed(x.pool, 'GET', '/_prometheus/metrics'), 'scrape'));
      scrapes.push(times);
    }

    // The endpoints served once are idle by now: their live state goes (a sweep every half live time).
    await sleep(Math.min(LIVE_IDLE_MS * 1.6, 20_000));
    const rssIdle = await Promise.all(instances.map((x) => settle(x.child)));
    const heapIdle = await Promise.all(
      instances.map(async (x) => (await x.child.ask<NodeJS.MemoryUsage>('memory')).heapUsed),
    );

    // Inference on A alone, then with two scrape loops on A (in a process of their own, as in bench/scale.ts).
    const inferP50 = await inferenceP50(a.child.url, 400, template);
    await a.child.ask('loopDelay');
    await a.child.ask('gcPauses');
    const scraper = await startChild('scraper');
    await scraper.ask('start', { url: a.child.url, count: 2 });
    const inferP50Scraping = await inferenceP50(a.child.url, 400, template);
    const scrapesDuring = await scraper.ask<number>('stop');
    await scraper.stop();
    const loop = await a.child.ask<{ maxMs: number }>('loopDelay');
    const gc = await a.child.ask<{ maxMs: number }>('gcPauses');

    // DELETE on A of an endpoint B is serving (live there), then B asked again and again until it answers 404: how long
    // the change took to reach B, from A's answer.
    const deletes: number[] = [];
    const gone: number[] = [];
    let servedAfterDelete = 0;
    for (let i = 0; i < 500; i++) {
      const id = `${prefix}${(i * 104729) % count}`;
      await expectOk(infer(b, id), `serving ${id} on B`);
      deletes.push((await expectOk(timed(a.pool, 'DELETE', `/_inference/${id}`), `deleting ${id}`)).ms);
      const acknowledged = performance.now();
      for (;;) {
        const r = await infer(b, id);
        if (r.status === 404) break;
        if (r.status !== 200) throw new Error(`B on ${id} after its DELETE: ${r.status}`);
        servedAfterDelete++;
      }
      gone.push(performance.now() - acknowledged);
    }
    const mb = (bytes: number) => bytes / 1024 / 1024;
    const pair = <T>(f: (i: number) => T): [T, T] => [f(0), f(1)];
    return {
      rssPerEndpointKb: pair((i) => (after[i]! - before[i]!) / count / 1024),
      rssMb: pair((i) => mb(after[i]!)),
      rssIdleMb: pair((i) => mb(rssIdle[i]!)),
      heapIdleMb: pair((i) => mb(heapIdle[i]!)),
      deleteP50: percentile(deletes, 50),
      deleteP99: percentile(deletes, 99),
      goneP50: percentile(gone, 50),
      goneP99: percentile(gone, 99),
      goneMax: Math.max(...gone),
      servedAfterDelete,
      getOneP50: median(gets),
      updateP50: median(updates),
      createP50: median(creates),
      listFirstMs: pair((i) => lists[i]![0]!.ms),
      listMs: pair((i) => median(lists[i]!.slice(1).map((l) => l.ms))),
      listAfterChangesMs: listAfter.ms,
      listMb: lists[0]![0]!.bytes / 1e6,
      scrapeMs: pair((i) => median(scrapes[i]!.map((s) => s.ms))),
      scrapeKb: scrapes[0]![0]!.bytes / 1024,
      inferP50,
      inferP50Scraping,
      loopMaxScrapingMs: loop.maxMs,
      gcMaxScrapingMs: gc.maxMs,
      scrapesDuring,
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const x of instances) {
      await x.pool.close();
      await x.child.stop();
    }
    await database.drop();
    await forgetLimiters(prefix);
  }
}

export async function scaleClusterFigures(upstream: Child): Promise<Row[]> {
  const why = await postgresReachable(ADMIN_DATABASE_URL);
  if (why) {
    console.error(`scale-cluster section skipped: PostgreSQL at ${ADMIN_DATABASE_URL} cannot be reached (${why})`);
    return [{ section: 'scale-cluster', case: 'skipped: no PostgreSQL', figure: '-', value: 0 }];
  }
  const rows: Row[] = [];
  for (const count of SIZES) {
    const f = await atSize(upstream, count);
    const at = `2 instances, ${count.toLocaleString('en')} endpoints, each served once on each`;
    const top = count === 100_000;
    const target = (text: string, met: (v: number) => boolean) => (top ? { text, met } : undefined);
    const add = (figure: string, value: number, t?: { text: string; met: (v: number) => boolean }) =>
      rows.push(row('scale-cluster', at, figure, [value], t));
    add('RSS per endpoint KB, A', f.rssPerEndpointKb[0]);
    add('RSS per endpoint KB, B', f.rssPerEndpointKb[1]);
    add('RSS MB, A', f.rssMb[0]);
    add('RSS MB, B', f.rssMb[1]);
    add(`RSS MB, ${LIVE_IDLE_MS / 1000} s idle, A`, f.rssIdleMb[0]);
    add(`RSS MB, ${LIVE_IDLE_MS / 1000} s idle, B`, f.rssIdleMb[1]);
    add('heap used MB, idle, A', f.heapIdleMb[0]);
    add('heap used MB, idle, B', f.heapIdleMb[1]);
    add('DELETE p50 ms (on A)', f.deleteP50);
    add(
      'DELETE p99 ms (on A)',
      f.deleteP99,
      target('< 5', (v) => v < 5),
    );
    add('DELETE on A until B answers 404, p50 ms', f.goneP50);
    add(
      'DELETE on A until B answers 404, p99 ms',
      f.goneP99,
      target('< 1000', (v) => v < 1000),
    );
    add('DELETE on A until B answers 404, max ms', f.goneMax);
    add('inference served by B after A acknowledged the DELETE', f.servedAfterDelete);
    add('GET one p50 ms (A and B in turn)', f.getOneP50);
    add('_update p50 ms (on A)', f.updateP50);
    add('PUT p50 ms (A and B in turn)', f.createP50);
    add('GET _all ms, the first, A', f.listFirstMs[0]);
    add('GET _all ms, the first, B', f.listFirstMs[1]);
    add(
      'GET _all ms, views kept, A',
      f.listMs[0],
      target('< 1000', (v) => v < 1000),
    );
    add('GET _all ms, views kept, B', f.listMs[1]);
    add('GET _all ms on B after 200 _update on A', f.listAfterChangesMs);
    add('GET _all MB', f.listMb);
    add(
      'scrape ms, A',
      f.scrapeMs[0],
      target('< 100', (v) => v < 100),
    );
    add('scrape ms, B', f.scrapeMs[1]);
    add('scrape KB', f.scrapeKb);
    add('inference p50 ms (A)', f.inferP50);
    add('inference p50 ms, 2 scrape loops on A', f.inferP50Scraping);
    add(
      'inference p50, scraping / not',
      f.inferP50Scraping / f.inferP50,
      target('<= 1.1', (v) => v <= 1.1),
    );
    add('scrapes answered during those requests', f.scrapesDuring);
    add('longest event-loop block while scraping ms', f.loopMaxScrapingMs);
    add('longest GC pause while scraping ms', f.gcMaxScrapingMs);
  }
  return rows;
}
