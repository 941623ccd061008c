// GET /_inference/_stats: each active endpoint's traffic over the last minutes (docs/api.md#traffic-history): its
// exact shape, what it counts, who may read it, and its bounds with many endpoints.
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { envelope, hfBody, startApp, type Tap } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';
import { createKey } from '../helpers/keys-cli.js';

const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 50 };
/** Short samples, so a test sees several in a second; the window is 120 of them. */
const INTERVAL_MS = 100;

/**
 * A sample's fields, in their order, as docs/api.md's example shows them (its `# `-commented answer under
 * "Traffic history"): the documentation is what a script reading the route relies on.
 */
const SAMPLE_FIELDS = (() => {
  const doc = fs.readFileSync(fileURLToPath(new URL('../../../docs/api.md', import.meta.url)), 'utf8');
  const section = doc.slice(doc.indexOf('## Traffic history'));
  const answer = section
    .split('\n')
    .filter((line) => line.startsWith('#  '))
    .map((line) => line.slice(1).trim())
    .join('');
  const sample = /\{"timestamp":\d+,"requests".*?"retries":\d+\}/.exec(answer);
  if (!sample) throw new Error("docs/api.md's traffic history shows no sample");
  return Object.keys(JSON.parse(sample[0]) as object);
})();

interface Sample {
  timestamp: number;
  requests: number;
  failed: Record<string, number>;
  upstream_requests: number;
  upstream_errors: Record<string, number>;
  rate_limit: number | null;
  upstream_latency_ms: { p50: number; p99: number } | null;
  texts: number;
  texts_per_request: number | null;
  queue_depth: number;
  streams_open: number;
  cache_hits: number;
  cache_misses: number;
  retries: number;
}
interface Stats {
  instance: { host: string; pid: number; address: string };
  interval_seconds: number;
  window_seconds: number;
  max_endpoints: number;
  endpoints_left_out: boolean;
  embedding_cache: null | {
    max_bytes: number;
    samples: Array<{ timestamp: number; bytes: number; entries: number; evictions: number; expirations: number }>;
  };
  endpoints: Array<{ inference_id: string; task_type: string; samples: Sample[] }>;
}

async function setUp(t: Tap, env: Record<string, string> = {}, intervalMs = INTERVAL_MS) {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, env, undefined, { retry: FAST_RETRY, trafficIntervalMs: intervalMs });
  const put = (id: string, settings: Record<string, unknown> = {}) =>
    s.request('PUT', `/_inference/text_embedding/${id}`, {
      ...hfBody({ url: `${hf.url}/embed`, ...settings }),
      chunking_settings: { strategy: 'none' },
    });
  const stats = async (query = '') => {
    const res = await s.request('GET', `/_inference/_stats${query}`);
    if (res.status !== 200) throw new Error(`GET /_inference/_stats${query} answered ${res.status}: ${res.body}`);
    return res.json as Stats;
  };
  /** Waits until `done` holds for the stats (each sample taken every INTERVAL_MS). */
  const until = async (done: (stats: Stats) => boolean, what: string) => {
    for (let i = 0; i < 200; i++) {
      const now = await stats();
      if (done(now)) return now;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
    throw new Error(`stats never showed ${what}`);
  };
  return { hf, s, put, stats, until };
}

const sum = (samples: readonly Sample[], of: (x: Sample) => number) => samples.reduce((n, x) => n + of(x), 0);
const merged = (samples: readonly Sample[], of: (x: Sample) => Record<string, number>) => {
  const out: Record<string, number> = {};
  for (const x of samples) for (const [k, n] of Object.entries(of(x))) out[k] = (out[k] ?? 0) + n;
  return out;
};
const samplesOf = (stats: Stats, id: string) => stats.endpoints.find((e) => e.inference_id === id)?.samples ?? [];

