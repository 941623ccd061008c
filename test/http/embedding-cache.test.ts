// The embedding cache (docs/embedding-cache.md): a text embedded once answers again without an upstream call, with
// the same bytes; only misses go upstream; identical misses in flight cost one text; memory stays within its bound.
import t from 'tap';
import { API_KEY, envelope, startApp } from '../helpers/app-harness.js';
import { servicesAvailable, TEST_REDIS_URL } from '../helpers/backing-services.js';
import { FakeHuggingFace, teiInfo } from '../helpers/fake-hf.js';

async function setup(t: Parameters<typeof startApp>[0], env: Record<string, string> = {}) {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, { EMBEDDING_CACHE_SIZE: '256mb', ...env });
  const put = (id: string, serviceSettings: Record<string, unknown> = {}, taskType = 'text_embedding') =>
    s.request('PUT', `/_inference/${taskType}/${id}`, {
      service: 'hugging_face',
      service_settings: {
        api_key: API_KEY,
        url: `${hf.url}/embed`,
        ...(taskType === 'text_embedding' ? { dimensions: 16 } : {}),
        rate_limit: { requests_per_minute: 60_000 },
        ...serviceSettings,
      },
    });
  const embed = (id: string, input: string | string[], extra: Record<string, unknown> = {}) =>
    s.request('POST', `/_inference/text_embedding/${id}`, { input, ...extra });
  const metric = async (name: string, labels = '') => {
    const text = (await s.request('GET', '/_prometheus/metrics')).body;
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || l.startsWith(`${name}${labels}{`));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  return { s, hf, put, embed, metric };
}

const texts = (n: number, tag = 'text') => Array.from({ length: n }, (_, i) => `${tag} number ${i}`);

t.test('a second embedding of the same 1,000 texts makes no upstream call and answers the same bytes', async (t) => {
  const { s, hf, put, embed } = await setup(t);
  t.equal((await put('e')).status, 200);
  const input = texts(1000);
  const cold = await embed('e', input);
  t.equal(cold.status, 200);
  const calls = hf.received.length;
  t.equal(hf.texts.length, 1000, 'the cold pass sends every text once');
  const warm = await embed('e', input);
  t.equal(warm.status, 200);
  t.equal(hf.received.length, calls, 'no upstream call on the warm pass');
  t.equal(warm.body, cold.body, 'the same bytes');
  t.strictSame(cold.json.text_embedding[7], { embedding: hf.vector('text number 7') });
  const line = s.logs.lines
    .map((l) => JSON.parse(l))
    .filter(
      (l) => l.msg === 'request completed' && l.route === '/_inference/:task_type/:inference_id' && l.status === 200,
    )
    .at(-1);
  t.equal(line.cache_hits, 1000, 'the log line counts the hits');
  t.equal(line.upstream_requests, 0);
});

t.test('a half-overlapping batch sends only the new half, batched as usual', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('e');
  const first = texts(200);
  await embed('e', first);
  const before = hf.received.length;
  const second = [...first.slice(100), ...texts(100, 'new')];
  const res = await embed('e', second);
  t.equal(res.status, 200);
  const sent = hf.received.slice(before).flatMap((r) => r.body.inputs as string[]);
  t.strictSame(sent.sort(), texts(100, 'new').sort(), 'only the new texts went upstream');
  t.ok(
    hf.received.slice(before).every((r) => r.body.inputs.length <= 20),
    'in batches of the batch size',
  );
  t.strictSame(
    res.json.text_embedding.map((e: { embedding: number[] }) => e.embedding),
    second.map((x) => hf.vector(x)),
    'every vector in input order',
  );
});

t.test('the same text twice in one request, and in chunks, costs one upstream text', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('e');
  const res = await embed('e', ['same', 'same', 'other', 'same']);
  t.equal(res.status, 200);
  t.strictSame(hf.texts.sort(), ['other', 'same']);
  t.strictSame(
    res.json.text_embedding,
    ['same', 'same', 'other', 'same'].map((x) => ({ embedding: hf.vector(x) })),
  );
});

t.test('100 concurrent identical requests cost one upstream text', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('e');
  hf.delayMs = 50;
  const answers = await Promise.all(Array.from({ length: 100 }, () => embed('e', 'the one text')));
  t.ok(
    answers.every((a) => a.status === 200 && a.body === answers[0]!.body),
    'every answer the same',
  );
  t.strictSame(hf.texts, ['the one text']);
});

t.test('a follower whose leader went away sends the text itself', async (t) => {
  const { s, hf, put, embed } = await setup(t);
  await put('e');
  hf.delayMs = 300;
  // The leader times out while its text is out; the follower waits for the same text with a longer deadline.
  const leader = s.request('POST', '/_inference/text_embedding/e?timeout=100ms', { input: 'shared text' });
  await new Promise((r) => setTimeout(r, 20));
  const follower = embed('e', 'shared text');
  const [a, b] = await Promise.all([leader, follower]);
  t.equal(a.status, 408);
  t.equal(b.status, 200);
  t.strictSame(b.json, { text_embedding: [{ embedding: hf.vector('shared text') }] });
});

