// What a TEI or TGI server says of itself at GET /info, learned at creation (docs/api.md#what-the-server-says-of-itself):
// its limits, its model's kind, and for a base model the protocol of completions (docs/hugging-face-protocols.md).
import t from 'tap';
import { API_KEY, startApp, type Tap } from '../helpers/app-harness.js';
import { FakeHuggingFace, teiInfo } from '../helpers/fake-hf.js';
import { FakeLlm, NO_CHAT_TEMPLATE, tgiInfo } from '../helpers/fake-llm.js';
import { countingLimiters } from '../helpers/limiter.js';

const CREATION_FAILED =
  'Could not complete inference endpoint creation as validation call to service threw an exception.';

const refusal = (reason: string) => ({
  error: {
    root_cause: [{ type: 'status_exception', reason: CREATION_FAILED }],
    type: 'status_exception',
    reason: CREATION_FAILED,
    caused_by: { type: 'status_exception', reason },
  },
  status: 400,
});

/** What GET shows of teiInfo('embedding', …) with these limits. */
const TEI_EMBEDDING_SHOWN = {
  server: 'text-embeddings-inference',
  model_id: 'BAAI/bge-small-en-v1.5',
  model_type: 'embedding',
  pooling: 'cls',
  version: '1.8.0',
  max_client_batch_size: 8,
  max_input_length: 64,
  auto_truncate: false,
  max_batch_tokens: 16384,
  max_concurrent_requests: 512,
};

/** What GET shows of tgiInfo(). */
const TGI_SHOWN = {
  server: 'text-generation-inference',
  model_id: 'fake/llm-7b-base',
  version: '3.3.6',
  max_client_batch_size: 4,
  max_concurrent_requests: 128,
  max_input_tokens: 4095,
  max_total_tokens: 4096,
};

async function tei(t: Tap, info?: Record<string, unknown> | { hang: true }) {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  hf.info = info;
  return hf;
}

async function tgi(t: Tap, opts: { info?: Record<string, unknown>; chatTemplate?: boolean } = {}) {
  const llm = await new FakeLlm().start();
  t.teardown(() => llm.close());
  llm.info = opts.info;
  llm.chatTemplate = opts.chatTemplate ?? true;
  return llm;
}

async function app(t: Tap, env: Record<string, string> = {}, dataDir?: string) {
  const limiters = countingLimiters();
  const s = await startApp(t, { SKIP_VALIDATION: 'false', ...env }, dataDir, { limiters: limiters.factory });
  const put = (taskType: string, id: string, serviceSettings: Record<string, unknown>) =>
    s.request('PUT', `/_inference/${taskType}/${id}`, {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, ...serviceSettings },
    });
  const settingsOf = async (id: string) =>
    (await s.request('GET', `/_inference/${id}`)).json.endpoints[0].service_settings;
  return { s, put, settingsOf, limiters };
}

const inputs = (n: number) => Array.from({ length: n }, (_, i) => `text ${i}`);

t.test('TEI: /info is asked once at PUT with the key, and GET shows what it said', async (t) => {
  const hf = await tei(t, teiInfo('embedding', { max_client_batch_size: 8, max_input_length: 64 }));
  const { s, put, settingsOf, limiters } = await app(t);
  const res = await put('text_embedding', 'emb', { url: hf.url });
  t.equal(res.status, 200);
  const shown = {
    url: hf.url,
    similarity: 'cosine',
    dimensions: 16,
    rate_limit: { requests_per_minute: 3000 },
    server_info: TEI_EMBEDDING_SHOWN,
  };
  t.strictSame(res.json.service_settings, shown);
  t.strictSame(await settingsOf('emb'), shown);
  t.strictSame(
    hf.infoRequests.map((r) => [r.method, r.path, r.headers.authorization]),
    [['GET', '/info', `Bearer ${API_KEY}`]],
  );
  t.equal(hf.received.length, 1, 'and the one check request');
  t.equal(limiters.acquires, 1, '/info takes no rate-limit grant');
  t.equal((await s.request('GET', '/_inference/text_embedding/emb')).status, 200);
});

