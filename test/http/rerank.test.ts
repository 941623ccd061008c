// rerank through HTTP against a real test upstream playing TEI's /rerank: settings, precedence, splitting, wire and
// errors (docs/api.md#rerank).
import t from 'tap';
import { measureTiming, pacedBurst } from '../helpers/timing.js';
import { API_KEY, envelope, startApp, type Tap } from '../helpers/app-harness.js';
import { FakeHuggingFace, rerankScore } from '../helpers/fake-hf.js';

const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 };

async function setup(t: Tap, env: Record<string, string> = {}) {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  // The creation check is tested in creation-check.test.ts: here the upstream sees only inference requests.
  const s = await startApp(t, { SKIP_VALIDATION: 'true', ...env }, undefined, { retry: FAST_RETRY });
  const put = (id: string, serviceSettings: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
    s.request('PUT', `/_inference/rerank/${id}`, {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: `${hf.url}/rerank`, ...serviceSettings },
      ...extra,
    });
  const rerank = (id: string, body: Record<string, unknown>, query = '') =>
    s.request('POST', `/_inference/rerank/${id}${query}`, body);
  return { s, hf, put, rerank };
}

/** The expected answer, computed from the test upstream's scoring: best first, ties in input order. */
function expected(query: string, inputs: string[], topN: number | undefined, withText: boolean) {
  const ranked = inputs
    .map((text, index) => ({ index, relevance_score: rerankScore(query, text), text }))
    .sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index)
    .slice(0, topN ?? inputs.length);
  return {
    rerank: ranked.map(({ index, relevance_score, text }) =>
      withText ? { index, relevance_score, text } : { index, relevance_score },
    ),
  };
}

const DOCS = [
  'luke skywalker',
  'princess leia of alderaan',
  'r2d2 the droid',
  'star wars: a new hope',
  'wars of the stars and more wars',
];

t.test('PUT rerank: stored and shown in field order, task settings kept', async (t) => {
  const { s, hf, put } = await setup(t);
  const res = await put(
    'rr',
    { rate_limit: { requests_per_minute: 100 } },
    { task_settings: { return_documents: true, top_n: 3 } },
  );
  t.equal(res.status, 200);
  t.equal(
    res.body,
    JSON.stringify({
      inference_id: 'rr',
      task_type: 'rerank',
      service: 'hugging_face',
      service_settings: { url: `${hf.url}/rerank`, rate_limit: { requests_per_minute: 100 } },
      task_settings: { return_documents: true, top_n: 3 },
    }),
  );
  t.equal(hf.received.length, 0, 'no call with SKIP_VALIDATION');
  t.strictSame((await s.request('GET', '/_inference/rerank/rr')).json.endpoints[0], res.json);
  t.notMatch(res.body, API_KEY);
});

t.test('PUT rerank refuses chunking settings, a missing url, a model_id alone and bad task settings', async (t) => {
  const { s, put } = await setup(t);
  let res = await put('c', {}, { chunking_settings: { strategy: 'word', max_chunk_size: 10, overlap: 1 } });
  t.strictSame(
    res.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [chunking_settings] are not supported for task type [rerank];',
    ),
  );
  res = await s.request('PUT', '/_inference/rerank/u', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY },
  });
  t.strictSame(
    res.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [service_settings] does not contain the required setting [url];',
    ),
  );
  res = await s.request('PUT', '/_inference/rerank/m', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: 'http://reranker.hf.test/rerank', model_id: 'BAAI/bge-reranker-base' },
  });
  t.strictSame(
    res.json,
    envelope(
      400,
      'status_exception',
      'Model configuration contains settings [{model_id=BAAI/bge-reranker-base}] unknown to the [hugging_face] service',
    ),
  );
  res = await put('n', {}, { task_settings: { top_n: 0 } });
  t.strictSame(
    res.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [task_settings] Invalid value [0]. [top_n] must be a positive integer;',
    ),
  );
  res = await put('k', {}, { task_settings: { top_k: 2 } });
  t.strictSame(
    res.json,
    envelope(
      400,
      'status_exception',
      'Model configuration contains settings [{top_k=2}] unknown to the [hugging_face] service',
    ),
  );
  t.strictSame((await s.request('GET', '/_inference/rerank/_all')).json, { endpoints: [] }, 'nothing was stored');
});

