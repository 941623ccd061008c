// text_embedding inference through HTTP against a real test upstream: the wire in both directions.
import t from 'tap';
import { chunkText } from '../src/chunking/chunker.js';
import { API_KEY, envelope, startApp, type Tap, type TestApp } from './helpers/app.js';
import { FakeHuggingFace } from './helpers/fake-hf.js';

const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 };

interface Setup {
  s: TestApp;
  hf: FakeHuggingFace;
  put(id: string, serviceSettings?: Record<string, unknown>, extra?: Record<string, unknown>): Promise<TestApp['request'] extends (...a: any[]) => Promise<infer R> ? R : never>;
  embed(id: string, input: unknown, query?: string): ReturnType<TestApp['request']>;
}

async function setup(t: Tap & { teardown(fn: () => unknown): void }, env: Record<string, string> = {}, queueCapacity?: number): Promise<Setup> {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, { HF_API_BASE: hf.url, SKIP_VALIDATION: 'false', ...env }, undefined, { retry: FAST_RETRY, queueCapacity });
  return {
    s,
    hf,
    put: (id, serviceSettings = {}, extra = {}) =>
      s.request('PUT', `/_inference/text_embedding/${id}`, {
        service: 'hugging_face',
        service_settings: { api_key: API_KEY, url: `${hf.url}/embed`, ...serviceSettings },
        ...extra,
      }),
    embed: (id, input, query = '') => s.request('POST', `/_inference/text_embedding/${id}${query}`, { input }),
  };
}

const upstreamReason = (prefix: string, id: string, status: number, message: string) =>
  `${prefix} for request from inference entity id [${id}] status [${status}]. Error message: [${message}]`;

t.test('PUT calls the upstream with ["how big"] and stores its dimensions and cosine similarity', async (t) => {
  const { s, hf, put } = await setup(t);
  const res = await put('e1');
  t.equal(res.status, 200);
  t.same(res.json.service_settings, { url: `${hf.url}/embed`, similarity: 'cosine', dimensions: 16, rate_limit: { requests_per_minute: 3000 } });
  t.equal(hf.received.length, 1);
  t.same(hf.received[0]!.body, { inputs: ['how big'] });
  t.equal(hf.received[0]!.headers.authorization, `Bearer ${API_KEY}`);
  t.same((await s.request('GET', '/_inference/e1')).json.endpoints[0].service_settings.dimensions, 16);
});

t.test('PUT is refused, and nothing stored, when the validation call fails', async (t) => {
  const { s, hf, put } = await setup(t);
  hf.next({ status: 401, json: { error: 'Invalid credentials in Authorization header' } });
  const res = await put('bad-key');
  t.same(res.json, {
    error: {
      root_cause: [{ type: 'status_exception', reason: 'Could not complete inference endpoint creation as validation call to service threw an exception.' }],
      type: 'status_exception',
      reason: 'Could not complete inference endpoint creation as validation call to service threw an exception.',
      caused_by: {
        type: 'status_exception',
        reason: upstreamReason('Received an authentication error status code', 'bad-key', 401, 'Invalid credentials in Authorization header'),
      },
    },
    status: 400,
  });
  t.equal((await s.request('GET', '/_inference/bad-key')).status, 404);
  const mismatch = await put('dims', { dimensions: 384 });
  t.equal(mismatch.status, 400);
  t.equal(mismatch.json.error.caused_by.reason, 'Failed to parse the response for inference entity id [dims]: received embeddings of 16 dimensions where the endpoint has 384');
  t.equal((await s.request('GET', '/_inference/dims')).status, 404);
});

t.test('PUT gives up on a hanging validation call at its timeout, and stores nothing', async (t) => {
  const { s, hf } = await setup(t);
  hf.next({ hang: true });
  const started = performance.now();
  const res = await s.request('PUT', '/_inference/text_embedding/hangs?timeout=300ms', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: `${hf.url}/embed` },
  });
  t.same(res.json.error.caused_by, { type: 'status_exception', reason: 'Request timed out after [300ms]' });
  t.equal(res.json.error.reason, 'Could not complete inference endpoint creation as validation call to service threw an exception.');
  t.ok(performance.now() - started < 2000);
  t.equal((await s.request('GET', '/_inference/hangs')).status, 404);
});

