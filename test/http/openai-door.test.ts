// The OpenAI door at /v1, driven by the real `openai` SDK over HTTP: embeddings (base64 by default, as the SDK asks),
// chat completions whole and streamed, completions, models, and how the SDK's error classes see our errors.
import { ChatOpenAI, OpenAIEmbeddings } from '@langchain/openai';
import OpenAI from 'openai';
import t from 'tap';
import { API_KEY, type Tap } from '../helpers/app-harness.js';
import { startDoors } from '../helpers/door-harness.js';
import { createKey } from '../helpers/keys-cli.js';

async function setup(t: Tap, dataDir = t.testdir()) {
  const { s, hf, llm, base, put } = await startDoors(t, {}, dataDir);
  const client = (apiKey = 'no-key-needed-while-open') => new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0 });
  return { s, hf, llm, base, put, client };
}

t.test('embeddings.create: base64 as the SDK asks by default, floats when told, inputs in order', async (t) => {
  const { hf, put, client, s } = await setup(t);
  await put('text_embedding', 'emb', `${hf.url}/embed`);
  const openai = client();

  const one = await openai.embeddings.create({ model: 'emb', input: 'hello world' });
  t.equal(hf.received.at(-1)?.body.inputs.length, 1);
  t.same(hf.received.at(-1)?.body.inputs, ['hello world'], 'the text reached the upstream');
  t.equal(one.object, 'list');
  t.equal(one.model, 'emb');
  t.equal(one.data.length, 1);
  t.equal(one.data[0]!.index, 0);
  // The fake's values are k/1024 - 1: exact in float32, so the SDK's decoded base64 equals them.
  t.same(Array.from(one.data[0]!.embedding), hf.vector('hello world'), 'base64 decoded by the SDK');

  const raw = await s.request('POST', '/v1/embeddings', { model: 'emb', input: 'x', encoding_format: 'base64' });
  t.type(raw.json.data[0].embedding, 'string', 'base64 on the wire');

  const floats = await openai.embeddings.create({ model: 'emb', input: ['b', 'a', 'c'], encoding_format: 'float' });
  t.same(
    floats.data.map((d) => d.embedding),
    ['b', 'a', 'c'].map((x) => hf.vector(x)),
  );
  t.same(
    floats.data.map((d) => d.index),
    [0, 1, 2],
  );

  const line = s.logs.lines.map((l) => JSON.parse(l)).findLast((l) => l.route === '/v1/embeddings');
  t.match(line, {
    door: 'openai',
    inference_id: 'emb',
    task_type: 'text_embedding',
    status: 200,
    upstream_requests: 1,
  });
});