t.test('TEI: batches start at its max_client_batch_size, inputs are cut to its max_input_length', async (t) => {
  const hf = await tei(t, teiInfo('embedding', { max_client_batch_size: 8, max_input_length: 64 }));
  const { s, put } = await app(t);
  t.equal((await put('text_embedding', 'emb', { url: hf.url })).status, 200);
  hf.received.length = 0;
  const res = await s.request('POST', '/_inference/text_embedding/emb', { input: inputs(20) });
  t.equal(res.status, 200);
  t.strictSame(
    hf.received.map((r) => r.inputCount).sort((a, b) => b - a),
    [8, 8, 4],
    'batches of 8, none refused',
  );
  // 64 tokens: cut to 64 × 3 characters before it is sent (TEI without --auto-truncate refuses longer inputs).
  const long = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
  hf.received.length = 0;
  t.equal((await s.request('POST', '/_inference/text_embedding/emb', { input: long })).status, 200);
  t.strictSame(hf.texts, [long.slice(0, 192)]);
});

t.test('TEI: a configured batch_size above the server limit is kept as given, and sent at the limit', async (t) => {
  const hf = await tei(
    t,
    teiInfo('embedding', { max_client_batch_size: 8, max_input_length: 64, auto_truncate: true }),
  );
  const { s, put, settingsOf } = await app(t);
  t.equal((await put('text_embedding', 'emb', { url: hf.url, batch_size: 50 })).status, 200);
  t.equal((await settingsOf('emb')).batch_size, 50);
  hf.received.length = 0;
  const long = 'x'.repeat(1000);
  t.equal((await s.request('POST', '/_inference/text_embedding/emb', { input: [...inputs(9), long] })).status, 200);
  t.strictSame(
    hf.received.map((r) => r.inputCount).sort((a, b) => b - a),
    [8, 2],
  );
  t.ok(hf.texts.includes(long), 'a server that truncates itself gets the whole input');
});

t.test('a server without /info (404): nothing learned, nothing fails, the defaults stand', async (t) => {
  const hf = await tei(t, undefined);
  const { s, put, settingsOf } = await app(t);
  t.equal((await put('text_embedding', 'plain', { url: hf.url })).status, 200);
  t.equal(hf.infoRequests.length, 1);
  t.strictSame(await settingsOf('plain'), {
    url: hf.url,
    similarity: 'cosine',
    dimensions: 16,
    rate_limit: { requests_per_minute: 3000 },
  });
  hf.received.length = 0;
  t.equal((await s.request('POST', '/_inference/text_embedding/plain', { input: inputs(25) })).status, 200);
  t.strictSame(
    hf.received.map((r) => r.inputCount).sort((a, b) => b - a),
    [20, 5],
    'the default batch size of 20',
  );
});

t.test('an /info that is not JSON, or of another server, is ignored', async (t) => {
  const hf = await tei(t, { model_id: 'x', status: 'ok' });
  const { put, settingsOf } = await app(t);
  t.equal((await put('rerank', 'other', { url: `${hf.url}/rerank` })).status, 200);
  t.equal((await settingsOf('other')).server_info, undefined);
});

t.test('an /info that does not answer within 5 s counts as none', async (t) => {
  const hf = await tei(t, { hang: true });
  const { put, settingsOf } = await app(t);
  const started = Date.now();
  t.equal((await put('text_embedding', 'slow', { url: hf.url })).status, 200);
  t.ok(Date.now() - started >= 4900, 'waited for /info 5 s');
  t.equal((await settingsOf('slow')).server_info, undefined);
});

const MISMATCHES = [
  {
    taskType: 'rerank',
    path: '/rerank',
    model: 'embedding' as const,
    reason:
      'The url of inference endpoint [bad] is a text-embeddings-inference server whose model [BAAI/bge-small-en-v1.5] is an embedding model (its /info says so): task type [rerank] needs a reranker model',
  },
  {
    taskType: 'rerank',
    path: '/rerank',
    model: 'classifier' as const,
    reason:
      'The url of inference endpoint [bad] is a text-embeddings-inference server whose model [SamLowe/roberta-base-go_emotions] is a classifier model (its /info says so): task type [rerank] needs a reranker model',
  },
  {
    taskType: 'text_embedding',
    path: '',
    model: 'reranker' as const,
    reason:
      'The url of inference endpoint [bad] is a text-embeddings-inference server whose model [BAAI/bge-reranker-base] is a reranker model (its /info says so): task type [text_embedding] needs an embedding model',
  },
  {
    taskType: 'sparse_embedding',
    path: '/embed_sparse',
    model: 'embedding' as const,
    reason:
      'The url of inference endpoint [bad] is a text-embeddings-inference server whose model [BAAI/bge-small-en-v1.5] is an embedding model (its /info says so): task type [sparse_embedding] needs a SPLADE model (an embedding model with splade pooling)',
  },
];

