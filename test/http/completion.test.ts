// completion and chat_completion endpoints through HTTP: their settings, and whole (unstreamed) completions over every
// protocol.
import t from 'tap';
import { API_KEY, envelope, startApp, type Tap } from '../helpers/app-harness.js';
import { FakeLlm } from '../helpers/fake-llm.js';
import { measureTiming, pacedBurst } from '../helpers/timing.js';

const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 };

async function setup(t: Tap, env: Record<string, string> = {}) {
  const llm = await new FakeLlm().start();
  t.teardown(() => llm.close());
  // The creation check is tested in creation-check.test.ts: here the upstream sees only inference requests.
  // HF_API_BASE and HF_ROUTER_BASE point at the test upstream: hosted mode stays on this machine.
  const s = await startApp(
    t,
    { HF_ROUTER_BASE: llm.url, HF_API_BASE: `${llm.url}/hf-inference`, SKIP_VALIDATION: 'true', ...env },
    undefined,
    { retry: FAST_RETRY },
  );
  const put = (
    taskType: string,
    id: string,
    serviceSettings: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ) =>
    s.request('PUT', `/_inference/${taskType}/${id}`, {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, ...serviceSettings },
      ...extra,
    });
  const complete = (id: string, body: unknown) => s.request('POST', `/_inference/completion/${id}`, body);
  return { s, llm, put, complete };
}

const validation = (...messages: string[]) =>
  envelope(400, 'validation_exception', `Validation Failed: ${messages.map((m, i) => `${i + 1}: ${m};`).join('')}`);

t.test(
  'PUT completion and chat_completion: what is stored and shown, no call to the upstream with SKIP_VALIDATION, GET, _update and DELETE',
  async (t) => {
    const { s, llm, put } = await setup(t);
    let res = await put(
      'completion',
      'tgi-chat',
      { url: `${llm.url}/v1/chat/completions`, model_id: 'tgi' },
      { task_settings: { max_tokens: 64, temperature: 0.2, top_p: 0.9, stop: ['\n\n'] } },
    );
    t.equal(res.status, 200);
    t.equal(
      res.body,
      JSON.stringify({
        inference_id: 'tgi-chat',
        task_type: 'completion',
        service: 'hugging_face',
        service_settings: {
          url: `${llm.url}/v1/chat/completions`,
          model_id: 'tgi',
          rate_limit: { requests_per_minute: 3000 },
        },
        task_settings: { max_tokens: 64, temperature: 0.2, top_p: 0.9, stop: ['\n\n'] },
      }),
    );
    res = await put('chat_completion', 'hosted', {
      model_id: 'meta-llama/Llama-3.1-8B-Instruct',
      max_concurrent_streams: 16,
      rate_limit: { requests_per_minute: 60 },
    });
    t.equal(
      res.body,
      JSON.stringify({
        inference_id: 'hosted',
        task_type: 'chat_completion',
        service: 'hugging_face',
        service_settings: {
          model_id: 'meta-llama/Llama-3.1-8B-Instruct',
          max_concurrent_streams: 16,
          rate_limit: { requests_per_minute: 60 },
        },
      }),
    );
    res = await put('completion', 'native', {
      url: 'https://xyz.endpoints.huggingface.cloud',
      protocol: 'text_generation',
    });
    t.same(res.json.service_settings, {
      url: 'https://xyz.endpoints.huggingface.cloud',
      protocol: 'text_generation',
      rate_limit: { requests_per_minute: 3000 },
    });
    t.equal(llm.received.length, 0, 'no call with SKIP_VALIDATION');
    t.notMatch(JSON.stringify((await s.request('GET', '/_inference')).json), API_KEY);

    t.same(
      (await s.request('GET', '/_inference/chat_completion/_all')).json.endpoints.map(
        (e: { inference_id: string }) => e.inference_id,
      ),
      ['hosted'],
    );
    res = await s.request('PUT', '/_inference/chat_completion/hosted/_update', {
      service_settings: { max_concurrent_streams: 4, api_key: 'hf_Rotated0123456789' },
      task_settings: { max_tokens: 10 },
    });
    t.equal(res.status, 200);
    t.same(res.json.service_settings, {
      model_id: 'meta-llama/Llama-3.1-8B-Instruct',
      max_concurrent_streams: 4,
      rate_limit: { requests_per_minute: 60 },
    });
    t.same(res.json.task_settings, { max_tokens: 10 });
    res = await s.request('PUT', '/_inference/completion/native/_update', {
      service_settings: { protocol: 'openai_chat', model_id: 'x' },
    });
    t.same(
      res.json,
      validation(
        '[service_settings] setting [model_id] cannot be updated; create a new inference endpoint to change it',
        '[service_settings] setting [protocol] cannot be updated; create a new inference endpoint to change it',
      ),
    );
    t.same((await s.request('DELETE', '/_inference/chat_completion/hosted')).json, {
      acknowledged: true,
      pipelines: [],
      indexes: [],
    });
    t.equal((await s.request('GET', '/_inference/hosted')).status, 404);
  },
);