t.test('SKIP_VALIDATION stores without calling the upstream', async (t) => {
  const { hf, put } = await setup(t, { SKIP_VALIDATION: 'true' });
  const res = await put('offline');
  t.equal(res.status, 200);
  t.same(res.json.service_settings, { url: `${hf.url}/embed`, similarity: 'cosine', rate_limit: { requests_per_minute: 3000 } });
  t.equal(hf.received.length, 0);
});

t.test('one input: the Elasticsearch shape, and exactly this on the wire', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('e');
  const res = await embed('e', 'hello world');
  t.equal(res.status, 200);
  t.equal(res.body, JSON.stringify({ text_embedding: [{ embedding: hf.vector('hello world') }] }));
  const sent = hf.received[1]!;
  t.equal(sent.method, 'POST');
  t.equal(sent.path, '/embed');
  t.same(sent.body, { inputs: ['hello world'] });
  t.equal(sent.headers.authorization, `Bearer ${API_KEY}`);
  t.equal(sent.headers['content-type'], 'application/json');
  t.equal(sent.headers.accept, 'application/json');
});

t.test('many inputs come back in input order, sent in batches of at most 20', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('e');
  const inputs = Array.from({ length: 45 }, (_, i) => `text number ${i}`);
  const res = await embed('e', inputs);
  t.same(res.json, { text_embedding: inputs.map((x) => ({ embedding: hf.vector(x) })) });
  const batches = hf.received.slice(1).map((r) => r.body.inputs.length);
  t.same(batches, [20, 20, 5]);
  t.same(hf.texts.slice(1), inputs);
});

t.test('the POST forms: with and without the task type, and task type errors', async (t) => {
  const { s, hf, put } = await setup(t);
  await put('e');
  let res = await s.request('POST', '/_inference/e', { input: ['a'] });
  t.same(res.json, { text_embedding: [{ embedding: hf.vector('a') }] });
  res = await s.request('POST', '/_inference/sparse_embedding/e', { input: 'a' });
  t.same(res.json, envelope(400, 'status_exception', 'Incompatible task_type, the requested type [sparse_embedding] does not match the model type [text_embedding]'));
  res = await s.request('POST', '/_inference/embeddings/e', { input: 'a' });
  t.same(res.json, envelope(400, 'status_exception', 'Unknown task_type [embeddings]'));
  res = await s.request('POST', '/_inference/text_embedding/missing', { input: 'a' });
  t.same(res.json, envelope(404, 'resource_not_found_exception', 'Inference endpoint not found [missing]'));
  res = await s.request('POST', '/_inference/text_embedding/e/_stream', { input: 'a' });
  t.same(res.json, envelope(405, 'status_exception', 'Streaming is not allowed for service [hugging_face] and task [text_embedding]'));
});

t.test('bad input answers 400 and sends nothing', async (t) => {
  const { s, hf, put, embed } = await setup(t);
  await put('e');
  const before = hf.received.length;
  t.same((await embed('e', null)).json, envelope(400, 'action_request_validation_exception', 'Validation Failed: 1: Field [input] cannot be null;'));
  t.same((await s.request('POST', '/_inference/text_embedding/e', {})).json, envelope(400, 'action_request_validation_exception', 'Validation Failed: 1: Field [input] cannot be null;'));
  t.same((await embed('e', [])).json, envelope(400, 'action_request_validation_exception', 'Validation Failed: 1: Field [input] cannot be an empty array;'));
  t.same((await embed('e', 42)).json, envelope(400, 'x_content_parse_exception', 'Failed to parse field [input]: expected a string or an array or null'));
  t.same((await embed('e', ['ok', 7])).json.error.type, 'x_content_parse_exception');
  t.same((await s.request('POST', '/_inference/text_embedding/e')).json, envelope(400, 'parse_exception', 'request body is required'));
  t.same(
    (await s.request('POST', '/_inference/text_embedding/e', { input: 'a', task_settings: { top_k: 2 } })).json,
    envelope(400, 'status_exception', 'Model configuration contains settings [{top_k=2}] unknown to the [hugging_face] service'),
  );
  t.same(
    (await s.request('POST', '/_inference/text_embedding/e', { input: 'a', inputs: 'b' })).json,
    envelope(400, 'x_content_parse_exception', 'Failed to parse field [inputs]: unknown field'),
  );
  t.equal((await s.request('POST', '/_inference/text_embedding/e', { input: 'a', input_type: 'ingest' })).status, 200);
  t.equal((await s.request('POST', '/_inference/text_embedding/e', { input: 'a', input_type: 'sideways' })).status, 400);
  t.equal(hf.received.length, before + 1, 'only the valid requests reached the upstream');
});

