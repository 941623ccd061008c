// sparse_embedding through HTTP against a real test upstream: TEI's /embed_sparse + /decode, a token-map handler,
// chunking (docs/api.md#sparse_embedding).
import t from 'tap';
import { API_KEY, envelope, startApp, type Tap } from '../helpers/app-harness.js';
import { TokenCache } from '../../src/services/hugging-face/sparse-embedding-wire.js';
import { FakeHuggingFace, SPECIAL_IDS, sparseWeight } from '../helpers/fake-hf.js';

const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 };

async function setup(t: Tap) {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  // The creation check is tested in creation-check.test.ts: here the upstream sees only inference requests.
  const s = await startApp(t, { SKIP_VALIDATION: 'true' }, undefined, { retry: FAST_RETRY });
  const put = (id: string, serviceSettings: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
    s.request('PUT', `/_inference/sparse_embedding/${id}`, {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: `${hf.url}/embed_sparse`, ...serviceSettings },
      ...extra,
    });
  const embed = (id: string, input: unknown) => s.request('POST', `/_inference/sparse_embedding/${id}`, { input });
  /** Requests that reached each route of the upstream. */
  const sent = (route: string) => hf.received.filter((r) => r.path === route);
  return { s, hf, put, embed, sent };
}

/** The token map the test upstream gives a text, in its tokenizer's id order (TEI orders by index). */
function tokensOf(hf: FakeHuggingFace, text: string): Record<string, number> {
  const words = [...new Set(FakeHuggingFace.words(text))].sort((a, b) => hf.vocabulary.get(a)! - hf.vocabulary.get(b)!);
  return Object.fromEntries(words.map((w) => [w, sparseWeight(w)]));
}

t.test('PUT sparse_embedding: shown with max_input_tokens 512 and the default chunking', async (t) => {
  const { s, hf, put } = await setup(t);
  const res = await put('sp');
  t.equal(res.status, 200);
  t.equal(
    res.body,
    JSON.stringify({
      inference_id: 'sp',
      task_type: 'sparse_embedding',
      service: 'hugging_face',
      service_settings: {
        url: `${hf.url}/embed_sparse`,
        max_input_tokens: 512,
        rate_limit: { requests_per_minute: 3000 },
      },
      chunking_settings: { strategy: 'sentence', max_chunk_size: 250, sentence_overlap: 1 },
    }),
  );
  t.equal(hf.received.length, 0);
  t.strictSame((await s.request('GET', '/_inference/sparse_embedding/_all')).json, { endpoints: [res.json] });
  const noUrl = await s.request('PUT', '/_inference/sparse_embedding/x', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, model_id: 'naver/splade-v3' },
  });
  t.strictSame(
    noUrl.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [service_settings] does not contain the required setting [url];' +
        '2: Model configuration contains settings [{model_id=naver/splade-v3}] unknown to the [hugging_face] service;',
    ),
    'model_id is no substitute for a url here, and is unknown to sparse_embedding',
  );
});

t.test(
  "TEI /embed_sparse: indices become tokens through the same server's /decode, special tokens dropped",
  async (t) => {
    const { hf, put, embed, sent } = await setup(t);
    await put('sp');
    const res = await embed('sp', ['the quick brown fox', 'a lazy dog']);
    t.equal(res.status, 200);
    t.equal(
      res.body,
      JSON.stringify({
        sparse_embedding: [
          { is_truncated: false, embedding: tokensOf(hf, 'the quick brown fox') },
          { is_truncated: false, embedding: tokensOf(hf, 'a lazy dog') },
        ],
      }),
    );
    t.strictSame(res.json.sparse_embedding[0].embedding, {
      the: sparseWeight('the'),
      quick: sparseWeight('quick'),
      brown: sparseWeight('brown'),
      fox: sparseWeight('fox'),
    });
    t.strictSame(
      sent('/embed_sparse').map((r) => r.body),
      [{ inputs: ['the quick brown fox', 'a lazy dog'] }],
    );
    const decoded = sent('/decode').flatMap((r) => r.body.ids);
    t.ok(
      sent('/decode').every((r) => r.headers.authorization === `Bearer ${API_KEY}`),
      'decode calls carry the key',
    );
    t.strictSame(
      [...decoded].sort((a, b) => a[0] - b[0]),
      [
        [SPECIAL_IDS.cls],
        ...['the', 'quick', 'brown', 'fox', 'a', 'lazy', 'dog'].map((w) => [hf.vocabulary.get(w)!]),
      ].sort((a, b) => a[0]! - b[0]!),
      'each id decoded once, one id per list',
    );
  },
);