t.test('PUT refuses bad text generation settings, every problem at once', async (t) => {
  const { s, llm, put } = await setup(t);
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>, unknown]> = [
    ['completion', {}, {}, validation('[service_settings] does not contain the required setting [url]')],
    [
      'completion',
      { url: 'https://x.cloud', protocol: 'grpc' },
      {},
      validation(
        '[service_settings] Invalid value [grpc] received. [protocol] must be one of [openai_chat, text_generation, text2text_generation]',
      ),
    ],
    [
      'chat_completion',
      { url: 'https://x.cloud', protocol: 'text_generation' },
      {},
      validation(
        '[service_settings] Invalid value [text_generation] received. [protocol] must be [openai_chat] for task type [chat_completion]',
      ),
    ],
    [
      'completion',
      { model_id: 'gpt2', protocol: 'text_generation' },
      {},
      validation(
        '[service_settings] protocol [text_generation] needs a [url]: hosted models are reached through the router with [openai_chat]',
      ),
    ],
    [
      'completion',
      { url: 'https://x.cloud', max_concurrent_streams: 0 },
      {},
      validation('[service_settings] Invalid value [0]. [max_concurrent_streams] must be a positive integer'),
    ],
    [
      'completion',
      { url: 'https://x.cloud' },
      { task_settings: { max_tokens: -1, temperature: 'hot', top_p: 0, stop: ['a', 'b', 'c', 'd', 'e'] } },
      validation(
        '[task_settings] Invalid value [-1]. [max_tokens] must be a positive integer',
        '[task_settings] field [temperature] is not of the expected type; it must be a number',
        '[task_settings] Invalid value [0.0]. [top_p] must be greater than [0.0] and less than or equal to [1.0]',
        '[task_settings] Invalid value: [stop] holds 5 strings; it takes at most 4',
      ),
    ],
    [
      'completion',
      { url: 'https://x.cloud' },
      { task_settings: { temperature: 101, stop: 'x' } },
      validation(
        '[task_settings] Invalid value [101.0]. [temperature] must be greater than or equal to [0.0] and less than or equal to [100.0]',
        '[task_settings] field [stop] is not of the expected type; it must be a list of strings',
      ),
    ],
    [
      'completion',
      { url: 'https://x.cloud' },
      { task_settings: { top_k: 0, seed: -1, repetition_penalty: 0, max_new_tokens: 0 } },
      validation(
        '[task_settings] Invalid value [0]. [max_new_tokens] must be a positive integer',
        '[task_settings] Invalid value [0]. [top_k] must be a positive integer',
        '[task_settings] Invalid value [0.0]. [repetition_penalty] must be greater than [0.0]',
        '[task_settings] Invalid value [-1]. [seed] must be a non-negative integer',
      ),
    ],
    [
      'chat_completion',
      { url: 'https://x.cloud' },
      { task_settings: { top_k: 1.5, seed: 'x', repetition_penalty: 'high' } },
      validation(
        '[task_settings] field [top_k] is not of the expected type; it must be an integer',
        '[task_settings] field [repetition_penalty] is not of the expected type; it must be a number',
        '[task_settings] field [seed] is not of the expected type; it must be an integer',
      ),
    ],
    [
      'completion',
      { url: 'https://x.cloud' },
      { task_settings: { max_tokens: 5, max_new_tokens: 5 } },
      validation(
        '[task_settings] [max_tokens] and [max_new_tokens] are the same setting (the most tokens to generate); give one of them',
      ),
    ],
    [
      'completion',
      { url: 'https://x.cloud', protocol: 'text2text_generation' },
      { task_settings: { seed: 7 } },
      validation(
        '[task_settings] [seed] is not supported by protocol [text2text_generation]: the text2text-generation pipeline takes no seed',
      ),
    ],
    [
      'completion',
      { url: 'https://x.cloud', similarity: 'cosine' },
      {},
      envelope(
        400,
        'status_exception',
        'Model configuration contains settings [{similarity=cosine}] unknown to the [hugging_face] service',
      ),
    ],
    [
      'chat_completion',
      { url: 'https://x.cloud' },
      { task_settings: { top_n: 1 } },
      envelope(
        400,
        'status_exception',
        'Model configuration contains settings [{top_n=1}] unknown to the [hugging_face] service',
      ),
    ],
  ];
  for (const [taskType, settings, extra, expected] of cases) {
    const res = await put(taskType, 'bad', settings, extra);
    t.same(res.json, expected, JSON.stringify([taskType, settings, extra]));
    t.equal(res.status, 400);
  }
  t.equal((await s.request('GET', '/_inference/bad')).status, 404);
  t.equal(llm.received.length, 0);
});

