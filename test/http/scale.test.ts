// Many endpoints: the metrics stay bounded (idle endpoints lose their series, those past METRICS_ENDPOINTS are added up
// under `_other`), a deleted endpoint's series go, the listing holds every endpoint (docs/operations.md#metrics).
import t from 'tap';
import { hfBody, startApp, type Tap } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';

async function withUpstream(t: Tap, env: Record<string, string> = {}) {
  const hf = await new FakeHuggingFace().start();
  hf.recordBodies = false;
  t.teardown(() => hf.close());
  const s = await startApp(t, env);
  const put = async (id: string) => {
    const res = await s.request('PUT', `/_inference/text_embedding/${id}`, {
      ...hfBody({ url: `${hf.url}/embed`, dimensions: 16 }),
      chunking_settings: { strategy: 'none' },
    });
    if (res.status !== 200) throw new Error(`PUT ${id}: ${res.status} ${res.body}`);
  };
  const embed = async (id: string) => {
    const res = await s.request('POST', `/_inference/text_embedding/${id}`, { input: 'x' });
    if (res.status !== 200) throw new Error(`POST ${id}: ${res.status} ${res.body}`);
  };
  const scrape = async () => (await s.request('GET', '/_prometheus/metrics')).body;
  return { hf, s, put, embed, scrape };
}