t.test('chat.completions.create, whole and streamed, with usage', async (t) => {
  const { llm, put, client } = await setup(t);
  llm.style = 'vllm';
  await put('chat_completion', 'chat', `${llm.url}/v1/chat/completions`);
  const openai = client();

  const whole = await openai.chat.completions.create({
    model: 'chat',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hello there' },
    ],
    max_tokens: 50,
    temperature: 0.5,
  });
  t.equal(whole.object, 'chat.completion');
  t.equal(whole.model, 'chat');
  t.equal(whole.choices[0]!.message.role, 'assistant');
  t.equal(whole.choices[0]!.message.content, 'You said: hello there');
  t.equal(whole.choices[0]!.finish_reason, 'stop');
  t.same(whole.usage, { completion_tokens: 5, prompt_tokens: 5, total_tokens: 10 });
  const sent = llm.received.at(-1)!.body;
  t.same(sent.messages, [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'hello there' },
  ]);
  t.equal(sent.max_tokens, 50);
  t.equal(sent.temperature, 0.5);
  t.not(sent.model, 'chat', 'the inference id is not sent upstream as a model name');

  const stream = await openai.chat.completions.create({
    model: 'chat',
    messages: [{ role: 'user', content: 'stream me' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage;
  let finish;
  for await (const chunk of stream) {
    t.equal(chunk.object, 'chat.completion.chunk');
    t.equal(chunk.model, 'chat');
    text += chunk.choices[0]?.delta.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  t.equal(text, 'You said: stream me');
  t.equal(finish, 'stop');
  t.same(usage, { completion_tokens: 5, prompt_tokens: 5, total_tokens: 10 });

  // Without include_usage, no usage chunk (as OpenAI).
  const plain = await openai.chat.completions.create({
    model: 'chat',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
  });
  const chunks = [];
  for await (const chunk of plain) chunks.push(chunk);
  t.notOk(
    chunks.some((c) => c.usage),
    'no usage unless asked',
  );

  // An error inside the stream (after tokens) reaches the SDK as an APIError.
  llm.next({ inBandError: { error: { message: 'CUDA out of memory', http_status_code: 500 } }, afterTokens: 2 });
  const failing = await openai.chat.completions.create({
    model: 'chat',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
  });
  const broken = await (async () => {
    for await (const chunk of failing) void chunk;
  })().catch((e: unknown) => e);
  t.type(broken, OpenAI.APIError);
  t.match((broken as Error).message, /CUDA out of memory/);
});

t.test('completions.create on a completion endpoint, whole and streamed', async (t) => {
  const { llm, put, client } = await setup(t);
  await put('completion', 'gen', llm.url);
  const openai = client();
  const whole = await openai.completions.create({ model: 'gen', prompt: ['one two', 'three'], max_tokens: 20 });
  t.equal(whole.object, 'text_completion');
  t.same(
    whole.choices.map((c) => [c.index, c.text]),
    [
      [0, 'You said: one two'],
      [1, 'You said: three'],
    ],
  );
  t.equal(llm.received.at(-1)!.body.max_tokens, 20, 'max_tokens reached the upstream');

  const stream = await openai.completions.create({ model: 'gen', prompt: 'four', stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  t.equal(text, 'You said: four');

  // A chat of one user message (what Elasticsearch's completion sends) on a completion endpoint, whole and streamed.
  const chat = await openai.chat.completions.create({ model: 'gen', messages: [{ role: 'user', content: 'five' }] });
  t.equal(chat.choices[0]?.message.content, 'You said: five');
  const chatStream = await openai.chat.completions.create({
    model: 'gen',
    messages: [{ role: 'user', content: 'six' }],
    stream: true,
  });
  let streamed = '';
  for await (const chunk of chatStream) streamed += chunk.choices[0]?.delta.content ?? '';
  t.equal(streamed, 'You said: six');
});

t.test('models: list and retrieve; errors in OpenAI shape with the SDK classes', async (t) => {
  const { hf, llm, put, client, s } = await setup(t);
  await put('text_embedding', 'emb', `${hf.url}/embed`);
  await put('chat_completion', 'chat', `${llm.url}/v1/chat/completions`);
  const openai = client();

  const models = [];
  for await (const m of openai.models.list()) models.push(m);
  t.same(models.map((m) => [m.id, m.object, (m as unknown as { task_type: string }).task_type]).sort(), [
    ['chat', 'model', 'chat_completion'],
    ['emb', 'model', 'text_embedding'],
  ]);
  t.equal((await openai.models.retrieve('emb')).id, 'emb');

  // Unknown model: 404 NotFoundError, OpenAI's words and code.
  const missing = await openai.embeddings.create({ model: 'nope', input: 'x' }).catch((e: unknown) => e);
  t.type(missing, OpenAI.NotFoundError);
  t.same((missing as InstanceType<typeof OpenAI.NotFoundError>).error, {
    message: 'The model `nope` does not exist or you do not have access to it.',
    type: 'invalid_request_error',
    param: 'model',
    code: 'model_not_found',
  });
  t.type(await openai.models.retrieve('nope').catch((e: unknown) => e), OpenAI.NotFoundError);

  // A model of another task type, a bad body: 400 BadRequestError.
  const wrongType = await openai.chat.completions
    .create({ model: 'emb', messages: [{ role: 'user', content: 'x' }] })
    .catch((e: unknown) => e);
  t.type(wrongType, OpenAI.BadRequestError);
  t.match((wrongType as Error).message, /Incompatible task_type/);
  const bad = await s.request('POST', '/v1/embeddings', { model: 'emb', input: 3 });
  t.equal(bad.status, 400);
  t.match(bad.json, { error: { type: 'invalid_request_error', param: null, code: null } });
  t.notOk('status' in bad.json, 'not the Elasticsearch envelope');

  // The upstream failed: a 5xx, InternalServerError, the upstream's words in the message.
  hf.next({ status: 500, json: { error: 'backend exploded', error_type: 'Backend' } });
  const upstream = await openai.embeddings.create({ model: 'emb', input: 'x' }).catch((e: unknown) => e);
  t.type(upstream, OpenAI.InternalServerError);
  t.equal((upstream as InstanceType<typeof OpenAI.APIError>).status, 502);
  t.match((upstream as Error).message, /backend exploded/);
  t.notMatch(JSON.stringify((upstream as InstanceType<typeof OpenAI.APIError>).error), API_KEY);

  // Unknown paths under /v1 answer in OpenAI's shape.
  const noRoute = await s.request('GET', '/v1/nothing-here');
  t.equal(noRoute.status, 404);
  t.match(noRoute.json, { error: { type: 'invalid_request_error' } });
});

t.test('API keys as Bearer: 401 without, 403 for a monitor key where manage is needed', async (t) => {
  const dataDir = t.testdir();
  const admin = createKey(dataDir, 'admin', 'manage_inference');
  const reader = createKey(dataDir, 'reader', 'monitor_inference');
  const { hf, put, client, base } = await setup(t, dataDir);
  await put('text_embedding', 'emb', `${hf.url}/embed`, { authorization: `ApiKey ${admin.encoded}` });

  const none = await fetch(`${base}/v1/models`);
  t.equal(none.status, 401);
  t.match(await none.json(), { error: { type: 'invalid_request_error', code: 'invalid_api_key' } });
  const wrong = await client('wrong-key')
    .models.list()
    .catch((e: unknown) => e);
  t.type(wrong, OpenAI.AuthenticationError);

  const monitor = client(reader.encoded);
  const embedded = await monitor.embeddings.create({ model: 'emb', input: 'x', encoding_format: 'float' });
  t.same(embedded.data[0]!.embedding, hf.vector('x'), 'a monitor key runs inference');
  const denied = await monitor.models.delete('emb').catch((e: unknown) => e);
  t.type(denied, OpenAI.PermissionDeniedError);
  t.match((denied as Error).message, /action \[cluster:admin\/xpack\/inference\/delete\] is unauthorized/);

  const deleted = await client(admin.encoded).models.delete('emb');
  t.same(deleted, { id: 'emb', object: 'model', deleted: true });
  t.type(await monitor.models.retrieve('emb').catch((e: unknown) => e), OpenAI.NotFoundError);
});

t.test(
  'one endpoint, one limit: _inference, the OpenAI door and the Hugging Face door share its rate limit',
  async (t) => {
    const { hf, s, client } = await setup(t);
    const res = await s.request('PUT', '/_inference/text_embedding/emb', {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: `${hf.url}/embed`, rate_limit: { requests_per_minute: 120 } },
    });
    t.equal(res.status, 200);
    const openai = client();
    const started = hf.received.length;
    await Promise.all([
      s.request('POST', '/_inference/text_embedding/emb', { input: 'a' }),
      openai.embeddings.create({ model: 'emb', input: 'b', encoding_format: 'float' }),
      s.request('POST', '/hf/emb/embed', { inputs: 'c' }),
      openai.embeddings.create({ model: 'emb', input: 'd', encoding_format: 'float' }),
    ]);
    const arrivals = hf.received.slice(started).map((r) => r.at);
    t.same(hf.texts.slice(-4).sort(), ['a', 'b', 'c', 'd'], 'every door reached the same upstream');
    // 120 requests per minute: one every 500 ms, whichever door the request came through (texts of requests waiting
    // together may share a batch, which only makes fewer requests).
    for (let i = 1; i < arrivals.length; i++)
      t.ok(arrivals[i]! - arrivals[i - 1]! >= 450, `upstream request ${i + 1} waited its turn`);
    // The first went at once; the three that waited for the next grant shared batches across doors.
    t.ok(
      arrivals.length < 4,
      `texts from several doors shared an upstream batch (${arrivals.length} upstream requests)`,
    );
  },
);

t.test('LangChain: OpenAIEmbeddings and ChatOpenAI with the door as base URL', async (t) => {
  const { hf, llm, put, base } = await setup(t);
  llm.style = 'vllm';
  await put('text_embedding', 'emb', `${hf.url}/embed`);
  await put('chat_completion', 'chat', `${llm.url}/v1/chat/completions`);
  const configuration = { baseURL: `${base}/v1` };

  const embeddings = new OpenAIEmbeddings({ model: 'emb', apiKey: 'unused-while-open', configuration, maxRetries: 0 });
  t.same(Array.from(await embeddings.embedQuery('hello')), hf.vector('hello'));
  t.same(
    (await embeddings.embedDocuments(['a', 'b'])).map((v) => Array.from(v)),
    [hf.vector('a'), hf.vector('b')],
  );

  const chat = new ChatOpenAI({ model: 'chat', apiKey: 'unused-while-open', configuration, maxRetries: 0 });
  const answer = await chat.invoke('hello there');
  t.equal(answer.content, 'You said: hello there');
  t.match(answer.usage_metadata, { input_tokens: 5, output_tokens: 5, total_tokens: 10 });
  let streamed = '';
  for await (const chunk of await chat.stream('stream me'))
    streamed += typeof chunk.content === 'string' ? chunk.content : '';
  t.equal(streamed, 'You said: stream me');

  const missing = new ChatOpenAI({ model: 'nope', apiKey: 'unused-while-open', configuration, maxRetries: 0 });
  const refused = await missing.invoke('x').catch((e: unknown) => e);
  t.equal((refused as { status?: number }).status, 404, 'an unknown model: the SDK error, 404');
});