t.test('each whole completion takes one rate-limit grant', async (t) => {
  const { llm, put, complete } = await setup(t);
  await put('completion', 'paced', { url: `${llm.url}/v1/chat/completions`, rate_limit: { requests_per_minute: 600 } });
  // 100 ms apart at the limiter. Exact on this process's clock: four grants take at least three intervals. On arrival
  // at the upstream a stall of the event loop bunches arrivals (three of four within 84 ms seen at load 11), so that
  // figure is measured again when it misses; without a grant each, the four arrive within a few milliseconds every time.
  await measureTiming(t, 'four completions at 600/min', 75, async () => {
    await new Promise((r) => setTimeout(r, 150));
    const before = llm.received.length;
    const started = performance.now();
    const res = await complete('paced', { input: ['a', 'b', 'c', 'd'] });
    const elapsedMs = performance.now() - started;
    return pacedBurst(t, {
      what: 'completions',
      count: 4,
      intervalMs: 100,
      times: llm.received.slice(before).map((r) => r.at),
      elapsedMs,
      minElapsedMs: 295,
      minGapMs: 25,
      minSpanMs: 200,
      also: [[res.status === 200, `answered ${res.status}`]],
    });
  });
});

t.test('completion over OpenAI chat: one upstream request per input, answers in input order', async (t) => {
  const { llm, put, complete } = await setup(t);
  await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });
  // The first input's answer comes last: order is by input, not by arrival.
  llm.next({ firstTokenDelayMs: 150 });
  const res = await complete('c', { input: ['What is Elastic?', 'b', 'c'] });
  t.equal(res.status, 200);
  t.equal(
    res.body,
    '{"completion":[{"result":"You said: What is Elastic?"},{"result":"You said: b"},{"result":"You said: c"}]}',
  );
  t.ok(llm.received[0]!.closedAt! > llm.received[2]!.closedAt!, 'the first answer came last');
  t.strictSame(
    llm.received.map((r) => [r.path, r.body]),
    [
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'What is Elastic?' }], n: 1, stream: false }],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'b' }], n: 1, stream: false }],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'c' }], n: 1, stream: false }],
    ],
  );
  t.equal(llm.received[0]!.headers.authorization, `Bearer ${API_KEY}`);
  t.equal(llm.received[0]!.headers.accept, 'application/json');
});