t.test('cache: false, and a re-created endpoint with another url, miss', async (t) => {
  const { s, hf, put, embed } = await setup(t);
  const other = await new FakeHuggingFace().start();
  t.teardown(() => other.close());
  other.dims = 16;
  await put('e');
  await embed('e', ['a', 'b']);
  t.equal(hf.texts.length, 2);

  const off = await s.request('PUT', '/_inference/e/_update', { service_settings: { cache: false } });
  t.equal(off.status, 200);
  t.equal(off.json.service_settings.cache, false, 'shown by the update');
  t.equal((await s.request('GET', '/_inference/e')).json.endpoints[0].service_settings.cache, false, 'shown by GET');
  await embed('e', ['a', 'b']);
  t.equal(hf.texts.length, 4, 'cache off: sent again');
  t.equal((await s.request('PUT', '/_inference/e/_update', { service_settings: { cache: true } })).status, 200);
  await embed('e', ['a', 'b']);
  t.equal(hf.texts.length, 4, 'on again: answered from the cache');

  t.equal((await s.request('DELETE', '/_inference/e')).status, 200);
  t.equal((await put('e', { url: `${other.url}/embed` })).status, 200);
  const res = await embed('e', ['a', 'b']);
  t.strictSame(other.texts, ['a', 'b'], 'another url: the old entries are never read');
  t.equal(hf.texts.length, 4);
  t.equal(res.status, 200);
  t.equal((await s.request('DELETE', '/_inference/e')).status, 200);
  t.equal((await put('e')).status, 200);
  await embed('e', ['a', 'b']);
  t.equal(hf.texts.length, 4, 'the same url again: the same vectors, still cached');
});

t.test('an _update cannot read another identity: the url is refused, a new model revision misses', async (t) => {
  // Checked at creation and at a key's rotation: the server's /info is asked, and is part of the identity.
  const { s, hf, put, embed } = await setup(t, { SKIP_VALIDATION: 'false' });
  hf.info = teiInfo('embedding', { model_sha: '5c38ec7c405ec4b44b94cc5a9bb96e735b38267a' });
  t.equal((await put('e')).status, 200);
  const sent = () => hf.texts.filter((x) => x === 'a' || x === 'b').length;
  await embed('e', ['a', 'b']);
  t.equal(sent(), 2);
  const url = await s.request('PUT', '/_inference/e/_update', { service_settings: { url: `${hf.url}/other` } });
  t.strictSame(
    url.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [service_settings] setting [url] cannot be updated; create a new inference endpoint to change it;',
    ),
  );
  const rotate = (key: string) => s.request('PUT', '/_inference/e/_update', { service_settings: { api_key: key } });
  // Another key for the same server and model: the same vectors, still answered from the cache.
  t.equal((await rotate('hf_RotatedKey0123456789')).status, 200);
  await embed('e', ['a', 'b']);
  t.equal(sent(), 2, 'a rotated key alone keeps the entries');
  // The server now runs another revision of the model: seen at the next rotation, and the old entries are not read.
  hf.info = teiInfo('embedding', { model_sha: '0e9f2b1cbc4d9b39d5e1c6bbc9d4fa4e10c3b0a7' });
  t.equal((await rotate('hf_RotatedAgain0123456789')).status, 200);
  const res = await embed('e', ['a', 'b']);
  t.strictSame(res.json, { text_embedding: [{ embedding: hf.vector('a') }, { embedding: hf.vector('b') }] });
  t.equal(sent(), 4, 'another revision: sent again');
  await embed('e', ['a', 'b']);
  t.equal(sent(), 4, 'and cached under the new identity');
});

t.test('cache is a boolean, and only embedding endpoints have it', async (t) => {
  const { s, hf, put } = await setup(t);
  const bad = await put('e', { cache: 'yes' });
  t.strictSame(
    bad.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [service_settings] field [cache] is not of the expected type; it must be a boolean;',
    ),
  );
  const rerank = await s.request('PUT', '/_inference/rerank/r', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: `${hf.url}/rerank`, cache: true },
  });
  t.equal(rerank.status, 400);
  t.match(
    rerank.json.error.reason,
    /unknown to the \[hugging_face\] service: \{cache=true\}|\[\{cache=true\}\] unknown/,
  );
});

t.test('an input type prefix is part of what is cached', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('e', { prefix_strings: { search: 'query: ', ingest: 'passage: ' } });
  await embed('e', 'hello', { input_type: 'search' });
  await embed('e', 'hello', { input_type: 'ingest' });
  await embed('e', 'hello', { input_type: 'search' });
  t.strictSame(hf.texts, ['query: hello', 'passage: hello']);
});