for (const m of MISMATCHES) {
  t.test(`${m.taskType} at a TEI serving a ${m.model} model is refused, and nothing is called or stored`, async (t) => {
    const hf = await tei(t, teiInfo(m.model));
    const { s, put } = await app(t);
    const res = await put(m.taskType, 'bad', { url: `${hf.url}${m.path}` });
    t.strictSame(res.json, refusal(m.reason));
    t.equal(hf.received.length, 0, 'no check request');
    t.equal((await s.request('GET', '/_inference/bad')).status, 404);
  });
}

t.test('rerank and sparse_embedding at the TEI that serves their kind of model are stored', async (t) => {
  const hf = await tei(t, teiInfo('reranker'));
  const { put, settingsOf } = await app(t);
  t.equal((await put('rerank', 'rr', { url: `${hf.url}/rerank` })).status, 200);
  t.equal((await settingsOf('rr')).server_info.model_type, 'reranker');
  hf.info = teiInfo('splade');
  t.equal((await put('sparse_embedding', 'sp', { url: `${hf.url}/embed_sparse` })).status, 200);
  t.equal((await settingsOf('sp')).server_info.pooling, 'splade');
});

t.test('text_embedding at a TGI server is refused', async (t) => {
  const llm = await tgi(t, { info: tgiInfo() });
  const { put } = await app(t);
  t.strictSame(
    (await put('text_embedding', 'bad', { url: llm.url })).json,
    refusal(
      'The url of inference endpoint [bad] is a text-generation-inference server whose model [fake/llm-7b-base] is a text generation model (its /info says so): task type [text_embedding] needs an embedding model',
    ),
  );
});

t.test('SKIP_VALIDATION=true skips /info too', async (t) => {
  const hf = await tei(t, teiInfo('embedding'));
  const { put, settingsOf } = await app(t, { SKIP_VALIDATION: 'true' });
  t.equal((await put('text_embedding', 'skip', { url: hf.url, dimensions: 16 })).status, 200);
  t.equal(hf.infoRequests.length, 0);
  t.equal((await settingsOf('skip')).server_info, undefined);
});

t.test('what was learned is stored: a restart keeps it without asking again', async (t) => {
  const hf = await tei(t, teiInfo('embedding', { max_client_batch_size: 8, max_input_length: 64 }));
  const dataDir = t.testdir();
  const first = await app(t, {}, dataDir);
  t.equal((await first.put('text_embedding', 'kept', { url: hf.url })).status, 200);
  await first.s.app.close();
  const second = await app(t, {}, dataDir);
  t.strictSame((await second.settingsOf('kept')).server_info, TEI_EMBEDDING_SHOWN);
  hf.received.length = 0;
  t.equal((await second.s.request('POST', '/_inference/text_embedding/kept', { input: inputs(9) })).status, 200);
  t.strictSame(
    hf.received.map((r) => r.inputCount).sort((a, b) => b - a),
    [8, 1],
  );
  t.equal(hf.infoRequests.length, 1, 'asked once, at creation');
});

t.test('an _update of the api key asks again; server_info is read only', async (t) => {
  const hf = await tei(t, teiInfo('embedding', { max_client_batch_size: 8, max_input_length: 64 }));
  const { s, put, settingsOf } = await app(t);
  t.equal((await put('text_embedding', 'upd', { url: hf.url })).status, 200);
  hf.info = teiInfo('embedding', { max_client_batch_size: 4, max_input_length: 64 });
  const res = await s.request('PUT', '/_inference/upd/_update', {
    service_settings: { api_key: 'hf_NewKey0123456789' },
  });
  t.equal(res.status, 200);
  t.equal(res.json.service_settings.server_info.max_client_batch_size, 4);
  t.equal(hf.infoRequests.at(-1)!.headers.authorization, 'Bearer hf_NewKey0123456789');
  t.equal((await settingsOf('upd')).server_info.max_client_batch_size, 4);
  // Only the key's check asks: a rate limit update does not.
  t.equal(
    (
      await s.request('PUT', '/_inference/upd/_update', {
        service_settings: { rate_limit: { requests_per_minute: 60 } },
      })
    ).status,
    200,
  );
  t.equal(hf.infoRequests.length, 2);
  const given = await s.request('PUT', '/_inference/upd/_update', {
    service_settings: { server_info: { max_client_batch_size: 1000 } },
  });
  t.equal(given.status, 400);
  t.match(given.json.error.reason, /server_info/);
  const created = await put('text_embedding', 'given', { url: hf.url, server_info: { server: 'x' } });
  t.equal(created.status, 400);
});