t.test('task settings: stored ones sent, a request overrides them, bad overrides refused', async (t) => {
  const { llm, put, complete } = await setup(t);
  await put(
    'completion',
    'c',
    { url: `${llm.url}`, model_id: 'tgi' },
    { task_settings: { max_tokens: 3, temperature: 0.5, top_p: 1, stop: ['END'] } },
  );
  let res = await complete('c', { input: 'one two three four' });
  t.same(res.json, { completion: [{ result: 'You said:' }] }, 'cut at max_tokens');
  t.strictSame(llm.received[0]!.path, '/v1/chat/completions', "a base url gets OpenAI chat's path");
  t.strictSame(llm.received[0]!.body, {
    model: 'tgi',
    messages: [{ role: 'user', content: 'one two three four' }],
    n: 1,
    stream: false,
    max_tokens: 3,
    temperature: 0.5,
    stop: ['END'],
  });
  await complete('c', { input: 'x', task_settings: { max_tokens: 50, top_p: 0.5 } });
  t.strictSame(llm.received[1]!.body, {
    model: 'tgi',
    messages: [{ role: 'user', content: 'x' }],
    n: 1,
    stream: false,
    max_tokens: 50,
    temperature: 0.5,
    top_p: 0.5,
    stop: ['END'],
  });
  res = await complete('c', { input: 'x', task_settings: { top_p: 2, nope: 1 } });
  t.same(
    res.json,
    validation(
      '[task_settings] Invalid value [2.0]. [top_p] must be greater than [0.0] and less than or equal to [1.0]',
    ),
  );
  t.equal(llm.received.length, 2);
});

t.test('completion over TGI native, with the parameters TGI accepts', async (t) => {
  const { llm, put, complete } = await setup(t);
  await put(
    'completion',
    'tgi',
    { url: `${llm.url}/generate` },
    { task_settings: { max_tokens: 20, temperature: 0, top_p: 1, stop: ['?'] } },
  );
  const res = await complete('tgi', { input: 'What is Elastic?' });
  t.same(res.json, { completion: [{ result: 'You said: What is Elastic?' }] });
  t.strictSame(llm.received[0]!.path, '/generate');
  t.strictSame(llm.received[0]!.body, {
    inputs: 'What is Elastic?',
    parameters: { max_new_tokens: 20, stop: ['?'], return_full_text: false },
  });
  // The same server named by its base url and the protocol.
  await put('completion', 'tgi-base', { url: llm.url, protocol: 'text_generation' });
  t.same((await complete('tgi-base', { input: 'hi' })).json, { completion: [{ result: 'You said: hi' }] });
  t.equal(llm.received[1]!.path, '/generate');
});

t.test('completion over text2text-generation, by url and hosted', async (t) => {
  const { llm, put, complete } = await setup(t);
  await put(
    'completion',
    't5',
    { url: `${llm.url}/t5`, protocol: 'text2text_generation' },
    { task_settings: { max_tokens: 8, stop: ['x'] } },
  );
  t.same((await complete('t5', { input: 'translate to German: hi' })).json, {
    completion: [{ result: 'You said: translate to German: hi' }],
  });
  t.strictSame(
    [llm.received[0]!.path, llm.received[0]!.body],
    ['/t5', { inputs: 'translate to German: hi', parameters: { max_new_tokens: 8 } }],
  );
  await put('completion', 't5-hosted', { model_id: 'google/flan-t5-base', protocol: 'text2text_generation' });
  t.same((await complete('t5-hosted', { input: 'hi' })).json, { completion: [{ result: 'You said: hi' }] });
  t.equal(llm.received[1]!.path, '/hf-inference/models/google/flan-t5-base', 'the serverless API at HF_API_BASE');
});