t.test('each chunking strategy end to end: chunk offsets, chunk vectors and the word-weighted mean', async (t) => {
  const { hf, put, embed } = await setup(t);
  const doc =
    'Elasticsearch is an open source, distributed, RESTful, search engine which is built on top of Lucene internally and enjoys all the features it provides. ' +
    'Ünïcödé text with émoji 😀 keeps its offsets in code units.\n\nA second paragraph follows here. It has two sentences.';
  const strategies = [
    { strategy: 'word', max_chunk_size: 10, overlap: 1 },
    { strategy: 'sentence', max_chunk_size: 20, sentence_overlap: 1 },
    { strategy: 'recursive', max_chunk_size: 15, separator_group: 'plaintext' },
    { strategy: 'none' },
  ];
  for (const [i, chunking] of strategies.entries()) {
    const id = `c${i}`;
    const created = await put(id, {}, { chunking_settings: chunking });
    t.equal(created.status, 200, chunking.strategy);
    const res = await embed(id, [doc, 'short one']);
    t.equal(res.status, 200);
    const [long, short] = res.json.text_embedding;
    t.same(short, { embedding: hf.vector('short one') }, 'a single-chunk input has exactly the Elasticsearch shape');
    const expected = chunkText(doc, created.json.chunking_settings);
    if (chunking.strategy === 'none') {
      t.same(long, { embedding: hf.vector(doc) });
      continue;
    }
    t.ok(expected.length > 1, `${chunking.strategy} makes several chunks`);
    t.equal(long.chunks.length, expected.length);
    for (const [k, c] of long.chunks.entries()) {
      t.equal(c.text, doc.slice(c.start_offset, c.end_offset), 'text is the slice at its offsets');
      t.equal(c.start_offset, expected[k]!.start);
      t.equal(c.end_offset, expected[k]!.end);
      t.same(c.embedding, hf.vector(c.text), 'each chunk has its own vector');
    }
    const total = expected.reduce((n, c) => n + c.words, 0);
    const mean = hf.vector(long.chunks[0].text).map((_, d) =>
      expected.reduce((sum, c, k) => sum + hf.vector(long.chunks[k].text)[d]! * (c.words / total), 0),
    );
    long.embedding.forEach((x: number, d: number) => t.ok(Math.abs(x - mean[d]!) < 1e-12) || t.fail(`dimension ${d}`));
  }
});

t.test('every embedding response shape is accepted', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('e');
  for (const shape of ['tei', 'embeddings', 'flat', 'tokens'] as const) {
    hf.shape = shape;
    t.same((await embed('e', 'one')).json, { text_embedding: [{ embedding: hf.vector('one') }] }, `${shape}, one input`);
    t.same((await embed('e', ['one', 'two'])).json, { text_embedding: [{ embedding: hf.vector('one') }, { embedding: hf.vector('two') }] }, `${shape}, two inputs`);
  }
});

t.test('hosted mode: model_id without url calls the serverless feature-extraction pipeline', async (t) => {
  const { s, hf } = await setup(t);
  const res = await s.request('PUT', '/_inference/text_embedding/hosted', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, model_id: 'sentence-transformers/all-MiniLM-L6-v2' },
  });
  t.equal(res.status, 200);
  await s.request('POST', '/_inference/text_embedding/hosted', { input: 'x' });
  t.same(hf.received.map((r) => r.path), [
    '/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction',
    '/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction',
  ]);
});