t.test('an endpoint with traffic: its samples count requests, upstream calls, texts and errors', async (t) => {
  const { hf, s, put, stats, until } = await setUp(t);
  // Through a real socket: the answer names the address it reached.
  const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
  const before = (await (await fetch(`${base}/_inference/_stats`)).json()) as Stats;
  t.strictSame(
    before,
    {
      instance: { host: os.hostname(), pid: process.pid, address: new URL(base).host },
      interval_seconds: 0.1,
      window_seconds: 12,
      max_endpoints: 200,
      endpoints_left_out: false,
      embedding_cache: null,
      endpoints: [],
    },
    'no endpoint has traffic yet: none is listed; the cache is off in this harness',
  );
  t.equal((await put('minilm', { rate_limit: { requests_per_minute: 600 } })).status, 200);
  for (let i = 0; i < 3; i++)
    t.equal((await s.request('POST', '/_inference/text_embedding/minilm', { input: [`a${i}`, `b${i}`] })).status, 200);
  hf.next({ status: 400, json: { error: 'Input validation error' } });
  const refused = await s.request('POST', '/_inference/text_embedding/minilm', { input: ['x', 'y'] });
  t.equal(refused.status, 400, 'an upstream 400 is answered as a 400');

  // Every record is in a closed sample once the counts add up and one more interval has passed.
  const settled = await until((x) => sum(samplesOf(x, 'minilm'), (y) => y.requests) === 4, 'the four requests');
  const samples = samplesOf(settled, 'minilm');
  t.strictSame(
    settled.endpoints.map((e) => [e.inference_id, e.task_type]),
    [['minilm', 'text_embedding']],
  );
  for (const x of samples) t.strictSame(Object.keys(x), SAMPLE_FIELDS, 'every sample has the same fields, in order');
  t.ok(
    samples.every((x, i) => i === 0 || x.timestamp > samples[i - 1]!.timestamp),
    'samples are oldest first',
  );
  t.equal(
    sum(samples, (x) => x.upstream_requests),
    4,
    'four upstream requests (one batch per request)',
  );
  t.equal(hf.received.length, 4, 'as the upstream saw');
  t.equal(
    sum(samples, (x) => x.texts),
    6,
    'six texts answered: the refused batch answered none',
  );
  t.strictSame(
    merged(samples, (x) => x.failed),
    { 400: 1 },
    'one request failed, with 400',
  );
  t.strictSame(
    merged(samples, (x) => x.upstream_errors),
    { 400: 1 },
    'one upstream answer was a 400',
  );
  const busy = samples.filter((x) => x.upstream_requests > 0);
  for (const x of busy) {
    t.equal(x.rate_limit, 600, "the endpoint's limit");
    t.ok(x.upstream_latency_ms && x.upstream_latency_ms.p50 > 0, 'a latency');
    t.ok(x.upstream_latency_ms!.p50 <= x.upstream_latency_ms!.p99, 'p50 ≤ p99');
  }
  for (const x of samples.filter((y) => y.upstream_requests === 0)) {
    t.equal(x.upstream_latency_ms, null, 'no latency where nothing went upstream');
  }
  // A batch is counted when it is taken, its upstream request when it ends: the two may fall in different samples.
  const batched = samples.filter((x) => x.texts_per_request !== null);
  t.ok(batched.length > 0);
  for (const x of batched) t.equal(x.texts_per_request, 2, 'two texts per upstream request');
  t.equal(
    sum(samples, (x) => x.streams_open + x.cache_hits + x.cache_misses + x.retries),
    0,
  );
  // Requests 100 ms apart at 600/min: a request's two texts may wait for their grant, never more.
  t.ok(
    samples.every((x) => x.queue_depth <= 2),
    'at most one request waits',
  );

  // `since`: only newer samples; a page that has them all asks for nothing more.
  const last = samples.at(-1)!.timestamp;
  const newer = await stats(`?since=${last}`);
  t.ok(
    samplesOf(newer, 'minilm').every((x) => x.timestamp > last),
    'samples after `since` only',
  );
  t.strictSame(
    newer.endpoints.map((e) => e.inference_id),
    ['minilm'],
    'the endpoint is still listed',
  );
  t.strictSame(
    (await s.request('GET', '/_inference/_stats?since=yesterday')).json,
    envelope(
      400,
      'illegal_argument_exception',
      'Failed to parse value [yesterday] for parameter [since]: expected epoch milliseconds',
    ),
  );

  // A deleted endpoint's history goes at once.
  t.equal((await s.request('DELETE', '/_inference/minilm')).status, 200);
  t.strictSame((await stats()).endpoints, [], 'gone with the endpoint');
});

t.test('queue depth, retries and the embedding cache', async (t) => {
  const { hf, s, put, until } = await setUp(t, { EMBEDDING_CACHE_SIZE: '1mb' });
  t.equal((await put('slow', { batch_size: 1, max_concurrent_requests: 1 })).status, 200);
  hf.delayMs = 400;
  // One text in flight, four waiting for it.
  const answered = s.request('POST', '/_inference/text_embedding/slow', { input: ['q1', 'q2', 'q3', 'q4', 'q5'] });
  const queued = await until(
    (x) => samplesOf(x, 'slow').some((y) => y.queue_depth === 4),
    'four texts queued behind the first',
  );
  t.ok(queued.endpoints.length === 1);
  t.equal((await answered).status, 200);
  hf.delayMs = 0;
  // The same texts again: answered by the cache.
  t.equal((await s.request('POST', '/_inference/text_embedding/slow', { input: ['q1', 'q2', 'q3'] })).status, 200);
  hf.next({ status: 503, json: { error: 'Service Unavailable' } });
  t.equal((await s.request('POST', '/_inference/text_embedding/slow', { input: ['r1'] })).status, 200);
  const settled = await until((x) => sum(samplesOf(x, 'slow'), (y) => y.requests) === 3, 'the three requests');
  const samples = samplesOf(settled, 'slow');
  t.equal(
    sum(samples, (x) => x.cache_hits),
    3,
    'three texts answered by the cache',
  );
  t.equal(
    sum(samples, (x) => x.cache_misses),
    6,
    'six looked up and sent',
  );
  t.equal(
    sum(samples, (x) => x.retries),
    1,
    'the 503 was sent again',
  );
  t.strictSame(
    merged(samples, (x) => x.upstream_errors),
    { 503: 1 },
  );
  t.equal(samples.at(-1)!.queue_depth, 0, 'nothing waits at the end');
  const cache = settled.embedding_cache!;
  t.equal(cache.max_bytes, 1024 * 1024);
  t.ok(cache.samples.length > 0);
  t.strictSame(Object.keys(cache.samples[0]!), ['timestamp', 'bytes', 'entries', 'evictions', 'expirations']);
  t.equal(cache.samples.at(-1)!.entries, 6, 'six vectors held');
  t.ok(cache.samples.at(-1)!.bytes > 0);
  t.equal(
    cache.samples.reduce((n, x) => n + x.evictions, 0),
    0,
  );
});