/** Dify's generation parameters, as its Hugging Face provider sends them. */
const DIFY = {
  top_k: 40,
  seed: 7,
  repetition_penalty: 1.1,
  max_new_tokens: 5,
  temperature: 0.7,
  top_p: 0.9,
  stop: ['END'],
};
/** A request's overrides of some of them, the length by the other name. */
const OVERRIDE = { top_k: 3, seed: 0, repetition_penalty: 1.3, max_tokens: 9 };

t.test("Dify's parameters over OpenAI chat: seed, max_tokens, and vLLM's top_k and repetition_penalty", async (t) => {
  const { s, llm, put, complete } = await setup(t);
  t.equal((await put('completion', 'chat', { url: llm.url, model_id: 'tgi' }, { task_settings: DIFY })).status, 200);
  t.strictSame((await s.request('GET', '/_inference/chat')).json.endpoints[0].task_settings, DIFY, 'shown as given');
  await complete('chat', { input: 'a' });
  await complete('chat', { input: 'a', task_settings: OVERRIDE });
  const common = { model: 'tgi', messages: [{ role: 'user', content: 'a' }], n: 1, stream: false };
  t.strictSame(llm.received[0]!.body, {
    ...common,
    max_tokens: 5,
    temperature: 0.7,
    top_p: 0.9,
    seed: 7,
    stop: ['END'],
    top_k: 40,
    repetition_penalty: 1.1,
  });
  t.strictSame(
    llm.received[1]!.body,
    {
      ...common,
      max_tokens: 9,
      temperature: 0.7,
      top_p: 0.9,
      seed: 0,
      stop: ['END'],
      top_k: 3,
      repetition_penalty: 1.3,
    },
    "the request's max_tokens replaces the stored max_new_tokens",
  );
  // _update: the length by the other name replaces the stored one.
  await s.request('PUT', '/_inference/completion/chat/_update', { task_settings: { max_tokens: 2 } });
  const { max_new_tokens: _replaced, ...rest } = DIFY;
  t.strictSame((await s.request('GET', '/_inference/chat')).json.endpoints[0].task_settings, {
    ...rest,
    max_tokens: 2,
  });
  const res = await complete('chat', { input: 'a', task_settings: { max_tokens: 1, max_new_tokens: 1, seed: -2 } });
  t.same(
    res.json,
    validation(
      '[task_settings] Invalid value [-2]. [seed] must be a non-negative integer',
      '[task_settings] [max_tokens] and [max_new_tokens] are the same setting (the most tokens to generate); give one of them',
    ),
  );
  t.equal(llm.received.length, 2);
});

t.test("Dify's parameters over TGI native: every one in parameters, stored and per request", async (t) => {
  const { llm, put, complete } = await setup(t);
  await put('completion', 'tgi', { url: `${llm.url}/generate` }, { task_settings: DIFY });
  await complete('tgi', { input: 'a' });
  await complete('tgi', { input: 'a', task_settings: OVERRIDE });
  const parameters = { temperature: 0.7, top_p: 0.9, stop: ['END'], return_full_text: false };
  t.strictSame(llm.received[0]!.body, {
    inputs: 'a',
    parameters: { max_new_tokens: 5, top_k: 40, repetition_penalty: 1.1, seed: 7, ...parameters },
  });
  t.strictSame(llm.received[1]!.body, {
    inputs: 'a',
    parameters: { max_new_tokens: 9, top_k: 3, repetition_penalty: 1.3, seed: 0, ...parameters },
  });
});