t.test('max_input_tokens cuts each input to max_input_tokens × 3 characters', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('e', { max_input_tokens: 2 }, { chunking_settings: { strategy: 'none' } });
  const res = await embed('e', ['abcdefghij', 'xyz']);
  t.equal(res.status, 200);
  t.same(hf.received[1]!.body, { inputs: ['abcdef', 'xyz'] });
});

t.test('the error table: each upstream status maps to its reason and status', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('e');
  const cases: Array<{ reply: { status: number; json?: unknown; text?: string; headers?: Record<string, string> }; times: number; status: number; reason: string; attempts: number }> = [
    { reply: { status: 429, json: { error: 'Rate limit reached' } }, times: 3, status: 429, reason: upstreamReason('Received a rate limit status code', 'e', 429, 'Rate limit reached'), attempts: 3 },
    { reply: { status: 503, json: { error: 'Service Unavailable' } }, times: 3, status: 400, reason: upstreamReason('Received a rate limit status code', 'e', 503, 'Service Unavailable'), attempts: 3 },
    { reply: { status: 502, text: 'Bad Gateway' }, times: 3, status: 400, reason: upstreamReason('Received a rate limit status code', 'e', 502, 'Bad Gateway'), attempts: 3 },
    { reply: { status: 500, json: { error: 'boom', error_type: 'Backend' } }, times: 1, status: 400, reason: upstreamReason('Received a server error status code', 'e', 500, 'boom'), attempts: 1 },
    { reply: { status: 401, json: { error: 'Invalid token' } }, times: 1, status: 401, reason: upstreamReason('Received an authentication error status code', 'e', 401, 'Invalid token'), attempts: 1 },
    { reply: { status: 403, json: { error: 'Forbidden' } }, times: 1, status: 401, reason: upstreamReason('Received an authentication error status code', 'e', 403, 'Forbidden'), attempts: 1 },
    { reply: { status: 302, text: '', headers: { location: 'http://elsewhere.example/' } }, times: 1, status: 302, reason: upstreamReason('Unhandled redirection', 'e', 302, ''), attempts: 1 },
    { reply: { status: 404, json: { error: 'Model not found' } }, times: 1, status: 404, reason: upstreamReason('Received an unsuccessful status code', 'e', 404, 'Model not found'), attempts: 1 },
    { reply: { status: 400, json: { error: 'Input validation error', error_type: 'Validation' } }, times: 1, status: 400, reason: upstreamReason('Received an unsuccessful status code', 'e', 400, 'Input validation error'), attempts: 1 },
  ];
  for (const c of cases) {
    const before = hf.received.length;
    hf.next(...Array.from({ length: c.times }, () => c.reply));
    const res = await embed('e', 'text');
    t.same(res.json, envelope(c.status, 'status_exception', c.reason), `upstream ${c.reply.status}`);
    t.equal(res.status, c.status);
    t.equal(hf.received.length - before, c.attempts, `upstream ${c.reply.status}: ${c.attempts} attempt(s)`);
  }
  t.equal((await embed('e', 'after the failures')).status, 200, 'the service stays up');
});

t.test('retries: a failure then success; Retry-After is honoured; never past the request timeout', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('e');
  hf.next({ status: 429, json: { error: 'slow down' } }, { status: 503, json: { error: 'Model x is currently loading', estimated_time: 0.2 } });
  let before = hf.received.length;
  let res = await embed('e', 'retry me');
  t.same(res.json, { text_embedding: [{ embedding: hf.vector('retry me') }] });
  const tries = hf.received.slice(before);
  t.equal(tries.length, 3);
  t.ok(tries[2]!.at - tries[1]!.at >= 190, 'the loading model\'s estimated_time was waited out');

  before = hf.received.length;
  hf.next({ status: 429, json: { error: 'slow down' }, headers: { 'retry-after': '1' } });
  res = await embed('e', 'after a pause');
  t.equal(res.status, 200);
  const waited = hf.received[before + 1]!.at - hf.received[before]!.at;
  t.ok(waited >= 990, `Retry-After: 1 waited ${waited.toFixed(0)} ms`);

  before = hf.received.length;
  hf.next({ status: 429, json: { error: 'slow down' }, headers: { 'retry-after': '30' } });
  const started = performance.now();
  res = await embed('e', 'no time', '?timeout=2s');
  t.same(res.json, envelope(429, 'status_exception', upstreamReason('Received a rate limit status code', 'e', 429, 'slow down')));
  t.ok(performance.now() - started < 1500, 'a wait past the deadline is not started');
  t.equal(hf.received.length - before, 1);
});