t.test('POST rerank: sorted by score, no text unless asked, exactly this on the wire', async (t) => {
  const { hf, put, rerank } = await setup(t);
  await put('rr');
  const res = await rerank('rr', { query: 'star wars', input: DOCS });
  t.equal(res.status, 200);
  t.strictSame(res.json, expected('star wars', DOCS, undefined, false));
  t.equal(
    res.body,
    JSON.stringify(expected('star wars', DOCS, undefined, false)),
    'field order index, relevance_score',
  );
  t.equal(hf.received.length, 1);
  const sent = hf.received[0]!;
  t.equal(sent.path, '/rerank');
  t.equal(
    JSON.stringify(sent.body),
    JSON.stringify({ texts: DOCS, query: 'star wars' }),
    "Elasticsearch's body: texts, query; return_text and top_n only when given",
  );
  t.equal(sent.headers.authorization, `Bearer ${API_KEY}`);

  const withText = await rerank('rr', { query: 'star wars', input: DOCS, return_documents: true, top_n: 2 });
  t.equal(
    withText.body,
    JSON.stringify(expected('star wars', DOCS, 2, true)),
    'cut to top_n, with text, field order index, relevance_score, text',
  );
  t.equal(
    JSON.stringify(hf.received[1]!.body),
    JSON.stringify({ texts: DOCS, query: 'star wars', return_text: true, top_n: 2 }),
  );

  const one = await rerank('rr', { query: 'droid', input: 'r2d2 the droid' });
  t.strictSame(
    one.json,
    { rerank: [{ index: 0, relevance_score: rerankScore('droid', 'r2d2 the droid') }] },
    'a single string input',
  );
});

t.test('precedence: top-level over the request task_settings over the stored task_settings', async (t) => {
  const { put, rerank } = await setup(t);
  await put('p', {}, { task_settings: { return_documents: true, top_n: 3 } });
  const q = 'star wars';
  t.strictSame(
    (await rerank('p', { query: q, input: DOCS })).json,
    expected(q, DOCS, 3, true),
    'stored: top 3 with text',
  );
  t.strictSame(
    (await rerank('p', { query: q, input: DOCS, task_settings: { top_n: 2 } })).json,
    expected(q, DOCS, 2, true),
    'request task_settings over stored',
  );
  t.strictSame(
    (await rerank('p', { query: q, input: DOCS, task_settings: { top_n: 2, return_documents: false } })).json,
    expected(q, DOCS, 2, false),
    'request task_settings return_documents false over stored true',
  );
  t.strictSame(
    (await rerank('p', { query: q, input: DOCS, top_n: 1, task_settings: { top_n: 2 } })).json,
    expected(q, DOCS, 1, true),
    'top-level top_n over request task_settings',
  );
  t.strictSame(
    (await rerank('p', { query: q, input: DOCS, return_documents: false, task_settings: { return_documents: true } }))
      .json,
    expected(q, DOCS, 3, false),
    'top-level return_documents over request task_settings and stored',
  );
  t.strictSame(
    (await rerank('p', { query: q, input: DOCS }, '?top_n=4&return_documents=false')).json,
    expected(q, DOCS, 4, false),
    'the query-string form Elasticsearch 8 clients send',
  );
  t.strictSame(
    (await rerank('p', { query: q, input: DOCS, top_n: 1 }, '?top_n=4')).json,
    expected(q, DOCS, 1, true),
    'a body field wins over the query string',
  );
  t.strictSame(
    (await rerank('p', { query: q, input: DOCS, top_n: 50 })).json,
    expected(q, DOCS, undefined, true),
    'top_n above the input count returns all',
  );
});