t.test("Dify's parameters over text2text: all but seed (and stop), which is refused", async (t) => {
  const { s, llm, put, complete } = await setup(t);
  const { seed: _seed, ...withoutSeed } = DIFY;
  await put(
    'completion',
    't5',
    { url: `${llm.url}/t5`, protocol: 'text2text_generation' },
    { task_settings: withoutSeed },
  );
  await complete('t5', { input: 'a' });
  await complete('t5', { input: 'a', task_settings: { top_k: 3, repetition_penalty: 1.3, max_tokens: 9 } });
  t.strictSame(llm.received[0]!.body, {
    inputs: 'a',
    parameters: { max_new_tokens: 5, temperature: 0.7, top_p: 0.9, top_k: 40, repetition_penalty: 1.1 },
  });
  t.strictSame(llm.received[1]!.body, {
    inputs: 'a',
    parameters: { max_new_tokens: 9, temperature: 0.7, top_p: 0.9, top_k: 3, repetition_penalty: 1.3 },
  });
  const noSeed = validation(
    '[task_settings] [seed] is not supported by protocol [text2text_generation]: the text2text-generation pipeline takes no seed',
  );
  let res = await complete('t5', { input: 'a', task_settings: { seed: 1 } });
  t.equal(res.status, 400);
  t.same(res.json, noSeed, 'per request');
  res = await s.request('PUT', '/_inference/completion/t5/_update', { task_settings: { seed: 1 } });
  t.equal(res.status, 400);
  t.same(res.json, noSeed, 'by _update');
  t.equal(llm.received.length, 2);
});

t.test('hosted completion goes to the router with the model id', async (t) => {
  const { llm, put, complete } = await setup(t);
  await put('completion', 'hosted', { model_id: 'meta-llama/Llama-3.1-8B-Instruct' });
  t.same((await complete('hosted', { input: 'hi' })).json, { completion: [{ result: 'You said: hi' }] });
  t.strictSame(
    [llm.received[0]!.path, llm.received[0]!.body],
    [
      '/v1/chat/completions',
      { model: 'meta-llama/Llama-3.1-8B-Instruct', messages: [{ role: 'user', content: 'hi' }], n: 1, stream: false },
    ],
  );
});

t.test(
  'upstream failures of a whole completion: mapped as docs/hugging-face-protocols.md#upstream-errors says, retried when they may be',
  async (t) => {
    const { llm, put, complete } = await setup(t);
    await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });
    llm.next(
      { status: 429, json: { error: 'Too many requests' } },
      { status: 503, json: { error: 'Model is loading', estimated_time: 0.01 } },
    );
    let res = await complete('c', { input: 'retried' });
    t.same(res.json, { completion: [{ result: 'You said: retried' }] });
    t.equal(llm.received.length, 3, 'two failures, then the answer');

    llm.next({ status: 401, json: { error: 'Invalid credentials in Authorization header' } });
    res = await complete('c', { input: 'x' });
    t.same(
      res.json,
      envelope(
        401,
        'status_exception',
        'Received an authentication error status code for request from inference entity id [c] status [401]. Error message: [Invalid credentials in Authorization header]',
      ),
    );

    llm.next({
      status: 422,
      json: {
        error: 'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 5000',
        error_type: 'validation',
      },
    });
    res = await complete('c', { input: 'x' });
    t.same(
      res.json,
      envelope(
        422,
        'status_exception',
        'Received an unsuccessful status code for request from inference entity id [c] status [422]. Error message: [Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 5000]',
      ),
    );

    llm.next(
      { status: 200, json: { error: 'Model is overloaded', error_type: 'overloaded' } },
      { status: 200, json: { unexpected: true } },
    );
    res = await complete('c', { input: 'x' });
    t.same(
      res.json,
      envelope(
        502,
        'status_exception',
        'Failed to parse the response for inference entity id [c]: expected {"choices":[{"message":{…}}]}, got an object with keys [unexpected]',
      ),
      'an error inside a 200 is retried like a 429',
    );

    const before = llm.received.length;
    llm.next({ drop: true }, { drop: true }, { drop: true });
    res = await complete('c', { input: 'x' });
    t.equal(res.status, 502);
    t.equal(
      res.json.error.reason,
      'Failed to send request from inference entity id [c]: the connection closed unexpectedly',
    );
    t.equal(llm.received.length - before, 3, 'three attempts');
  },
);

