// The creation check of rerank, sparse_embedding, completion and chat_completion (docs/api.md#create-an-endpoint):
// one small call through the task's own operations, at PUT and at an `_update` of the api key.
import t from 'tap';
import { API_KEY, startApp, type Tap } from '../helpers/app-harness.js';
import { FakeHuggingFace, teiInfo } from '../helpers/fake-hf.js';
import { FakeLlm } from '../helpers/fake-llm.js';
import { countingLimiters } from '../helpers/limiter.js';

const CREATION_FAILED =
  'Could not complete inference endpoint creation as validation call to service threw an exception.';

interface Upstream {
  url: string;
  received: Array<{ path: string; body: any; headers: Record<string, unknown> }>;
  next(behaviour: { status: number; json: unknown }): unknown;
}

interface Case {
  taskType: string;
  upstream(t: Tap): Promise<Upstream>;
  settings(url: string): Record<string, unknown>;
  /** The path and body of the check request. */
  check: { path: string; body: unknown };
  /** The caused_by reason of a 401 answering `{"error":"bad token"}`. */
  unauthorized(id: string): string;
}

async function hfUpstream(t: Tap): Promise<Upstream> {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  return hf;
}

async function llmUpstream(t: Tap): Promise<Upstream> {
  const llm = await new FakeLlm().start();
  t.teardown(() => llm.close());
  return llm;
}

const authError = (id: string) =>
  `Received an authentication error status code for request from inference entity id [${id}] status [401]. Error message: [bad token]`;

const cases: Case[] = [
  {
    taskType: 'rerank',
    upstream: hfUpstream,
    settings: (url) => ({ url: `${url}/rerank` }),
    check: { path: '/rerank', body: { query: 'how big', texts: ['how big'] } },
    unauthorized: authError,
  },
  {
    taskType: 'sparse_embedding',
    upstream: hfUpstream,
    settings: (url) => ({ url: `${url}/sparse-handler` }),
    check: { path: '/sparse-handler', body: { inputs: ['how big'] } },
    unauthorized: authError,
  },
  {
    taskType: 'completion',
    upstream: llmUpstream,
    settings: (url) => ({ url: `${url}/v1/chat/completions`, model_id: 'tgi' }),
    check: {
      path: '/v1/chat/completions',
      body: { model: 'tgi', messages: [{ role: 'user', content: 'how big' }], max_tokens: 1, n: 1, stream: false },
    },
    unauthorized: authError,
  },
  {
    taskType: 'chat_completion',
    upstream: llmUpstream,
    settings: (url) => ({ url: `${url}/v1/chat/completions`, model_id: 'tgi' }),
    check: {
      path: '/v1/chat/completions',
      body: {
        model: 'tgi',
        messages: [{ role: 'user', content: 'how big' }],
        max_tokens: 1,
        n: 1,
        stream: true,
        stream_options: { include_usage: true },
      },
    },
    unauthorized: authError,
  },
];

async function setup(t: Tap, c: Case, env: Record<string, string> = {}) {
  const upstream = await c.upstream(t);
  const limiters = countingLimiters();
  const s = await startApp(t, { SKIP_VALIDATION: 'false', ...env }, undefined, { limiters: limiters.factory });
  const put = (id: string) =>
    s.request('PUT', `/_inference/${c.taskType}/${id}`, {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, ...c.settings(upstream.url) },
    });
  return { s, upstream, limiters, put };
}

const refusal = (reason: string) => ({
  error: {
    root_cause: [{ type: 'status_exception', reason: CREATION_FAILED }],
    type: 'status_exception',
    reason: CREATION_FAILED,
    caused_by: { type: 'status_exception', reason },
  },
  status: 400,
});