t.test('who may read it: any key, none without one', async (t) => {
  const dataDir = t.testdir();
  const admin = createKey(dataDir, 'admin', 'manage_inference');
  const monitor = createKey(dataDir, 'reader', 'monitor_inference');
  const s = await startApp(t, {}, dataDir);
  const res = await s.request('GET', '/_inference/_stats');
  t.equal(res.status, 401);
  t.strictSame(
    res.json,
    envelope(401, 'security_exception', 'missing authentication credentials for REST request [/_inference/_stats]'),
  );
  for (const key of [monitor, admin]) {
    const read = await s.request('GET', '/_inference/_stats', undefined, { authorization: `ApiKey ${key.encoded}` });
    t.equal(read.status, 200);
    t.strictSame((read.json as Stats).endpoints, []);
  }
});

t.test('many endpoints: at most METRICS_ENDPOINTS have a history; an idle one gives its place', async (t) => {
  // 25 ms samples: the window (120 of them) is 3 s.
  const { s, put, stats, until } = await setUp(t, { METRICS_ENDPOINTS: '3' }, 25);
  for (const id of ['e1', 'e2', 'e3', 'e4', 'e5']) t.equal((await put(id)).status, 200);
  for (const id of ['e1', 'e2', 'e3', 'e4', 'e5'])
    t.equal((await s.request('POST', `/_inference/text_embedding/${id}`, { input: 'x' })).status, 200);
  const full = await stats();
  t.strictSame(
    full.endpoints.map((e) => e.inference_id),
    ['e1', 'e2', 'e3'],
    'the first three with traffic',
  );
  t.equal(full.max_endpoints, 3);
  t.equal(full.endpoints_left_out, true, 'the others are said to be left out');
  // Idle for a whole window: dropped; the next endpoint with traffic takes a place.
  await until((x) => x.endpoints.length === 0, 'the idle endpoints dropped');
  t.equal((await s.request('POST', '/_inference/text_embedding/e5', { input: 'x' })).status, 200);
  const after = await until((x) => x.endpoints.length === 1 && x.endpoints[0]!.samples.length > 0, 'e5 sampled');
  t.equal(after.endpoints[0]!.inference_id, 'e5');
  t.equal(
    sum(after.endpoints[0]!.samples, (x) => x.requests),
    1,
  );
  t.ok(after.endpoints[0]!.samples.length <= 120, 'at most 120 samples');
});

t.test('1,000 endpoints that each served a request: 200 histories, a bounded answer', async (t) => {
  const { hf, s, put, stats, until } = await setUp(t, {}, 200);
  hf.recordBodies = false;
  const id = (i: number) => `tenant-${String(i).padStart(4, '0')}`;
  const count = 1000;
  let next = 0;
  const inParallel = (work: (i: number) => Promise<unknown>) => {
    next = 0;
    return Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < count) await work(next++);
      }),
    );
  };
  await inParallel(async (i) => t.equal((await put(id(i))).status, 200, `PUT ${id(i)}`, { silent: true }));
  await inParallel(async (i) =>
    t.equal((await s.request('POST', `/_inference/text_embedding/${id(i)}`, { input: 'x' })).status, 200, id(i), {
      silent: true,
    }),
  );
  const answer = await until((x) => x.endpoints.every((e) => e.samples.length > 0), 'a sample of each');
  t.equal(answer.endpoints.length, 200, 'METRICS_ENDPOINTS (200) endpoints have a history');
  t.equal(answer.endpoints_left_out, true);
  t.equal(
    sum(
      answer.endpoints.flatMap((e) => e.samples),
      (x) => x.requests,
    ),
    200,
    'one request each',
  );
  // Deleting one frees its place for the next endpoint with traffic.
  const first = answer.endpoints[0]!.inference_id;
  t.equal((await s.request('DELETE', `/_inference/${first}`)).status, 200);
  const last = id(count - 1);
  t.notOk(
    (await stats()).endpoints.some((e) => e.inference_id === last),
    `${last} had no place`,
  );
  t.equal((await s.request('POST', `/_inference/text_embedding/${last}`, { input: 'x' })).status, 200);
  const after = await stats();
  t.equal(after.endpoints.length, 200);
  t.ok(
    after.endpoints.some((e) => e.inference_id === last),
    `${last} took the free place`,
  );
  t.notOk(after.endpoints.some((e) => e.inference_id === first));
});