t.test('one failing input fails the request; a timeout answers 408', async (t) => {
  const { llm, put, complete, s } = await setup(t);
  await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });
  llm.next({ hang: true });
  const slow = await s.request('POST', '/_inference/completion/c?timeout=200ms', { input: 'slow' });
  t.same(slow.json, envelope(408, 'status_exception', 'Request timed out after [200ms]'));
  // Last: whether the second input was still sent when the first failed is a race, and does not matter.
  llm.next({ status: 400, json: { error: 'bad' } });
  const res = await complete('c', { input: ['a', 'b'] });
  t.equal(res.status, 400);
  t.equal(
    res.json.error.reason,
    'Received an unsuccessful status code for request from inference entity id [c] status [400]. Error message: [bad]',
  );
});

t.test('completion request errors', async (t) => {
  const { s, llm, put, complete } = await setup(t);
  await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });
  t.same(
    (await complete('c', {})).json,
    envelope(400, 'action_request_validation_exception', 'Validation Failed: 1: Field [input] cannot be null;'),
  );
  t.same(
    (await complete('c', { input: [] })).json,
    envelope(
      400,
      'action_request_validation_exception',
      'Validation Failed: 1: Field [input] cannot be an empty array;',
    ),
  );
  t.same(
    (await complete('c', { input: 'x', messages: [] })).json,
    envelope(400, 'x_content_parse_exception', 'Failed to parse field [messages]: unknown field'),
  );
  t.same(
    (await s.request('POST', '/_inference/rerank/c', { input: 'x', query: 'q' })).json,
    envelope(
      400,
      'status_exception',
      'Incompatible task_type, the requested type [rerank] does not match the model type [completion]',
    ),
  );
  t.equal(llm.received.length, 0);
});

t.test('chat_completion without _stream is refused, naming the _stream route', async (t) => {
  const { s, llm, put } = await setup(t);
  await put('chat_completion', 'chat', { url: `${llm.url}/v1/chat/completions` });
  const expected = envelope(
    400,
    'status_exception',
    'The [chat_completion] task type only supports streaming; use POST /_inference/chat_completion/chat/_stream',
  );
  t.same(
    (await s.request('POST', '/_inference/chat_completion/chat', { messages: [{ role: 'user', content: 'hi' }] })).json,
    expected,
  );
  t.same((await s.request('POST', '/_inference/chat', { input: 'hi' })).json, expected, 'by id alone too');
  t.equal(llm.received.length, 0);
});

t.test('a deleted endpoint fails what waits for it; _update of max_concurrent_streams applies live', async (t) => {
  const { s, llm, put, complete } = await setup(t);
  await put('completion', 'c', { url: `${llm.url}/v1/chat/completions`, max_concurrent_streams: 1 });
  llm.next({ hang: true });
  const first = s.request('POST', '/_inference/completion/c?timeout=1s', { input: 'held' });
  const second = complete('c', { input: 'waits' });
  await waitFor(() => llm.received.length === 1);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(llm.received.length, 1, 'one at a time');
  await s.request('PUT', '/_inference/completion/c/_update', { service_settings: { max_concurrent_streams: 2 } });
  t.same(
    (await second).json,
    { completion: [{ result: 'You said: waits' }] },
    'the raised cap lets the waiting one go',
  );
  await s.request('DELETE', '/_inference/c');
  const third = await complete('c', { input: 'gone' });
  t.equal(third.status, 404);
  t.same((await first).json, envelope(408, 'status_exception', 'Request timed out after [1s]'));
});

async function waitFor(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