for (const c of cases) {
  t.test(
    `${c.taskType}: a PUT whose check is refused (401) is a 400 with caused_by, and nothing is stored`,
    async (t) => {
      const { s, upstream, put } = await setup(t, c);
      upstream.next({ status: 401, json: { error: 'bad token' } });
      const res = await put('bad');
      t.strictSame(res.json, refusal(c.unauthorized('bad')));
      t.equal(upstream.received.length, 1, 'one check request, not retried');
      t.equal((await s.request('GET', '/_inference/bad')).status, 404);
    },
  );

  t.test(`${c.taskType}: a PUT makes exactly the small check request, with one rate-limit grant`, async (t) => {
    const { s, upstream, limiters, put } = await setup(t, c);
    const res = await put('ok');
    t.equal(res.status, 200);
    t.equal(upstream.received.length, 1);
    t.equal(upstream.received[0]!.path, c.check.path);
    t.strictSame(upstream.received[0]!.body, c.check.body);
    t.equal(upstream.received[0]!.headers.authorization, `Bearer ${API_KEY}`);
    t.equal(limiters.acquires, 1, 'the check took one grant');
    t.equal((await s.request('GET', '/_inference/ok')).status, 200);
  });

  t.test(`${c.taskType}: SKIP_VALIDATION=true stores without calling the upstream`, async (t) => {
    const { s, upstream, put } = await setup(t, c, { SKIP_VALIDATION: 'true' });
    t.equal((await put('skip')).status, 200);
    t.equal(upstream.received.length, 0);
    t.equal((await s.request('GET', '/_inference/skip')).status, 200);
  });

  t.test(`${c.taskType}: an _update to an api key the upstream refuses is a 400, the old key stays`, async (t) => {
    const { s, upstream, put } = await setup(t, c);
    t.equal((await put('upd')).status, 200);
    const before = (await s.request('GET', '/_inference/upd')).json;
    upstream.next({ status: 401, json: { error: 'bad token' } });
    const res = await s.request('PUT', '/_inference/upd/_update', { service_settings: { api_key: 'hf_NewBadKey' } });
    t.strictSame(res.json, refusal(c.unauthorized('upd')));
    t.equal(upstream.received.at(-1)!.headers.authorization, 'Bearer hf_NewBadKey', 'the new key was checked');
    t.strictSame((await s.request('GET', '/_inference/upd')).json, before);
    // The stored key is still the old one: an update that changes only the rate limit checks nothing and keeps it.
    const calls = upstream.received.length;
    const rate = await s.request('PUT', '/_inference/upd/_update', {
      service_settings: { rate_limit: { requests_per_minute: 600 } },
    });
    t.equal(rate.status, 200);
    t.equal(upstream.received.length, calls, 'no check when what is called does not change');
    // A good new key is checked and kept.
    const good = await s.request('PUT', '/_inference/upd/_update', { service_settings: { api_key: 'hf_NewGoodKey' } });
    t.equal(good.status, 200);
    t.equal(upstream.received.at(-1)!.headers.authorization, 'Bearer hf_NewGoodKey');
  });
}

t.test('an _update of the url is refused as fixed at creation, and nothing is called', async (t) => {
  const c = cases[0]!;
  const { s, upstream, put } = await setup(t, c);
  t.equal((await put('fixed')).status, 200);
  const res = await s.request('PUT', '/_inference/fixed/_update', {
    service_settings: { url: 'http://127.0.0.1:1/rerank' },
  });
  t.equal(res.status, 400);
  t.equal(upstream.received.length, 1, 'only the creation check');
  t.equal(
    (await s.request('GET', '/_inference/fixed')).json.endpoints[0].service_settings.url,
    `${upstream.url}/rerank`,
  );
});

t.test('a server that answers /info: asked first, then the same one check request and one grant', async (t) => {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  hf.info = teiInfo('reranker');
  const limiters = countingLimiters();
  const s = await startApp(t, { SKIP_VALIDATION: 'false' }, undefined, { limiters: limiters.factory });
  const res = await s.request('PUT', '/_inference/rerank/info', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: `${hf.url}/rerank` },
  });
  t.equal(res.status, 200);
  t.strictSame(
    hf.infoRequests.map((r) => r.path),
    ['/info'],
  );
  t.strictSame(
    hf.received.map((r) => [r.path, r.body]),
    [['/rerank', { query: 'how big', texts: ['how big'] }]],
  );
  t.equal(limiters.acquires, 1);
  // A refused check stores nothing, whatever /info said.
  hf.next({ status: 401, json: { error: 'bad token' } });
  const bad = await s.request('PUT', '/_inference/rerank/info-bad', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: `${hf.url}/rerank` },
  });
  t.strictSame(bad.json, refusal(authError('info-bad')));
  t.equal((await s.request('GET', '/_inference/info-bad')).status, 404);
});