/** The inference ids that have series of their own in a scrape. */
const namedIds = (scrape: string) =>
  new Set([...scrape.matchAll(/inference_id="([^"]+)"/g)].map((m) => m[1]!).filter((id) => id !== '_other'));

const line = (scrape: string, prefix: string) => scrape.split('\n').find((l) => l.startsWith(prefix));

async function inParallel(count: number, concurrency: number, work: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

t.test('1,000 endpoints that each served a request: a bounded scrape, the others added up', async (t) => {
  const { s, put, embed, scrape } = await withUpstream(t);
  const count = 1000;
  const id = (i: number) => `tenant-${String(i).padStart(4, '0')}`;
  await inParallel(count, 16, (i) => put(id(i)));
  await inParallel(count, 16, (i) => embed(id(i)));

  const started = performance.now();
  const text = await scrape();
  const ms = performance.now() - started;
  // Before the limit, this scrape named all 1,000 endpoints and was 6.8 MB.
  t.equal(namedIds(text).size, 200, 'METRICS_ENDPOINTS (200) endpoints have series of their own');
  t.ok(text.length < 2_000_000, `the scrape is small: ${(text.length / 1e6).toFixed(1)} MB`);
  t.ok(ms < 1000, `and quick: ${ms.toFixed(0)} ms`);
  // Larger than a piece (64 KiB), it is handed to the socket in pieces: it still arrives whole, its length announced.
  const whole = await s.request('GET', '/_prometheus/metrics');
  t.ok(whole.body.length > 1_000_000, 'a scrape of many pieces');
  t.equal(whole.headers['content-length'], String(Buffer.byteLength(whole.body)), 'Content-Length is its length');
  t.match(whole.body, /^# HELP process_cpu_user_seconds_total /, "the process's figures first");
  t.match(whole.body, /\n# TYPE hf_gateway_tokens_streamed_total counter\n$/, 'the last family last');
  t.equal(
    line(text, 'hf_gateway_inference_requests_total{inference_id="_other",task_type="text_embedding",status="200"}'),
    'hf_gateway_inference_requests_total{inference_id="_other",task_type="text_embedding",status="200"} 800',
    'the requests of the 800 endpoints past the limit are counted under _other',
  );
  t.equal(
    line(text, 'hf_gateway_upstream_request_duration_seconds_count{inference_id="_other"'),
    'hf_gateway_upstream_request_duration_seconds_count{inference_id="_other",task_type="text_embedding"} 800',
  );
  const first = id(0);
  t.ok(namedIds(text).has(first), 'the first endpoints to record hold the series');
  t.equal(
    line(text, `hf_gateway_inference_requests_total{inference_id="${first}"`),
    `hf_gateway_inference_requests_total{inference_id="${first}",task_type="text_embedding",status="200"} 1`,
  );

  // Deleting an endpoint takes its series at once and frees its place for an endpoint past the limit.
  t.equal((await s.request('DELETE', `/_inference/${first}`)).status, 200);
  const afterDelete = await scrape();
  t.notMatch(afterDelete, `inference_id="${first}"`, "the deleted endpoint's series are gone");
  t.equal(namedIds(afterDelete).size, 199);
  await embed(id(count - 1));
  const promoted = await scrape();
  t.ok(namedIds(promoted).has(id(count - 1)), 'an endpoint past the limit takes the free place on its next request');
  t.equal(
    line(promoted, `hf_gateway_inference_requests_total{inference_id="${id(count - 1)}"`),
    `hf_gateway_inference_requests_total{inference_id="${id(count - 1)}",task_type="text_embedding",status="200"} 1`,
    'counted from its first request with series of its own',
  );

  // The listing, read in pages, holds every endpoint once, in order.
  const list = await s.request('GET', '/_inference/_all');
  t.equal(list.status, 200);
  const ids = (list.json.endpoints as Array<{ inference_id: string }>).map((e) => e.inference_id);
  t.equal(ids.length, count - 1);
  t.strictSame(ids, [...ids].sort(), 'sorted by id');
  t.equal(new Set(ids).size, ids.length, 'each once');
  t.equal((await s.request('GET', '/_inference/text_embedding/_all')).json.endpoints.length, count - 1);
  t.strictSame((await s.request('GET', '/_inference/rerank/_all')).json, { endpoints: [] });
});

t.test('an endpoint idle for METRICS_IDLE_TIMEOUT loses its series; an active one keeps them', async (t) => {
  const { s, put, embed, scrape } = await withUpstream(t, { METRICS_IDLE_TIMEOUT: '300ms' });
  await put('idle');
  await put('busy');
  await embed('idle');
  await embed('busy');
  t.strictSame([...namedIds(await scrape())].sort(), ['busy', 'idle']);
  await new Promise((r) => setTimeout(r, 200));
  await embed('busy');
  await new Promise((r) => setTimeout(r, 200));
  const text = await scrape();
  t.strictSame([...namedIds(text)], ['busy'], 'only the endpoint that served within the idle time');
  t.equal(
    line(text, 'hf_gateway_inference_requests_total{inference_id="busy"'),
    'hf_gateway_inference_requests_total{inference_id="busy",task_type="text_embedding",status="200"} 2',
  );
  t.notMatch(text, '_other', 'an idle endpoint is dropped, not added up');
  // Back in use, it starts again from zero (a new series to Prometheus).
  await embed('idle');
  t.equal(
    line(await scrape(), 'hf_gateway_inference_requests_total{inference_id="idle"'),
    'hf_gateway_inference_requests_total{inference_id="idle",task_type="text_embedding",status="200"} 1',
  );
  t.equal((await s.request('GET', '/_inference/idle')).status, 200, 'the endpoint itself is untouched');
});

t.test('METRICS_ENDPOINTS=0: every endpoint is counted under _other only', async (t) => {
  const { put, embed, scrape } = await withUpstream(t, { METRICS_ENDPOINTS: '0' });
  await put('a');
  await put('b');
  await embed('a');
  await embed('b');
  await embed('b');
  const text = await scrape();
  t.strictSame([...namedIds(text)], []);
  t.equal(
    line(text, 'hf_gateway_texts_embedded_total{'),
    'hf_gateway_texts_embedded_total{inference_id="_other",task_type="text_embedding"} 3',
  );
  t.equal(line(text, 'hf_gateway_queue_depth{'), undefined, 'queue depth is only for endpoints with own series');
});

t.test('the listing follows every create, _update and DELETE, however it was read before', async (t) => {
  const { s, put } = await withUpstream(t);
  const listed = async (path = '/_inference/_all') => {
    const res = await s.request('GET', path);
    t.equal(res.status, 200);
    return res.json.endpoints as Array<{ inference_id: string; service_settings: Record<string, unknown> }>;
  };
  // Each endpoint as GET of its own id shows it, in id order: what the listing must equal.
  const oneByOne = async (ids: string[]) => {
    const views = [];
    for (const id of [...ids].sort()) views.push((await s.request('GET', `/_inference/${id}`)).json.endpoints[0]);
    return views;
  };
  // More than a hundred, so the first listing reads them in pages; a few changes later it reads those alone.
  const ids = Array.from({ length: 150 }, (_, i) => `tenant-${String(i).padStart(3, '0')}`);
  await inParallel(ids.length, 16, (i) => put(ids[i]!));
  t.strictSame(await listed(), await oneByOne(ids), 'first listing');
  t.strictSame(await listed(), await oneByOne(ids), 'read again');

  const update = await s.request('PUT', '/_inference/tenant-007/_update', {
    service_settings: { rate_limit: { requests_per_minute: 1234 } },
  });
  t.equal(update.status, 200);
  t.equal((await s.request('DELETE', '/_inference/tenant-008')).status, 200);
  await put('tenant-0075');
  const now = ids.filter((id) => id !== 'tenant-008').concat('tenant-0075');
  const after = await listed();
  t.strictSame(after, await oneByOne(now), 'after an update, a delete and a create');
  t.strictSame(
    after.find((e) => e.inference_id === 'tenant-007')!.service_settings.rate_limit,
    { requests_per_minute: 1234 },
    'the updated rate limit',
  );
  t.strictSame(await listed('/_inference/text_embedding/_all'), after, 'by task type');
  t.strictSame(await listed('/_inference/rerank/_all'), []);
  const pretty = await s.request('GET', '/_inference/_all?pretty');
  t.equal(pretty.body, `${JSON.stringify({ endpoints: after }, null, 2)}\n`, '?pretty');
});