t.test('network failures are retried: dropped connection, reset mid-body, refused, unknown host', async (t) => {
  const { s, hf, put, embed } = await setup(t);
  await put('e');
  hf.next({ drop: true }, { resetMidBody: true });
  const res = await embed('e', 'survives');
  t.same(res.json, { text_embedding: [{ embedding: hf.vector('survives') }] });
  t.equal(hf.texts.filter((x) => x === 'survives').length, 3);

  await s.request('PUT', '/_inference/text_embedding/refused', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: 'http://127.0.0.1:9/embed', dimensions: 16 },
  });
  // SKIP_VALIDATION is off, so creation itself fails on the refused connection.
  t.equal((await s.request('GET', '/_inference/refused')).status, 404);
  const created = await s.request('PUT', '/_inference/text_embedding/nohost', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: 'http://no-such-host.invalid/embed' },
  });
  t.same(created.json.error.caused_by, { type: 'status_exception', reason: 'Invalid host [http://no-such-host.invalid/embed], please check that the URL is correct.' });
});

t.test('connection refused at inference time: three attempts, then 502', async (t) => {
  const { s, hf } = await setup(t, { SKIP_VALIDATION: 'true' });
  await s.request('PUT', '/_inference/text_embedding/refused', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: 'http://127.0.0.1:9/embed' },
  });
  const res = await s.request('POST', '/_inference/text_embedding/refused', { input: 'x' });
  t.same(res.json, envelope(502, 'status_exception', 'Failed to send request from inference entity id [refused]: the connection was refused'));
  t.equal(hf.received.length, 0);
});

t.test('malformed upstream answers are 502s naming the shape, never a crash', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('e');
  const cases: Array<[unknown, string]> = [
    [{ foo: 1 }, 'expected an array of 1 embeddings, got an object with keys [foo]'],
    [[], 'expected an array of 1 embeddings, got an empty array'],
    [[[0.1, 'x']], 'embedding [0] is not a list of finite numbers: got an array of 2 (number, string)'],
    [[[0.1], [0.2]], 'sent 1 inputs but received 2 embeddings'],
    [[[0.1, 0.2]], 'received embeddings of 2 dimensions where the endpoint has 16'],
    ['just text', 'expected an array of 1 embeddings, got a string'],
  ];
  for (const [json, detail] of cases) {
    hf.next({ status: 200, json });
    const res = await embed('e', 'text');
    t.same(res.json, envelope(502, 'status_exception', `Failed to parse the response for inference entity id [e]: ${detail}`), detail);
  }
  for (const text of ['not json at all', '[[0.1, NaN, 0.3]]', '[[0.1, Infinity]]', '[[0.1, 0.2]']) {
    hf.next({ status: 200, text });
    t.same((await embed('e', 'x')).json.error.reason, 'Failed to parse the response for inference entity id [e]: the body is not JSON', text);
  }
  hf.next({ status: 200, json: [[1, 2], [3]] });
  t.same(
    (await embed('e', ['a', 'b'])).json.error.reason,
    'Failed to parse the response for inference entity id [e]: embedding [1] has 1 dimensions where embedding [0] has 2',
  );
  t.equal((await embed('e', 'fine')).status, 200);
});

