// The scale benchmark: one service holding 1,000, 10,000 and 100,000 endpoints that have each served a request — memory
// per endpoint, DELETE, GET, _update and creation times, the metrics scrape, and inference while scrapes run.
import { Pool } from 'undici';
import { startChild, type Child } from './children.js';
import { median, row, type Row } from './stats.js';

/** The environment the service runs with as shipped (npm start, the Dockerfile). */
const DEPLOYED = { MALLOC_ARENA_MAX: '2' };
const SIZES = (process.env.BENCH_SCALE_SIZES ?? '1000,10000,100000').split(',').map(Number);
const TEMPLATE = 'template';
const PREFIX = 'tenant-';
/**
 * The service's live time for idle endpoints here (60 s as shipped): short enough that the endpoints served once are let
 * go before inference is timed during scrapes, as they would be a minute after their traffic stopped. BENCH_LIVE_IDLE_MS
 * changes it (one longer than the section keeps every endpoint live, for comparison).
 */
const LIVE_IDLE_MS = Number(process.env.BENCH_LIVE_IDLE_MS ?? 10_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** One request over the pool: its status, its body's size and its time in ms. */
export async function timed(
  pool: Pool,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<{ status: number; bytes: number; ms: number }> {
  const started = performance.now();
  const res = await pool.request({
    path,
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const bytes = (await res.body.arrayBuffer()).byteLength;
  return { status: res.statusCode, bytes, ms: performance.now() - started };
}

export async function expectOk(r: Promise<{ status: number; ms: number; bytes: number }>, what: string) {
  const done = await r;
  if (done.status !== 200) throw new Error(`${what}: ${done.status}`);
  return done;
}

/** Runs `work(i)` for i in [0, count) with `concurrency` at a time. */
export async function inParallel(
  count: number,
  concurrency: number,
  work: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

interface Figures {
  rssPerEndpointKb: number;
  rssMb: number;
  rssIdleMb: number;
  heapIdleMb: number;
  gcMaxScrapingMs: number;
  gcTotalScrapingMs: number;
  deleteP50: number;
  deleteP99: number;
  getOneP50: number;
  updateP50: number;
  createP50: number;
  listMs: number;
  listFirstMs: number;
  listMb: number;
  scrapeMs: number;
  scrapeKb: number;
  inferP50: number;
  inferP50Scraping: number;
  loopMaxScrapingMs: number;
  scrapesDuring: number;
}

/** Sequential single-text requests to one endpoint over one connection (at most 30 s of them): the p50 in ms. */
export async function inferenceP50(base: string, count: number, id = TEMPLATE): Promise<number> {
  const pool = new Pool(base, { connections: 1 });
  const times: number[] = [];
  const until = performance.now() + 30_000;
  for (let i = 0; i < count && performance.now() < until; i++) {
    const r = await expectOk(timed(pool, 'POST', `/_inference/text_embedding/${id}`, { input: 'x' }), 'infer');
    times.push(r.ms);
  }
  await pool.close();
  return median(times);
}

async function atSize(upstream: Child, count: number): Promise<Figures> {
  const gateway = await startChild('gateway', { ...DEPLOYED, BENCH_LIVE_IDLE_MS: String(LIVE_IDLE_MS) }, [
    '--expose-gc',
  ]);
  const pool = new Pool(gateway.url, { connections: 32 });
  try {
    const put = (id: string) =>
      expectOk(
        timed(pool, 'PUT', `/_inference/text_embedding/${id}`, {
          service: 'hugging_face',
          service_settings: { api_key: 'hf_bench_key', url: `${upstream.url}/embed`, dimensions: 384 },
        }),
        `creating ${id}`,
      );
    await put(TEMPLATE);
    await inferenceP50(gateway.url, 50);
    const settle = async () => {
      for (let k = 0; k < 3; k++) {
        await sleep(300);
        await gateway.ask('gc');
      }
      return gateway.ask<number>('rss');
    };
    const before = await settle();
    await gateway.ask('seed', { template: TEMPLATE, prefix: PREFIX, from: 0, count });
    // Each endpoint serves one request: its live state (queue, limiter) and its metric series exist.
    await inParallel(count, 64, (i) =>
      expectOk(timed(pool, 'POST', `/_inference/text_embedding/${PREFIX}${i}`, { input: 'x' }), 'serving'),
    );
    const after = await settle();

    const creates: number[] = [];
    for (let i = 0; i < 200; i++) creates.push((await put(`new-${i}`)).ms);
    const gets: number[] = [];
    const updates: number[] = [];
    for (let i = 0; i < 200; i++) {
      const id = `${PREFIX}${(i * 7919) % count}`;
      gets.push((await expectOk(timed(pool, 'GET', `/_inference/${id}`), 'get')).ms);
      const body = { service_settings: { rate_limit: { requests_per_minute: 1000 + i } } };
      updates.push((await expectOk(timed(pool, 'PUT', `/_inference/${id}/_update`, body), 'update')).ms);
    }
    const lists: Array<{ ms: number; bytes: number }> = [];
    for (let i = 0; i < 3; i++) lists.push(await expectOk(timed(pool, 'GET', '/_inference/_all'), 'list'));
    const scrapes: Array<{ ms: number; bytes: number }> = [];
    for (let i = 0; i < 5; i++) scrapes.push(await expectOk(timed(pool, 'GET', '/_prometheus/metrics'), 'scrape'));

    // The endpoints served once are idle by now: their live state goes (a sweep every half live time).
    await sleep(Math.min(LIVE_IDLE_MS * 1.6, 20_000));
    const rssIdle = await settle();
    const heapIdle = (await gateway.ask<NodeJS.MemoryUsage>('memory')).heapUsed;

    // Inference alone, then with two scrape loops (back to back, each on its own connection).
    const inferP50 = await inferenceP50(gateway.url, 400);
    await gateway.ask('loopDelay');
    await gateway.ask('gcPauses');
    // The loops run in a process of their own: reading 1.3 MB answers back to back here would hold up this process's
    // own timing of the inference requests.
    const scraper = await startChild('scraper');
    await scraper.ask('start', { url: gateway.url, count: 2 });
    const inferP50Scraping = await inferenceP50(gateway.url, 400);
    const scrapesDuring = await scraper.ask<number>('stop');
    await scraper.stop();
    const loop = await gateway.ask<{ maxMs: number }>('loopDelay');
    const gc = await gateway.ask<{ maxMs: number; totalMs: number }>('gcPauses');

    const deletes: number[] = [];
    for (let i = 0; i < 500; i++) {
      const id = `${PREFIX}${(i * 104729) % count}`;
      deletes.push((await expectOk(timed(pool, 'DELETE', `/_inference/${id}`), `deleting ${id}`)).ms);
    }
    return {
      rssPerEndpointKb: (after - before) / count / 1024,
      rssMb: after / 1024 / 1024,
      rssIdleMb: rssIdle / 1024 / 1024,
      heapIdleMb: heapIdle / 1024 / 1024,
      gcMaxScrapingMs: gc.maxMs,
      gcTotalScrapingMs: gc.totalMs,
      deleteP50: percentile(deletes, 50),
      deleteP99: percentile(deletes, 99),
      getOneP50: median(gets),
      updateP50: median(updates),
      createP50: median(creates),
      listMs: median(lists.map((l) => l.ms)),
      listFirstMs: lists[0]!.ms,
      listMb: lists[0]!.bytes / 1e6,
      scrapeMs: median(scrapes.map((s) => s.ms)),
      scrapeKb: scrapes[0]!.bytes / 1024,
      inferP50,
      inferP50Scraping,
      loopMaxScrapingMs: loop.maxMs,
      scrapesDuring,
    };
  } finally {
    await pool.close();
    await gateway.stop();
  }
}

export async function scaleFigures(upstream: Child): Promise<Row[]> {
  const rows: Row[] = [];
  for (const count of SIZES) {
    const f = await atSize(upstream, count);
    const at = `${count.toLocaleString('en')} endpoints, each served once`;
    const top = count === 100_000;
    const target = (text: string, met: (v: number) => boolean) => (top ? { text, met } : undefined);
    rows.push(
      row('scale', at, 'RSS per endpoint KB', [f.rssPerEndpointKb]),
      row('scale', at, 'RSS MB', [f.rssMb]),
      row('scale', at, `RSS MB, ${LIVE_IDLE_MS / 1000} s idle (live state let go)`, [f.rssIdleMb]),
      row('scale', at, 'heap used MB, idle', [f.heapIdleMb]),
      row('scale', at, 'DELETE p50 ms', [f.deleteP50]),
      row(
        'scale',
        at,
        'DELETE p99 ms',
        [f.deleteP99],
        target('< 5', (v) => v < 5),
      ),
      row('scale', at, 'GET one p50 ms', [f.getOneP50]),
      row('scale', at, '_update p50 ms', [f.updateP50]),
      row('scale', at, 'PUT p50 ms', [f.createP50]),
      row(
        'scale',
        at,
        'GET _all ms',
        [f.listMs],
        target('< 1000', (v) => v < 1000),
      ),
      row('scale', at, 'GET _all ms, the first (no view kept yet)', [f.listFirstMs]),
      row('scale', at, 'GET _all MB', [f.listMb]),
      row(
        'scale',
        at,
        'scrape ms',
        [f.scrapeMs],
        target('< 100', (v) => v < 100),
      ),
      row('scale', at, 'scrape KB', [f.scrapeKb]),
      row('scale', at, 'inference p50 ms', [f.inferP50]),
      row('scale', at, 'inference p50 ms, 2 scrape loops', [f.inferP50Scraping]),
      row(
        'scale',
        at,
        'inference p50, scraping / not',
        [f.inferP50Scraping / f.inferP50],
        target('<= 1.1', (v) => v <= 1.1),
      ),
      row('scale', at, 'scrapes answered during those requests', [f.scrapesDuring]),
      row('scale', at, 'longest event-loop block while scraping ms', [f.loopMaxScrapingMs]),
      row('scale', at, 'longest GC pause while scraping ms', [f.gcMaxScrapingMs]),
      row('scale', at, 'GC pauses while scraping, total ms', [f.gcTotalScrapingMs]),
    );
  }
  return rows;
}