t.test('each token id is decoded once per endpoint, and /decode gets at most 32 ids per call', async (t) => {
  const { put, embed, sent } = await setup(t);
  await put('sp', {}, { chunking_settings: { strategy: 'none' } });
  const many = Array.from({ length: 70 }, (_, i) => `word${i}`).join(' ');
  t.equal((await embed('sp', many)).status, 200);
  t.strictSame(
    sent('/decode').map((r) => r.body.ids.length),
    [32, 32, 7],
    '71 ids (70 words and [CLS]) in calls of 32',
  );
  const calls = sent('/decode').length;
  t.equal((await embed('sp', 'word3 word4 word69')).status, 200);
  t.equal(sent('/decode').length, calls, 'ids seen before are not decoded again');
  t.equal((await embed('sp', 'word3 brandnew')).status, 200);
  t.strictSame(
    sent('/decode')
      .slice(calls)
      .map((r) => r.body.ids.length),
    [1],
    'only the new id is decoded',
  );
});

t.test('each /decode call takes its own rate-limit grant, like the /embed_sparse call before it', async (t) => {
  const { put, embed, hf } = await setup(t);
  await put('paced', { rate_limit: { requests_per_minute: 600 } }, { chunking_settings: { strategy: 'none' } });
  const many = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
  t.equal((await embed('paced', many)).status, 200);
  t.strictSame(
    hf.received.map((r) => r.path),
    ['/embed_sparse', '/decode', '/decode'],
    '41 ids: two decode calls',
  );
  const at = hf.received.map((r) => r.at);
  // 100 ms apart at 600/min, measured on arrival (half the interval left for scheduling jitter).
  t.ok(at[1]! - at[0]! >= 50 && at[2]! - at[1]! >= 50, `gaps ${at[1]! - at[0]!} ms and ${at[2]! - at[1]!} ms`);
});

t.test('an Inference Endpoint handler answering token maps needs no decoding', async (t) => {
  const { hf, put, embed, sent } = await setup(t);
  await put('maps', { url: `${hf.url}/sparse-handler` });
  const res = await embed('maps', 'Sparse vectors for search');
  t.equal(
    res.body,
    JSON.stringify({
      sparse_embedding: [
        {
          is_truncated: false,
          embedding: {
            sparse: sparseWeight('sparse'),
            vectors: sparseWeight('vectors'),
            for: sparseWeight('for'),
            search: sparseWeight('search'),
          },
        },
      ],
    }),
  );
  t.equal(sent('/decode').length, 0);
});