t.test('413 and TEI\'s batch limit split the batch and the smaller size is remembered; one big input is halved', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('e');
  hf.maxBatch = 8;
  const inputs = Array.from({ length: 20 }, (_, i) => `t${i}`);
  let res = await embed('e', inputs);
  t.same(res.json, { text_embedding: inputs.map((x) => ({ embedding: hf.vector(x) })) });
  const sizes = hf.received.slice(1).map((r) => r.body.inputs.length);
  t.same(sizes, [20, 8, 8, 4], 'split to the size TEI named, then sent');
  const before = hf.received.length;
  res = await embed('e', inputs);
  t.same(hf.received.slice(before).map((r) => r.body.inputs.length), [8, 8, 4], 'the next request starts at the learned size');

  hf.next({ status: 413, text: 'Payload Too Large' });
  const before2 = hf.received.length;
  res = await embed('e', ['a', 'b', 'c', 'd']);
  t.equal(res.status, 200);
  t.same(hf.received.slice(before2).map((r) => r.body.inputs.length), [4, 2, 2]);

  hf.next({ status: 413, text: 'Payload Too Large' });
  const before3 = hf.received.length;
  res = await embed('e', 'a long input of forty characters, almost');
  t.equal(res.status, 200);
  t.same(hf.received.slice(before3).map((r) => r.body.inputs[0]), ['a long input of forty characters, almost', 'a long input of fort']);
  t.same(res.json, { text_embedding: [{ embedding: hf.vector('a long input of fort') }] });

  hf.next({ status: 413, text: 'Payload Too Large' }, { status: 413, text: 'Payload Too Large' }, { status: 413, text: 'Payload Too Large' });
  res = await embed('e', 'always too large');
  t.same(res.json, envelope(413, 'status_exception', upstreamReason('Received a content too large status code', 'e', 413, 'Payload Too Large')));
});

t.test('timeouts: 408 after the timeout, and queued work of a timed-out request is never sent', async (t) => {
  const { s, hf, put, embed } = await setup(t);
  await put('slow');
  hf.next({ delayMs: 1500 });
  const started = performance.now();
  let res = await embed('slow', 'x', '?timeout=300ms');
  t.same(res.json, envelope(408, 'status_exception', 'Request timed out after [300ms]'));
  t.ok(performance.now() - started < 1000);

  // One request per second: the first takes the slot, the second waits and times out.
  await put('rpm60', { rate_limit: { requests_per_minute: 60 } });
  await new Promise((r) => setTimeout(r, 1100));
  const first = embed('rpm60', 'first');
  // Once the first batch has left, the second request waits for the next slot, a second away.
  await new Promise((r) => setTimeout(r, 50));
  const second = embed('rpm60', 'never sent', '?timeout=200ms');
  res = await second;
  t.same(res.json, envelope(408, 'status_exception', 'Request timed out after [200ms]'));
  t.equal((await first).status, 200);
  await new Promise((r) => setTimeout(r, 1300));
  t.notOk(hf.texts.includes('never sent'), 'the timed-out text never reached the upstream');
  t.equal((await s.request('GET', '/_inference/rpm60')).status, 200);
});

t.test('the queue bound: past capacity the endpoint answers 429', async (t) => {
  const { put, embed } = await setup(t, {}, 2);
  await put('tiny', { rate_limit: { requests_per_minute: 1 } });
  // The creation call did not use the endpoint's limiter; the first inference takes its one slot.
  const inFlight = [embed('tiny', Array.from({ length: 20 }, (_, i) => `a${i}`), '?timeout=3s')];
  await new Promise((r) => setTimeout(r, 100));
  inFlight.push(embed('tiny', Array.from({ length: 40 }, (_, i) => `b${i}`), '?timeout=1s'));
  await new Promise((r) => setTimeout(r, 100));
  const res = await embed('tiny', 'one more');
  t.same(res.json, envelope(429, 'es_rejected_execution_exception', 'Failed to execute task for inference id [tiny] because the request service queue is full'));
  const settled = await Promise.all(inFlight);
  t.equal(settled[0]!.status, 200);
  t.equal(settled[1]!.status, 408);
});