// Elasticsearch's HuggingFaceRerankRequestEntity: `texts`, `query`, then `return_text` (the request's return_documents
// over the task settings') and `top_n` (likewise) when given; the answer is still sorted and cut here.
t.test(
  'top_n and return_documents go upstream as Elasticsearch sends them, from wherever they were given',
  async (t) => {
    const { hf, put, rerank } = await setup(t);
    await put('p', {}, { task_settings: { return_documents: false, top_n: 3 } });
    const q = 'star wars';
    const sentLast = () => JSON.stringify(hf.received.at(-1)!.body);
    const body = (extra: Record<string, unknown>) => JSON.stringify({ texts: DOCS, query: q, ...extra });

    t.strictSame((await rerank('p', { query: q, input: DOCS })).json, expected(q, DOCS, 3, false));
    t.equal(sentLast(), body({ return_text: false, top_n: 3 }), 'the stored ones, false included');
    t.strictSame(
      (await rerank('p', { query: q, input: DOCS, task_settings: { top_n: 2, return_documents: true } })).json,
      expected(q, DOCS, 2, true),
    );
    t.equal(sentLast(), body({ return_text: true, top_n: 2 }), "the request's task_settings");
    await rerank('p', { query: q, input: DOCS, top_n: 1, return_documents: true, task_settings: { top_n: 2 } });
    t.equal(sentLast(), body({ return_text: true, top_n: 1 }), 'the top-level fields');
    await rerank('p', { query: q, input: DOCS }, '?top_n=4&return_documents=true');
    t.equal(sentLast(), body({ return_text: true, top_n: 4 }), 'the query string of the 8.x client');
    t.strictSame((await rerank('p', { query: q, input: DOCS, top_n: 50 })).json, expected(q, DOCS, undefined, false));
    t.equal(sentLast(), body({ return_text: false, top_n: 50 }), 'a top_n above the input count is sent as given');
  },
);

t.test(
  'an upstream that honours top_n: each upstream request answers its best, the answer is the best overall',
  async (t) => {
    const { hf, put, rerank } = await setup(t);
    await put('slices', { batch_size: 2, max_concurrent_requests: 1 });
    const q = 'star wars';
    // What a server that applies top_n answers: the best `n` of the texts it was sent, best first.
    const best = (texts: string[], n: number) =>
      texts
        .map((text, index) => ({ index, score: rerankScore(q, text) }))
        .sort((a, b) => b.score - a.score)
        .slice(0, n);
    const slices = [DOCS.slice(0, 2), DOCS.slice(2, 4), DOCS.slice(4)];
    hf.next(...slices.map((texts) => ({ status: 200, json: best(texts, 2) })));
    const res = await rerank('slices', { query: q, input: DOCS, top_n: 2 });
    t.strictSame(res.json, expected(q, DOCS, 2, false));
    t.strictSame(
      hf.received.map((r) => JSON.stringify(r.body)),
      slices.map((texts) => JSON.stringify({ texts, query: q, top_n: 2 })),
      'every upstream request carries top_n',
    );

    hf.next({ status: 200, json: best(DOCS.slice(0, 2), 1) });
    t.strictSame(
      (await rerank('slices', { query: q, input: DOCS.slice(0, 2), top_n: 2 })).json,
      envelope(
        502,
        'status_exception',
        'Failed to parse the response for inference entity id [slices]: sent 2 texts with top_n [2] but received 1 scores',
      ),
      'fewer than the best top_n is a malformed answer',
    );
  },
);

t.test('the creation check sends the stored top_n and return_documents too', async (t) => {
  const { s, hf } = await setup(t, { SKIP_VALIDATION: 'false' });
  const res = await s.request('PUT', '/_inference/rerank/checked', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: `${hf.url}/rerank` },
    task_settings: { return_documents: true, top_n: 3 },
  });
  t.equal(res.status, 200);
  t.equal(
    JSON.stringify(hf.received[0]!.body),
    JSON.stringify({ texts: ['how big'], query: 'how big', return_text: true, top_n: 3 }),
  );
});