t.test('several chunks: the per-token maximum over the chunks, and each chunk with its offsets', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('chunky', {}, { chunking_settings: { strategy: 'word', max_chunk_size: 10, overlap: 1 } });
  // docs/chunking.md's conformance vector for the word strategy (max 10, overlap 1).
  const input =
    'Elasticsearch is an open source, distributed, RESTful, search engine which is built on top of Lucene internally and enjoys all the features it provides.';
  const chunks = [
    'Elasticsearch is an open source, distributed, RESTful, search engine which',
    ' which is built on top of Lucene internally and enjoys',
    ' enjoys all the features it provides.',
  ];
  const res = await embed('chunky', [input, 'short']);
  t.equal(res.status, 200);
  const [long, short] = res.json.sparse_embedding;
  t.strictSame(short, { is_truncated: false, embedding: tokensOf(hf, 'short') });
  t.strictSame(Object.keys(long), ['is_truncated', 'embedding', 'chunks']);
  t.equal(long.is_truncated, false);
  t.strictSame(
    long.chunks.map((c: { text: string; start_offset: number; end_offset: number }) => [
      c.text,
      c.start_offset,
      c.end_offset,
    ]),
    chunks.map((text) => {
      const start = input.indexOf(text);
      return [text, start, start + text.length];
    }),
  );
  long.chunks.forEach((c: { text: string; embedding: Record<string, number> }, i: number) =>
    t.strictSame(c.embedding, tokensOf(hf, chunks[i]!), `chunk ${i}`),
  );
  // The weights depend on the word only, so the maximum over the chunks is each word's weight,
  // in the order words first appear across the chunks.
  const merged: Record<string, number> = {};
  for (const c of chunks)
    for (const [token, weight] of Object.entries(tokensOf(hf, c)))
      merged[token] = Math.max(merged[token] ?? -Infinity, weight);
  t.strictSame(long.embedding, merged);
});

t.test("the per-token maximum takes each token's largest weight across chunks", async (t) => {
  const { hf, put, embed } = await setup(t);
  await put(
    'mx',
    { url: `${hf.url}/sparse-handler` },
    { chunking_settings: { strategy: 'word', max_chunk_size: 10, overlap: 1 } },
  );
  const text = 'one two three four five six seven eight nine ten eleven twelve';
  hf.next({
    status: 200,
    json: [
      { one: 0.5, shared: 0.2 },
      { twelve: 0.7, shared: 0.9 },
    ],
  });
  const res = await embed('mx', text);
  t.strictSame(res.json.sparse_embedding[0].embedding, { one: 0.5, shared: 0.9, twelve: 0.7 });
});

t.test('is_truncated: inputs cut to max_input_tokens × 3 characters say so', async (t) => {
  const { hf, put, embed, sent } = await setup(t);
  await put('cut', { max_input_tokens: 2 }, { chunking_settings: { strategy: 'none' } });
  const res = await embed('cut', ['abcdefghij', 'xyz']);
  t.strictSame(sent('/embed_sparse')[0]!.body, { inputs: ['abcdef', 'xyz'] });
  t.strictSame(res.json, {
    sparse_embedding: [
      { is_truncated: true, embedding: tokensOf(hf, 'abcdef') },
      { is_truncated: false, embedding: tokensOf(hf, 'xyz') },
    ],
  });
});