t.test('rate spacing: at 600/min the upstream never sees two requests closer than 100 ms; _update applies live', async (t) => {
  const { s, hf, put, embed } = await setup(t);
  await put('paced', { rate_limit: { requests_per_minute: 600 } });
  await new Promise((r) => setTimeout(r, 150));
  const before = hf.received.length;
  const started = performance.now();
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => embed('paced', Array.from({ length: 20 }, (_, k) => `r${i}-${k}`))));
  t.ok(answers.every((a) => a.status === 200));
  const times = hf.received.slice(before).map((r) => r.at);
  t.equal(times.length, 8);
  const gaps = times.slice(1).map((x, i) => x - times[i]!);
  // Measured on arrival at the upstream, where scheduling jitter shows (the bench measures the
  // limiter's own accuracy in a quiet process): no burst, and no systematic speed-up.
  t.ok(Math.min(...gaps) >= 50, `smallest gap ${Math.min(...gaps).toFixed(1)} ms`);
  t.ok(times[times.length - 1]! - times[0]! >= 690, `eight requests span ${(times[times.length - 1]! - times[0]!).toFixed(0)} ms`);
  t.ok(performance.now() - started >= 690, 'eight requests at 100 ms spacing take at least 700 ms');
  // Every window of one second holds at most 10 requests (+1 at the edge).
  for (const start of times) t.ok(times.filter((x) => x >= start && x < start + 1000).length <= 11);

  await s.request('PUT', '/_inference/paced/_update', { service_settings: { rate_limit: { requests_per_minute: 6000 } } });
  await new Promise((r) => setTimeout(r, 120));
  const before2 = hf.received.length;
  await Promise.all(Array.from({ length: 6 }, (_, i) => embed('paced', Array.from({ length: 20 }, (_, k) => `f${i}-${k}`))));
  const fast = hf.received.slice(before2).map((r) => r.at);
  t.ok(fast[fast.length - 1]! - fast[0]! < 300, 'after the update six requests take well under 500 ms');
});

t.test('_update of the api key is used by the next upstream request', async (t) => {
  const { s, hf, put, embed } = await setup(t);
  await put('e');
  await embed('e', 'before');
  await s.request('PUT', '/_inference/e/_update', { service_settings: { api_key: 'hf_Rotated0123456789' } });
  await embed('e', 'after');
  t.same(hf.received.slice(1).map((r) => r.headers.authorization), [`Bearer ${API_KEY}`, 'Bearer hf_Rotated0123456789']);
});

t.test('deleting an endpoint stops its inference', async (t) => {
  const { s, put, embed } = await setup(t);
  await put('e');
  t.equal((await embed('e', 'x')).status, 200);
  await s.request('DELETE', '/_inference/e');
  t.same((await embed('e', 'x')).json, envelope(404, 'resource_not_found_exception', 'Inference endpoint not found [e]'));
});

t.test('a real document of a megabyte goes through: every chunk embedded, batches of 20, offsets intact', async (t) => {
  const { englishText } = await import('../bench/corpus.js');
  const { hf, put, embed } = await setup(t);
  await put('doc', { rate_limit: { requests_per_minute: 60_000 } });
  const doc = englishText(1_000_000);
  const res = await embed('doc', doc, '?timeout=60s');
  t.equal(res.status, 200);
  const [entry] = res.json.text_embedding;
  const expected = chunkText(doc, { strategy: 'sentence', max_chunk_size: 250, sentence_overlap: 1 });
  t.equal(entry.chunks.length, expected.length);
  t.ok(expected.length > 500);
  let intact = true;
  for (const [k, c] of entry.chunks.entries()) intact &&= c.start_offset === expected[k]!.start && c.text === doc.slice(c.start_offset, c.end_offset);
  t.ok(intact, 'every chunk is the slice at its offsets');
  const sizes = hf.received.slice(1).map((r) => r.body.inputs.length);
  t.ok(sizes.every((n) => n <= 20));
  t.equal(sizes.reduce((a, b) => a + b, 0), expected.length, 'each chunk sent once');
  t.equal(entry.chunks[7].embedding.join(), hf.vector(entry.chunks[7].text).join());
});