t.test('rerank request errors: exact reasons, nothing sent', async (t) => {
  const { s, hf, put, rerank } = await setup(t);
  await put('e');
  const validation = (reason: string) =>
    envelope(400, 'action_request_validation_exception', `Validation Failed: 1: ${reason};`);
  t.strictSame(
    (await rerank('e', { input: DOCS })).json,
    validation('Field [query] cannot be null for task type [rerank]'),
  );
  t.strictSame(
    (await rerank('e', { query: null, input: DOCS })).json,
    validation('Field [query] cannot be null for task type [rerank]'),
  );
  t.strictSame((await rerank('e', { query: 'q' })).json, validation('Field [input] cannot be null'));
  t.strictSame(
    (await rerank('e', { query: 'q', input: [] })).json,
    validation('Field [input] cannot be an empty array'),
  );
  t.strictSame(
    (await rerank('e', { query: 'q', input: DOCS, top_n: 0 })).json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [top_n] Invalid value [0]. [top_n] must be a positive integer;',
    ),
  );
  t.strictSame(
    (await rerank('e', { query: 'q', input: DOCS, task_settings: { top_n: -1 } })).json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [task_settings] Invalid value [-1]. [top_n] must be a positive integer;',
    ),
  );
  t.strictSame(
    (await rerank('e', { query: 'q', input: DOCS, task_settings: { top_k: 1 } })).json,
    envelope(
      400,
      'status_exception',
      'Model configuration contains settings [{top_k=1}] unknown to the [hugging_face] service',
    ),
  );
  t.strictSame(
    (await rerank('e', { query: 'q', input: DOCS, top_n: 'two' })).json,
    envelope(400, 'x_content_parse_exception', 'Failed to parse field [top_n]: expected an integer or null'),
  );
  t.strictSame(
    (await rerank('e', { query: 7, input: DOCS })).json,
    envelope(400, 'x_content_parse_exception', 'Failed to parse field [query]: expected a string or null'),
  );
  t.strictSame(
    (await rerank('e', { query: 'q', input: DOCS, documents: DOCS })).json,
    envelope(400, 'x_content_parse_exception', 'Failed to parse field [documents]: unknown field'),
  );
  t.strictSame(
    (await rerank('e', { query: 'q', input: DOCS }, '?top_n=x')).json,
    envelope(400, 'illegal_argument_exception', 'Failed to parse value [x] of parameter [top_n] as an integer'),
  );
  t.strictSame(
    (await rerank('e', { query: 'q', input: DOCS }, '?return_documents=maybe')).json,
    envelope(400, 'illegal_argument_exception', 'Failed to parse value [maybe] as only [true] or [false] are allowed.'),
  );
  t.strictSame(
    (await s.request('POST', '/_inference/text_embedding/e', { query: 'q', input: DOCS })).json,
    envelope(
      400,
      'status_exception',
      'Incompatible task_type, the requested type [text_embedding] does not match the model type [rerank]',
    ),
  );
  t.strictSame(
    (await s.request('POST', '/_inference/rerank/e/_stream', { query: 'q', input: DOCS })).json,
    envelope(405, 'status_exception', 'Streaming is not allowed for service [hugging_face] and task [rerank]'),
  );
  t.equal(hf.received.length, 0, 'no invalid request reached the upstream');
  t.equal(
    (await s.request('POST', '/_inference/e', { query: 'star wars', input: DOCS })).status,
    200,
    'the one-segment form',
  );
});

t.test('query parameters that only rerank reads are refused on other task types', async (t) => {
  const { s } = await setup(t);
  await s.request('PUT', '/_inference/text_embedding/emb', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: 'http://embedder.hf.test/embed' },
  });
  t.strictSame(
    (await s.request('POST', '/_inference/text_embedding/emb?top_n=1', { input: 'x' })).json,
    envelope(
      400,
      'illegal_argument_exception',
      'request [/_inference/text_embedding/emb] contains unrecognized parameter: [top_n]',
    ),
  );
});

t.test('100 documents against an upstream that takes 32: 4 upstream requests, merged, sorted and cut', async (t) => {
  const { hf, put, rerank } = await setup(t);
  await put('big', {}, { task_settings: { top_n: 10, return_documents: true } });
  const docs = Array.from(
    { length: 100 },
    (_, i) => `document ${i} ${i % 7 === 0 ? 'about star wars' : i % 3 === 0 ? 'about stars' : 'about something else'}`,
  );
  const res = await rerank('big', { query: 'star wars', input: docs });
  t.equal(res.status, 200);
  t.strictSame(res.json, expected('star wars', docs, 10, true));
  t.strictSame(
    hf.received.map((r) => r.body.texts.length),
    [32, 32, 32, 4],
  );
  t.ok(
    hf.received.every((r) => r.body.query === 'star wars' && r.body.return_text === true),
    'the same query in each',
  );
  t.strictSame(
    hf.received.flatMap((r) => r.body.texts),
    docs,
    'every document sent once, in order',
  );
});