t.test('sparse errors: bad input, unknown task settings, upstream failures and malformed answers', async (t) => {
  const { s, hf, put, embed } = await setup(t);
  await put('e');
  t.strictSame(
    (await embed('e', null)).json,
    envelope(400, 'action_request_validation_exception', 'Validation Failed: 1: Field [input] cannot be null;'),
  );
  t.strictSame(
    (await embed('e', [])).json,
    envelope(
      400,
      'action_request_validation_exception',
      'Validation Failed: 1: Field [input] cannot be an empty array;',
    ),
  );
  t.strictSame(
    (await s.request('POST', '/_inference/sparse_embedding/e', { input: 'a', task_settings: { top_n: 1 } })).json,
    envelope(
      400,
      'status_exception',
      'Model configuration contains settings [{top_n=1}] unknown to the [hugging_face] service',
    ),
  );
  t.strictSame(
    (await s.request('POST', '/_inference/sparse_embedding/e', { input: 'a', query: 'q' })).json,
    envelope(400, 'x_content_parse_exception', 'Failed to parse field [query]: unknown field'),
  );
  t.equal(hf.received.length, 0, 'nothing sent for bad requests');
  const reason = (prefix: string, status: number, message: string) =>
    `${prefix} for request from inference entity id [e] status [${status}]. Error message: [${message}]`;
  hf.next({ status: 401, json: { error: 'Invalid token' } });
  t.strictSame(
    (await embed('e', 'a')).json,
    envelope(401, 'status_exception', reason('Received an authentication error status code', 401, 'Invalid token')),
  );
  const bad = (detail: string) =>
    envelope(502, 'status_exception', `Failed to parse the response for inference entity id [e]: ${detail}`);
  hf.next({ status: 200, json: [[{ index: 1, value: 0.5 }]] });
  t.strictSame((await embed('e', ['a', 'b'])).json, bad('sent 2 inputs but received 1 sparse embeddings'));
  hf.next({ status: 200, json: { tokens: {} } });
  t.strictSame(
    (await embed('e', 'a')).json,
    bad('expected a list of 1 sparse embeddings, got an object with keys [tokens]'),
  );
  hf.next({ status: 200, json: [{ tok: 'heavy' }] });
  t.strictSame(
    (await embed('e', 'a')).json,
    bad('sparse embedding [0] has a weight that is not a finite number for token [tok]'),
  );
  hf.next({ status: 200, json: [[{ index: 'x', value: 1 }]] });
  t.strictSame(
    (await embed('e', 'a')).json,
    bad(
      'sparse embedding [0] holds an object with keys [index, value] where {"index": integer, "value": number} was expected',
    ),
  );
  hf.next({ status: 200, json: [[{ index: 5, value: 1 }]] }, { status: 200, json: ['one', 'two'] });
  t.strictSame((await embed('e', 'a')).json, bad('expected 1 decoded tokens from /decode, got an array of 2 (string)'));
  t.equal((await embed('e', 'still fine')).status, 200, 'the service stays up');
});

t.test('the default max_input_tokens of 512 applies: an input is cut to 1536 characters', async (t) => {
  const { put, embed, sent } = await setup(t);
  await put('dflt', {}, { chunking_settings: { strategy: 'none' } });
  const long = 'abcd '.repeat(400); // 2000 characters
  const res = await embed('dflt', long);
  t.equal(sent('/embed_sparse')[0]!.body.inputs[0], long.slice(0, 1536));
  t.equal(res.json.sparse_embedding[0].is_truncated, true);
});

t.test(
  'a decode shared by two batches that fails for the first (its request went away) is done again by the second',
  async (t) => {
    const cache = new TokenCache();
    let release!: (tokens: string[]) => void;
    let fail!: (err: Error) => void;
    const first = cache.lookup(
      [1, 2],
      () => new Promise<string[]>((resolve, reject) => ((release = resolve), (fail = reject))),
    );
    const decoded: number[][] = [];
    const second = cache.lookup([2, 3], async (ids) => {
      decoded.push(ids);
      return ids.map((id) => `tok${id}`);
    });
    fail(Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }));
    await t.rejects(first, { name: 'AbortError' }, "the first batch gets its own request's abort");
    t.strictSame(
      [...(await second)].sort(),
      [
        [2, 'tok2'],
        [3, 'tok3'],
      ],
      'the second gets every token',
    );
    t.strictSame(decoded, [[3], [2]], 'it decoded its own id, then the one the failed call had');
    t.equal(cache.size, 2);
    void release;
  },
);

t.test('an _update (a new key, a new rate) keeps the tokens decoded so far', async (t) => {
  const { s, put, embed, sent } = await setup(t);
  await put('kept', {}, { chunking_settings: { strategy: 'none' } });
  t.equal((await embed('kept', 'alpha beta gamma')).status, 200);
  const calls = sent('/decode').length;
  t.equal(
    (
      await s.request('PUT', '/_inference/kept/_update', {
        service_settings: { api_key: 'hf_AnotherKey0123', rate_limit: { requests_per_minute: 1200 } },
      })
    ).status,
    200,
  );
  t.equal((await embed('kept', 'gamma beta alpha')).status, 200);
  t.equal(sent('/decode').length, calls, 'nothing decoded again');
});