t.test('TGI base model: a completion at a bare url is moved to /generate, and GET shows the protocol', async (t) => {
  const llm = await tgi(t, { info: tgiInfo(), chatTemplate: false });
  const { s, put, settingsOf, limiters } = await app(t);
  const res = await put('completion', 'base', { url: llm.url });
  t.equal(res.status, 200);
  const shown = {
    url: llm.url,
    protocol: 'text_generation',
    rate_limit: { requests_per_minute: 3000 },
    server_info: TGI_SHOWN,
  };
  t.strictSame(res.json.service_settings, shown);
  t.strictSame(await settingsOf('base'), shown);
  t.strictSame(
    llm.received.map((r) => [r.path, r.body]),
    [
      [
        '/v1/chat/completions',
        { messages: [{ role: 'user', content: 'how big' }], n: 1, stream: false, max_tokens: 1 },
      ],
      ['/generate', { inputs: 'how big', parameters: { max_new_tokens: 1, return_full_text: false } }],
    ],
  );
  t.equal(limiters.acquires, 2, 'one grant per check request');
  const answer = await s.request('POST', '/_inference/completion/base', { input: 'hello there' });
  t.equal(answer.body, '{"completion":[{"result":"You said: hello there"}]}');
  t.equal(llm.received.at(-1)!.path, '/generate');
});

t.test('TGI base model: a completion at its chat route url is moved to the same server’s /generate', async (t) => {
  const llm = await tgi(t, { chatTemplate: false });
  const { s, put, settingsOf } = await app(t);
  t.equal((await put('completion', 'base', { url: `${llm.url}/v1/chat/completions` })).status, 200);
  t.equal((await settingsOf('base')).protocol, 'text_generation');
  t.equal((await settingsOf('base')).server_info, undefined, 'no /info: the refusal alone decides');
  t.equal((await s.request('POST', '/_inference/completion/base', { input: 'hi' })).status, 200);
  t.equal(llm.received.at(-1)!.path, '/generate');
});

t.test('TGI base model: chat_completion fails creation, it cannot chat', async (t) => {
  const llm = await tgi(t, { info: tgiInfo(), chatTemplate: false });
  const { s, put } = await app(t);
  const res = await put('chat_completion', 'chat', { url: llm.url });
  t.strictSame(
    res.json,
    refusal(
      `Received an unsuccessful status code for request from inference entity id [chat] status [422]. Error message: [${NO_CHAT_TEMPLATE}]. The model has no chat template, so it cannot chat: a chat_completion endpoint needs a chat or instruct model. A base model serves a completion endpoint on the same url, which then uses the server's /generate.`,
    ),
  );
  t.equal(llm.received.length, 1, 'no other route tried');
  t.equal((await s.request('GET', '/_inference/chat')).status, 404);
});

t.test('TGI base model: a completion that names protocol openai_chat is refused, with what to do', async (t) => {
  const llm = await tgi(t, { chatTemplate: false });
  const { put } = await app(t);
  const res = await put('completion', 'named', { url: llm.url, protocol: 'openai_chat' });
  t.strictSame(
    res.json,
    refusal(
      `Received an unsuccessful status code for request from inference entity id [named] status [422]. Error message: [${NO_CHAT_TEMPLATE}]. The model has no chat template: give [protocol] [text_generation], or no protocol, to complete through the server's /generate.`,
    ),
  );
  t.equal(llm.received.length, 1);
});

t.test('TGI chat model: completion stays on the chat route, GET shows server_info and no protocol', async (t) => {
  const llm = await tgi(t, { info: tgiInfo({ model_id: 'fake/llm-7b-instruct' }) });
  const { put, settingsOf } = await app(t);
  t.equal((await put('completion', 'chat', { url: llm.url })).status, 200);
  t.strictSame(await settingsOf('chat'), {
    url: llm.url,
    rate_limit: { requests_per_minute: 3000 },
    server_info: { ...TGI_SHOWN, model_id: 'fake/llm-7b-instruct' },
  });
  t.strictSame(
    llm.received.map((r) => r.path),
    ['/v1/chat/completions'],
  );
});

t.test('a hosted model (no url) asks no /info', async (t) => {
  const llm = await tgi(t, { info: tgiInfo() });
  const { put } = await app(t, { HF_ROUTER_BASE: llm.url });
  t.equal((await put('completion', 'hosted', { model_id: 'fake/llm-7b' })).status, 200);
  t.equal(llm.infoRequests.length, 0);
});