t.test('an upstream maximum below batch_size is learned from its 422 (and from the 413 of older TEI)', async (t) => {
  for (const status of [422, 413]) {
    const { hf, put, rerank } = await setup(t);
    hf.batchLimitStatus = status;
    // One request at a time: with more, the second slice of 50 may go out before the first one's refusal is back.
    await put('learn', { batch_size: 50, max_concurrent_requests: 1 });
    const docs = Array.from({ length: 100 }, (_, i) => `doc ${i}`);
    const res = await rerank('learn', { query: 'doc 7', input: docs, top_n: 3 });
    t.strictSame(res.json, expected('doc 7', docs, 3, false), `status ${status}`);
    t.strictSame(
      hf.received.map((r) => r.body.texts.length),
      [50, 32, 32, 32, 4],
      `status ${status}: the first batch of 50 is refused, then batches of at most 32`,
    );
    const again = await rerank('learn', { query: 'doc', input: docs.slice(0, 40) });
    t.equal(again.status, 200);
    t.strictSame(
      hf.received.slice(5).map((r) => r.body.texts.length),
      [32, 8],
      `status ${status}: the learned size is remembered`,
    );
  }
});

t.test('concurrent rerank requests never mix documents of different queries in one upstream request', async (t) => {
  const { hf, put, rerank } = await setup(t);
  await put('mix', { rate_limit: { requests_per_minute: 600 } });
  const answers = await Promise.all(
    ['alpha', 'beta', 'gamma'].map((q) => rerank('mix', { query: q, input: [`${q} one`, `${q} two`, 'other'] })),
  );
  answers.forEach((res, i) => {
    const q = ['alpha', 'beta', 'gamma'][i]!;
    t.strictSame(res.json, expected(q, [`${q} one`, `${q} two`, 'other'], undefined, false), q);
  });
  for (const r of hf.received)
    t.ok(
      r.body.texts.every((x: string) => x === 'other' || x.startsWith(r.body.query)),
      `one query per request: ${r.body.query}`,
    );
});

t.test('equal scores keep the order of the input', async (t) => {
  const { put, hf, rerank } = await setup(t);
  await put('ties');
  // The upstream lists equal scores out of input order; the answer puts them back in it.
  hf.next({
    status: 200,
    json: [
      { index: 3, score: 0.5 },
      { index: 1, score: 0.5 },
      { index: 2, score: 0.9 },
      { index: 0, score: 0.5 },
    ],
  });
  const res = await rerank('ties', { query: 'q', input: ['a', 'b', 'c', 'd'] });
  t.strictSame(res.json, {
    rerank: [
      { index: 2, relevance_score: 0.9 },
      { index: 0, relevance_score: 0.5 },
      { index: 1, relevance_score: 0.5 },
      { index: 3, relevance_score: 0.5 },
    ],
  });
});

t.test('every spelling of the answer is accepted; anything else is a 502 naming the shape', async (t) => {
  const { hf, put, rerank } = await setup(t);
  await put('sp');
  const input = ['a', 'b'];
  hf.next({
    status: 200,
    json: [
      { index: 1, relevance_score: 0.9, document: { text: 'B' } },
      { index: 0, relevance_score: 0.1, document: { text: 'A' } },
    ],
  });
  t.strictSame(
    (await rerank('sp', { query: 'q', input, return_documents: true })).json,
    {
      rerank: [
        { index: 1, relevance_score: 0.9, text: 'b' },
        { index: 0, relevance_score: 0.1, text: 'a' },
      ],
    },
    "relevance_score and document.text accepted; the text is the caller's document as sent, not the upstream's copy",
  );
  hf.next({
    status: 200,
    json: {
      results: [
        { index: 0, relevance_score: 0.3 },
        { index: 1, relevance_score: 0.4 },
      ],
    },
  });
  t.strictSame(
    (await rerank('sp', { query: 'q', input, return_documents: true })).json,
    {
      rerank: [
        { index: 1, relevance_score: 0.4, text: 'b' },
        { index: 0, relevance_score: 0.3, text: 'a' },
      ],
    },
    'a list under results',
  );
  const bad = (detail: string) =>
    envelope(502, 'status_exception', `Failed to parse the response for inference entity id [sp]: ${detail}`);
  hf.next({ status: 200, json: { scores: [0.1, 0.2] } });
  t.strictSame(
    (await rerank('sp', { query: 'q', input })).json,
    bad('expected a list of 2 scores, got an object with keys [scores]'),
  );
  hf.next({ status: 200, json: [{ index: 0, score: 0.5 }] });
  t.strictSame((await rerank('sp', { query: 'q', input })).json, bad('sent 2 texts but received 1 scores'));
  hf.next({
    status: 200,
    json: [
      { index: 0, score: 0.5 },
      { index: 5, score: 0.4 },
    ],
  });
  t.strictSame((await rerank('sp', { query: 'q', input })).json, bad('score [1] has index [5] but 2 texts were sent'));
  hf.next({
    status: 200,
    json: [
      { index: 0, score: 0.5 },
      { index: 0, score: 0.4 },
    ],
  });
  t.strictSame((await rerank('sp', { query: 'q', input })).json, bad('text [0] was scored twice'));
  hf.next({
    status: 200,
    json: [
      { index: 0, score: 'high' },
      { index: 1, score: 0.4 },
    ],
  });
  t.strictSame(
    (await rerank('sp', { query: 'q', input })).json,
    bad('score [0] is not {"index": number, "score": number}: got an object with keys [index, score]'),
  );
  t.equal((await rerank('sp', { query: 'q', input })).status, 200, 'the service stays up');
});