t.test('sparse_embedding hits too, with its truncation flag', async (t) => {
  const { s, hf, put } = await setup(t);
  t.equal((await put('sp', { url: `${hf.url}/embed_sparse` }, 'sparse_embedding')).status, 200);
  const sparse = (input: string[]) => s.request('POST', '/_inference/sparse_embedding/sp', { input });
  const cold = await sparse(['alpha beta', 'gamma 42 delta']);
  t.equal(cold.status, 200);
  const calls = hf.received.length;
  const warm = await sparse(['alpha beta', 'gamma 42 delta']);
  t.equal(hf.received.length, calls, 'no upstream call');
  t.equal(warm.body, cold.body, 'the same bytes, token order kept');
});

t.test("an operator clears one endpoint's entries; metrics count hits, misses and bytes", async (t) => {
  const { s, hf, put, embed, metric } = await setup(t);
  await put('e');
  await embed('e', ['a', 'b', 'c']);
  await embed('e', ['a', 'b', 'd']);
  t.equal(await metric('hf_gateway_embedding_cache_hits_total', '{inference_id="e",task_type="text_embedding"}'), 2);
  t.equal(await metric('hf_gateway_embedding_cache_misses_total', '{inference_id="e",task_type="text_embedding"}'), 4);
  t.equal(await metric('hf_gateway_embedding_cache_entries'), 4);
  t.ok((await metric('hf_gateway_embedding_cache_bytes'))! > 0);
  const cleared = await s.request('POST', '/_inference/e/_cache/clear');
  t.strictSame(cleared.json, { acknowledged: true, cleared: 4 });
  t.equal(await metric('hf_gateway_embedding_cache_entries'), 0);
  await embed('e', ['a']);
  t.equal(hf.texts.filter((x) => x === 'a').length, 2, 'sent again after the clear');
  const missing = await s.request('POST', '/_inference/nope/_cache/clear');
  t.equal(missing.status, 404);
});

t.test('a small byte bound holds under 100,000 unique texts', async (t) => {
  const { hf, put, embed, metric } = await setup(t, { EMBEDDING_CACHE_SIZE: '256kb' });
  await put('e', { batch_size: 512 });
  hf.recordBodies = false;
  hf.maxBatch = 512;
  for (let round = 0; round < 20; round++) {
    const res = await embed('e', texts(5000, `r${round}`));
    t.equal(res.status, 200, `round ${round}`);
  }
  const bytes = (await metric('hf_gateway_embedding_cache_bytes'))!;
  t.ok(bytes <= 256 * 1024 && bytes > 128 * 1024, `${bytes} bytes held, within the bound`);
  t.ok((await metric('hf_gateway_embedding_cache_evictions_total'))! > 90_000, 'the rest were evicted');
});

t.test("EMBEDDING_CACHE_TTL bounds an entry's age", async (t) => {
  const { hf, put, embed, metric } = await setup(t, { EMBEDDING_CACHE_TTL: '400ms' });
  await put('e');
  await embed('e', 'aging');
  await embed('e', 'aging');
  t.strictSame(hf.texts, ['aging'], 'within its age: a hit');
  await new Promise((r) => setTimeout(r, 600));
  await embed('e', 'aging');
  t.strictSame(hf.texts, ['aging', 'aging'], 'older: sent again');
  t.equal(await metric('hf_gateway_embedding_cache_expirations_total'), 1);
});

t.test('EMBEDDING_CACHE_SIZE=0 turns the cache off', async (t) => {
  const { hf, put, embed, metric } = await setup(t, { EMBEDDING_CACHE_SIZE: '0' });
  await put('e');
  await embed('e', 'x');
  await embed('e', 'x');
  t.strictSame(hf.texts, ['x', 'x']);
  t.equal(await metric('hf_gateway_embedding_cache_bytes'), undefined);
});

t.test('two instances on one Redis share hits, and a clear on one reaches the other', async (t) => {
  if (!(await servicesAvailable(t, { redis: true }))) return;
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  // Two services with their own stores, each with the same endpoint (same url: same identity), on one Redis.
  const env = { EMBEDDING_CACHE_SIZE: '256mb', REDIS_URL: TEST_REDIS_URL };
  const [a, b] = [await startApp(t, env), await startApp(t, env)];
  for (const s of [a, b]) {
    const put = await s.request('PUT', '/_inference/text_embedding/e', {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: `${hf.url}/embed`, dimensions: 16 },
    });
    t.equal(put.status, 200);
  }
  const input = texts(300, `shared ${hf.url}`);
  const cold = await a.request('POST', '/_inference/text_embedding/e', { input });
  t.equal(hf.texts.length, 300);
  // The writes to Redis are not awaited by the request: give them a moment.
  await new Promise((r) => setTimeout(r, 200));
  const warm = await b.request('POST', '/_inference/text_embedding/e', { input });
  t.equal(hf.texts.length, 300, 'the other instance made no upstream call');
  t.equal(warm.body, cold.body, 'the same bytes');

  const cleared = await b.request('POST', '/_inference/e/_cache/clear');
  t.equal(cleared.json.cleared, 300);
  await new Promise((r) => setTimeout(r, 200));
  await a.request('POST', '/_inference/text_embedding/e', { input: input.slice(0, 10) });
  t.equal(hf.texts.length, 310, "the clear reached the first instance's memory too");
});
