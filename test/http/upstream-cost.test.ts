// What an inference answer says it cost (docs/api.md#what-a-request-cost): X-Inference-Upstream-Requests counts the
// upstream requests that carried this request's own texts, retries included, and X-Inference-Cache-Hits its texts
// the embedding cache answered; checked against what the test upstream received.
import t from 'tap';
import { API_KEY, startApp, type Tap } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';
import { FakeLlm } from '../helpers/fake-llm.js';

const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 };
const UPSTREAM = 'x-inference-upstream-requests';
const HITS = 'x-inference-cache-hits';

async function setup(t: Tap & { teardown(fn: () => unknown): void }, env: Record<string, string> = {}) {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, env, undefined, { retry: FAST_RETRY });
  const put = async (id: string, serviceSettings: Record<string, unknown> = {}, taskType = 'text_embedding') => {
    const res = await s.request('PUT', `/_inference/${taskType}/${id}`, {
      service: 'hugging_face',
      service_settings: {
        api_key: API_KEY,
        url: `${hf.url}/${taskType === 'rerank' ? 'rerank' : 'embed'}`,
        ...(taskType === 'text_embedding' ? { dimensions: 16 } : {}),
        rate_limit: { requests_per_minute: 60_000 },
        ...serviceSettings,
      },
    });
    if (res.status !== 200) throw new Error(`PUT ${id}: ${res.body}`);
  };
  const embed = (id: string, input: string | string[]) =>
    s.request('POST', `/_inference/text_embedding/${id}`, { input });
  return { s, hf, put, embed };
}

const texts = (n: number, tag = 'text') => Array.from({ length: n }, (_, i) => `${tag} number ${i}`);

t.test('one batch is one upstream request; five texts in batches of two are three', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('one');
  let res = await embed('one', texts(3));
  t.equal(res.status, 200);
  t.equal(hf.received.length, 1);
  t.equal(res.headers[UPSTREAM], '1');
  t.equal(res.headers[HITS], undefined, 'no cache looked up (it is off here): no hits header');

  await put('pairs', { batch_size: 2 });
  res = await embed('pairs', texts(5));
  t.equal(res.status, 200);
  t.equal(hf.received.length - 1, 3, 'the upstream got three batches');
  t.equal(res.headers[UPSTREAM], '3');
  t.equal(res.headers['x-elastic-product'], 'Elasticsearch', 'beside the product header');
});

t.test('retries count: a 503 then an answer is two upstream requests', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('e');
  hf.next({ status: 503, json: { error: 'overloaded' } });
  const res = await embed('e', 'retry me');
  t.equal(res.status, 200);
  t.equal(hf.received.length, 2);
  t.equal(res.headers[UPSTREAM], '2');
});

t.test('an error answer says what it cost too', async (t) => {
  const { hf, put, embed, s } = await setup(t);
  await put('e');
  hf.next({ status: 400, json: { error: 'bad input' } });
  const res = await embed('e', 'refused');
  t.equal(res.status, 400);
  t.equal(res.json.error.type, 'status_exception');
  t.equal(hf.received.length, 1);
  t.equal(res.headers[UPSTREAM], '1');
  const missing = await s.request('POST', '/_inference/text_embedding/nope', { input: 'x' });
  t.equal(missing.status, 404);
  t.equal(missing.headers[UPSTREAM], '0', 'an unknown endpoint costs nothing');
});

t.test('with the cache: misses cost their batches, hits none; all hits is 0', async (t) => {
  const { hf, put, embed } = await setup(t, { EMBEDDING_CACHE_SIZE: '16mb' });
  await put('e', { batch_size: 4 });
  let res = await embed('e', texts(6));
  t.equal(res.headers[UPSTREAM], '2', 'six misses in batches of four');
  t.equal(res.headers[HITS], '0');
  t.equal(hf.received.length, 2);
  res = await embed('e', [...texts(6).slice(0, 3), 'a new one']);
  t.equal(res.headers[UPSTREAM], '1', 'the new text alone went upstream');
  t.equal(res.headers[HITS], '3');
  t.strictSame(hf.received.at(-1)!.body.inputs, ['a new one']);
  res = await embed('e', texts(6));
  t.equal(res.headers[UPSTREAM], '0', 'every text from the cache');
  t.equal(res.headers[HITS], '6');
  t.equal(hf.received.length, 3, 'and the upstream got nothing more');
  t.strictSame(res.json.text_embedding[5], { embedding: hf.vector('text number 5') });
});

t.test('a batch shared by three requests counts once for each of them', async (t) => {
  const { s, hf, put, embed } = await setup(t);
  await put('e', { max_concurrent_requests: 1 });
  // The first request's batch is held upstream; the next two queue behind it and leave together.
  hf.next({ delayMs: 3000 });
  const first = embed('e', 'first');
  await until(() => hf.inFlight === 1);
  const second = embed('e', ['second a', 'second b']);
  const third = embed('e', ['third a', 'third b']);
  await until(async () => {
    const metrics = (await s.request('GET', '/_prometheus/metrics')).body;
    return /^hf_gateway_queue_depth\{[^}]*inference_id="e"[^}]*\} 4$/m.test(metrics);
  });
  const answers = await Promise.all([first, second, third]);
  t.strictSame(
    hf.received.map((r) => r.body.inputs),
    [['first'], ['second a', 'second b', 'third a', 'third b']],
    'two upstream requests, the second carrying both later requests',
  );
  t.strictSame(
    answers.map((a) => a.headers[UPSTREAM]),
    ['1', '1', '1'],
  );
});

t.test('rerank, whole completion and a stream: one upstream request each', async (t) => {
  const { s, hf, put } = await setup(t);
  await put('rr', {}, 'rerank');
  const rr = await s.request('POST', '/_inference/rerank/rr', { query: 'star wars', input: ['luke', 'leia', 'han'] });
  t.equal(rr.status, 200);
  t.equal(hf.received.length, 1);
  t.equal(rr.headers[UPSTREAM], '1');

  const llm = await new FakeLlm().start();
  t.teardown(() => llm.close());
  for (const task of ['completion', 'chat_completion'])
    t.equal(
      (
        await s.request('PUT', `/_inference/${task}/${task}`, {
          service: 'hugging_face',
          service_settings: { api_key: API_KEY, url: `${llm.url}/v1/chat/completions` },
        })
      ).status,
      200,
    );
  const whole = await s.request('POST', '/_inference/completion/completion', { input: 'Hi' });
  t.equal(whole.status, 200);
  t.equal(whole.headers[UPSTREAM], '1');
  const streamed = await s.request('POST', '/_inference/chat_completion/chat_completion/_stream', {
    messages: [{ role: 'user', content: 'Hi' }],
  });
  t.equal(streamed.status, 200);
  t.match(streamed.headers['content-type'], /^text\/event-stream/);
  t.equal(streamed.headers[UPSTREAM], '1', 'as the stream began');
  t.equal(llm.received.length, 2);
});

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