t.test('upstream failures: the error table, retries and timeouts as for embeddings', async (t) => {
  const { hf, put, rerank } = await setup(t);
  await put('f');
  const reason = (prefix: string, status: number, message: string) =>
    `${prefix} for request from inference entity id [f] status [${status}]. Error message: [${message}]`;
  // A 503 that is not a loading model reads as an endpoint waking from zero
  // (docs/hugging-face-protocols.md#upstream-errors).
  const WAKING_HINT =
    'The Hugging Face endpoint is not ready: an Inference Endpoint scaled to zero answers 503 while it wakes up, which can take a few minutes. Inference requests are retried for up to 3 s; try again shortly, or keep at least one replica running.';
  hf.next({ status: 401, json: { error: 'Invalid token' } });
  t.strictSame(
    (await rerank('f', { query: 'q', input: DOCS })).json,
    envelope(401, 'status_exception', reason('Received an authentication error status code', 401, 'Invalid token')),
  );
  hf.next({ status: 429, json: { error: 'Model is overloaded', error_type: 'Overloaded' } });
  const before = hf.received.length;
  t.equal((await rerank('f', { query: 'q', input: DOCS })).status, 200, 'a 429 is retried');
  t.equal(hf.received.length - before, 2);
  hf.next(
    { status: 503, json: { error: 'down' } },
    { status: 503, json: { error: 'down' } },
    { status: 503, json: { error: 'down' } },
  );
  t.strictSame(
    (await rerank('f', { query: 'q', input: DOCS })).json,
    envelope(400, 'status_exception', `${reason('Received a rate limit status code', 503, 'down')}. ${WAKING_HINT}`),
  );
  hf.next({ hang: true });
  t.strictSame(
    (await rerank('f', { query: 'q', input: DOCS }, '?timeout=200ms')).json,
    envelope(408, 'status_exception', 'Request timed out after [200ms]'),
  );
});

t.test('each split request takes its own rate-limit grant', async (t) => {
  const { hf, put, rerank } = await setup(t);
  await put('slow', { batch_size: 2, rate_limit: { requests_per_minute: 600 } });
  // 100 ms apart at 600/min: exact on this process's clock; on arrival, with room for jitter and measured again when a
  // stall made it miss (without a grant each, the three arrive within a few milliseconds every time).
  await measureTiming(t, 'three requests of one rerank at 600/min', 50, async () => {
    await new Promise((r) => setTimeout(r, 150));
    const before = hf.received.length;
    const started = performance.now();
    await rerank('slow', { query: 'q', input: ['a', 'b', 'c', 'd', 'e', 'f'] });
    const elapsedMs = performance.now() - started;
    return pacedBurst(t, {
      what: 'requests',
      count: 3,
      intervalMs: 100,
      times: hf.received.slice(before).map((r) => r.at),
      elapsedMs,
      minElapsedMs: 195,
      minSpanMs: 150,
    });
  });
});

t.test('a document the upstream refused as too large is halved to be scored, yet comes back whole', async (t) => {
  const { hf, put, rerank } = await setup(t);
  await put('big');
  const long = 'star wars '.repeat(200); // 2000 characters
  hf.maxBodyBytes = 1500; // TEI's 413 (plain text) for a body over its limit
  const res = await rerank('big', { query: 'star wars', input: [long], return_documents: true });
  t.equal(res.status, 200);
  t.equal(hf.received.length, 2, 'refused whole (413), then sent again halved');
  t.equal(hf.received[1]!.body.texts[0], long.slice(0, 1000), 'the upstream scored the first half');
  t.equal(res.json.rerank[0].text, long, 'the answer has the document as sent');
});
