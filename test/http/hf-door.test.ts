// The Hugging Face door at /hf/<inference_id>, driven by the real @huggingface/inference client (an InferenceClient
// with the door as its endpoint url) and by TEI's and TGI's own requests: embed, rerank, generate, generate_stream,
// the OpenAI-compatible routes, /info, and errors as those servers write them.
import { InferenceClient, InferenceClientProviderApiError } from '@huggingface/inference';
import t from 'tap';
import { API_KEY, type Tap } from '../helpers/app-harness.js';
import { startDoors } from '../helpers/door-harness.js';
import { FakeHuggingFace, rerankScore, sparseWeight, teiInfo } from '../helpers/fake-hf.js';
import { createKey } from '../helpers/keys-cli.js';

async function setup(t: Tap, env: Record<string, string> = {}, dataDir = t.testdir()) {
  const { s, hf, llm, base, put } = await startDoors(t, env, dataDir);
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, json: JSON.parse(text), type: res.headers.get('content-type') };
  };
  const client = new InferenceClient('gateway-key-unused-while-open');
  return { s, hf, llm, base, put, post, client };
}

const length = (v: number[]) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));

t.test('featureExtraction at the endpoint url, and TEI /embed with its options', async (t) => {
  const { hf, put, post, client, base, s } = await setup(t);
  await put('text_embedding', 'emb', `${hf.url}/embed`);

  const vectors = (await client.featureExtraction({
    endpointUrl: `${base}/hf/emb`,
    inputs: ['one', 'two'],
  })) as number[][];
  t.same(hf.received.at(-1)?.body.inputs, ['one', 'two'], 'the texts reached the upstream');
  t.equal(vectors.length, 2);
  for (const [i, text] of ['one', 'two'].entries()) {
    const raw = hf.vector(text);
    t.ok(Math.abs(length(vectors[i]!) - 1) < 1e-9, 'normalised, as TEI does by default');
    t.ok(
      vectors[i]!.every((x, d) => Math.abs(x - raw[d]! / length(raw)) < 1e-9),
      'the upstream vector, scaled',
    );
  }

  const raw = await post('/hf/emb/embed', { inputs: 'three', normalize: false });
  t.equal(raw.status, 200);
  t.same(raw.json, [hf.vector('three')], 'normalize: false gives the vector as it came');
  const cut = await post('/hf/emb/embed', { inputs: ['three'], normalize: false, dimensions: 4 });
  t.same(cut.json, [hf.vector('three').slice(0, 4)], 'dimensions keeps the first values');

  // TEI's errors: an empty input 400 Empty; a bad body 422 Validation; a failed upstream 424 Backend.
  t.same((await post('/hf/emb/embed', { inputs: [] })).json, {
    error: '`inputs` cannot be empty',
    error_type: 'Empty',
  });
  t.equal((await post('/hf/emb/embed', { inputs: [] })).status, 400);
  const invalid = await post('/hf/emb/embed', { inputs: 3 });
  t.equal(invalid.status, 422);
  t.equal(invalid.json.error_type, 'Validation');
  hf.next({ status: 500, json: { error: 'backend exploded', error_type: 'Backend' } });
  const failed = await post('/hf/emb', { inputs: 'x' });
  t.equal(failed.status, 424);
  t.equal(failed.json.error_type, 'Backend');
  t.match(failed.json.error, /status \[500\]\. Error message: \[backend exploded\]/);
  t.notMatch(failed.text, API_KEY);

  // An unknown endpoint: 404, and the client raises its ProviderApiError with it.
  const missing = await client
    .featureExtraction({ endpointUrl: `${base}/hf/nope`, inputs: 'x' })
    .catch((e: unknown) => e);
  t.type(missing, InferenceClientProviderApiError);
  t.equal((missing as InferenceClientProviderApiError).httpResponse.status, 404);
  t.same((missing as InferenceClientProviderApiError).httpResponse.body, {
    error: 'Inference endpoint not found [nope]',
    error_type: 'NotFound',
  });

  const line = s.logs.lines.map((l) => JSON.parse(l)).find((l) => l.route === '/hf/:inference_id/embed');
  t.match(line, { door: 'hf', inference_id: 'emb', task_type: 'text_embedding', status: 200 });
});

t.test("TEI /embed's normalize and dimensions, byte for byte, whichever way a vector's length is known", async (t) => {
  const { hf, put, post } = await setup(t);
  await put('text_embedding', 'emb', `${hf.url}/embed`);
  /** The door's answer to one input whose upstream vector is written `vector` (16 values, the endpoint's size). */
  const answer = async (vector: string, body: Record<string, unknown> = {}) => {
    hf.next({ status: 200, text: `[${vector}]`, headers: { 'content-type': 'application/json' } });
    const res = await post('/hf/emb/embed', { inputs: [`text ${hf.received.length}`], ...body });
    t.equal(res.status, 200, res.text);
    return res.text;
  };
  /** What the door wrote before it read lengths from the text: every number parsed, summed, and scaled. */
  const scaledJson = (values: number[]) => {
    let sum = 0;
    for (const v of values) sum += v * v;
    const norm = Math.sqrt(sum);
    return JSON.stringify(values.map((v) => v / norm));
  };
  const zeros = (n: number) => Array.from({ length: n }, () => '0');
  const of16 = (...values: string[]) => `[${[...values, ...zeros(16 - values.length)].join(',')}]`;

  // Of length 1: as the upstream wrote it, spaces and all, whether known from its digits or, with exponents, parsed.
  for (const unit of [
    of16('0.6', '0.8'),
    `[ 0.6 ,\n -0.8${zeros(14)
      .map((z) => `, ${z}`)
      .join('')} ]`,
  ])
    t.equal(await answer(unit), `[${unit}]`, 'a vector of length 1 from its digits');
  const withExponents = of16('6e-1', '0.8E0', '1e-7');
  t.equal(await answer(withExponents), `[${withExponents}]`, 'a vector of length 1 written with exponents');
  // Not of length 1, even by a little: scaled, exactly as before.
  const upstream = hf.vector('four');
  t.equal(await answer(JSON.stringify(upstream)), `[${scaledJson(upstream)}]`, "the fake upstream's vector");
  const shorter = of16('0.3', '0.4');
  t.equal(await answer(shorter), `[${scaledJson([0.3, 0.4, ...Array<number>(14).fill(0)])}]`, 'a vector of length 0.5');
  const nearly = of16('0.6', '0.800002');
  t.equal(await answer(nearly), `[${scaledJson(JSON.parse(nearly))}]`, 'a squared length of 1 + 3.2e-6');
  const zero = of16();
  t.equal(await answer(zero), `[${zero}]`, 'a zero vector stays as it is');
  // normalize: false passes the upstream's text; dimensions keeps the first values, then normalises.
  t.equal(await answer(nearly, { normalize: false }), `[${nearly}]`, 'normalize: false');
  t.equal(await answer(JSON.stringify(upstream), { normalize: false }), `[${JSON.stringify(upstream)}]`);
  const longer = of16('0.3', '0.4', '0.5');
  t.equal(await answer(longer, { dimensions: 2 }), `[${scaledJson([0.3, 0.4])}]`, 'dimensions, then normalised');
  t.equal(await answer(longer, { dimensions: 2, normalize: false }), '[[0.3,0.4]]', 'dimensions alone');
  t.equal(await answer(of16('0.6', '0.8', '0.5'), { dimensions: 2 }), '[[0.6,0.8]]', 'a cut of length 1');
});

t.test('TEI /rerank and the url of a rerank endpoint', async (t) => {
  const { hf, put, post } = await setup(t);
  await put('rerank', 'rr', `${hf.url}/rerank`);
  const texts = ['a cat sat', 'dogs bark loudly', 'the cat'];
  const ranked = await post('/hf/rr/rerank', { query: 'cat', texts, return_text: true });
  t.equal(ranked.status, 200);
  const expected = texts
    .map((text, index) => ({ index, text, score: rerankScore('cat', text) }))
    .sort((a, b) => b.score - a.score);
  t.same(ranked.json, expected, 'best first, with the texts');
  const bare = await post('/hf/rr', { query: 'cat', texts });
  t.same(
    bare.json,
    expected.map(({ index, score }) => ({ index, score })),
    'no text unless asked',
  );
  // Elasticsearch's hugging_face rerank request (HuggingFaceRerankRequestEntity): texts, query, return_text, top_n.
  const top = await post('/hf/rr', { texts, query: 'cat', return_text: true, top_n: 2 });
  t.same(top.json, expected.slice(0, 2), 'top_n keeps the best');
  const empty = await post('/hf/rr/rerank', { query: 'cat', texts: [] });
  t.same([empty.status, empty.json], [400, { error: '`texts` cannot be empty', error_type: 'Empty' }]);
});

t.test('textGeneration, chatCompletion and chatCompletionStream at the endpoint url', async (t) => {
  const { llm, put, client, base } = await setup(t);
  llm.style = 'vllm';
  await put('completion', 'gen', `${llm.url}/v1/chat/completions`);
  await put('chat_completion', 'chat', `${llm.url}/v1/chat/completions`);

  const generated = await client.textGeneration({
    endpointUrl: `${base}/hf/gen`,
    inputs: 'hello there',
    parameters: { max_new_tokens: 30 },
  });
  t.same(generated, { generated_text: 'You said: hello there' });
  t.equal(llm.received.at(-1)!.body.max_tokens, 30, 'max_new_tokens reached the upstream');

  const chat = await client.chatCompletion({
    endpointUrl: `${base}/hf/chat`,
    messages: [{ role: 'user', content: 'how are you' }],
    max_tokens: 40,
  });
  t.equal(chat.choices[0]?.message.content, 'You said: how are you');
  t.same(chat.usage, { completion_tokens: 6, prompt_tokens: 5, total_tokens: 11 });

  let text = '';
  for await (const chunk of client.chatCompletionStream({
    endpointUrl: `${base}/hf/chat`,
    messages: [{ role: 'user', content: 'stream please' }],
  }))
    text += chunk.choices[0]?.delta.content ?? '';
  t.equal(text, 'You said: stream please');

  // An error inside the stream reaches the client as its ProviderApiError.
  llm.next({ inBandError: { error: { message: 'CUDA out of memory', http_status_code: 500 } }, afterTokens: 1 });
  const broken = await (async () => {
    for await (const chunk of client.chatCompletionStream({
      endpointUrl: `${base}/hf/chat`,
      messages: [{ role: 'user', content: 'x' }],
    }))
      void chunk;
  })().catch((e: unknown) => e);
  t.type(broken, InferenceClientProviderApiError);
  t.match((broken as Error).message, /CUDA out of memory/);

  // A completion endpoint answers a chat of one user message (as Elasticsearch's completion sends it); a conversation
  // gets TGI's 422 validation shape.
  const single = await client.chatCompletion({
    endpointUrl: `${base}/hf/gen`,
    messages: [{ role: 'user', content: 'just this' }],
  });
  t.equal(single.choices[0]?.message.content, 'You said: just this');
  const wrong = await client
    .chatCompletion({
      endpointUrl: `${base}/hf/gen`,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'x' },
      ],
    })
    .catch((e: unknown) => e);
  t.type(wrong, InferenceClientProviderApiError);
  t.equal((wrong as InferenceClientProviderApiError).httpResponse.status, 422);
  t.match((wrong as InferenceClientProviderApiError).httpResponse.body, {
    error:
      'inference endpoint [gen] is a completion endpoint, which answers a chat of one user message of text; a conversation needs a chat_completion endpoint',
    error_type: 'validation',
  });
});

t.test("TGI's /generate, /generate_stream and / with stream", async (t) => {
  const { llm, put, post, base } = await setup(t);
  await put('completion', 'gen', llm.url);
  const whole = await post('/hf/gen/generate', { inputs: 'one two', parameters: { max_new_tokens: 10 } });
  t.same([whole.status, whole.json], [200, { generated_text: 'You said: one two' }]);
  const full = await post('/hf/gen/generate', { inputs: 'Q:', parameters: { return_full_text: true } });
  t.same(full.json, { generated_text: 'Q:You said: Q:' }, 'return_full_text puts the prompt first');
  const compat = await post('/hf/gen', { inputs: 'one' });
  t.same(compat.json, [{ generated_text: 'You said: one' }], "the url answers a list, as TGI's /");

  for (const [path, body] of [
    ['/hf/gen/generate_stream', { inputs: 'a b' }],
    ['/hf/gen', { inputs: 'a b', stream: true }],
  ] as const) {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    t.equal(res.headers.get('content-type'), 'text/event-stream');
    const events = (await res.text())
      .split('\n\n')
      .filter(Boolean)
      .map((e) => JSON.parse(e.replace(/^data:/, '')));
    t.same(events.map((e) => e.token.text).join(''), 'You said: a b', `${path}: the tokens`);
    t.same(
      events.map((e) => e.index),
      events.map((_e, i) => i + 1),
    );
    t.same(
      events.map((e) => e.generated_text),
      [...events.slice(1).map(() => null), 'You said: a b'],
      'the whole text on the last event only',
    );
  }

  // What Dify's huggingface_hub provider asks (text_generation with details and stop sequences, at the url): the last
  // event carries TGI's details, which Dify reads for the finish reason.
  const dify = await fetch(`${base}/hf/gen`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      inputs: 'Who are you?',
      parameters: { details: true, stop: ['\n\nHuman:'], max_new_tokens: 3, temperature: 0.5 },
      stream: true,
    }),
  });
  const difyEvents = (await dify.text())
    .split('\n\n')
    .filter(Boolean)
    .map((e) => JSON.parse(e.replace(/^data:/, '')));
  t.same(
    difyEvents.map((e) => [e.token.text, e.token.special, e.details]),
    [
      ['You', false, null],
      [' said', false, null],
      [':', false, { finish_reason: 'length', generated_tokens: 3, seed: null }],
    ],
  );
  t.same(llm.received.at(-1)!.body.stop, ['\n\nHuman:'], 'the stop sequences reached the upstream');

  // What the model's server refused as input stays the client's to change: TGI's 422 validation.
  llm.next({ status: 422, json: { error: 'Input validation error: too many tokens', error_type: 'validation' } });
  const refused = await post('/hf/gen/generate', { inputs: 'x' });
  t.equal(refused.status, 422);
  t.equal(refused.json.error_type, 'validation');
  t.match(refused.json.error, /Input validation error: too many tokens/);
});

/** A request's exact bytes and headers, as the product under test writes them. */
async function sendBytes(base: string, path: string, bytes: string, headers: Record<string, string>) {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers, body: bytes });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

/** The `data:` payloads of a server-sent event stream, in order. */
const dataEvents = (text: string) =>
  text
    .split('\n\n')
    .filter((e) => e.startsWith('data:'))
    .map((e) => e.replace(/^data: ?/, ''));

/** What Elasticsearch's hugging_face service sends with every request (HuggingFace*Request: JSON, Bearer). */
const ES_HEADERS = { 'Content-Type': 'application/json', Authorization: 'Bearer gateway-key' };

t.test("Elasticsearch's hugging_face requests, byte for byte, and what it reads from the answers", async (t) => {
  const { hf, llm, put, base } = await setup(t);
  llm.style = 'vllm';
  await put('text_embedding', 'emb', `${hf.url}/normalized/embed`);
  await put('text_embedding', 'raw', `${hf.url}/embed`);
  await put('sparse_embedding', 'splade', `${hf.url}/sparse-handler`);
  await put('sparse_embedding', 'tei-splade', `${hf.url}/embed_sparse`);
  await put('completion', 'gen', `${llm.url}/v1/chat/completions`);
  await put('chat_completion', 'chat', `${llm.url}/v1/chat/completions`);

  // text_embedding (HuggingFaceEmbeddingsRequestEntity: `inputs`, always a list). Its parser reads a list of float
  // lists, one per input. A TEI upstream's vectors, of length 1 already, come back as the upstream wrote them.
  const dense = await sendBytes(base, '/hf/emb', '{"inputs":["first text","second text"]}', ES_HEADERS);
  t.equal(dense.status, 200);
  t.match(dense.type, /^application\/json/);
  t.equal(dense.text, JSON.stringify([hf.unitVector('first text'), hf.unitVector('second text')]), 'the same bytes');
  t.same(hf.received.at(-1)?.body, { inputs: ['first text', 'second text'] });
  const scaled = JSON.parse((await sendBytes(base, '/hf/raw', '{"inputs":["first text"]}', ES_HEADERS)).text);
  t.ok(
    Array.isArray(scaled) && scaled.length === 1 && scaled[0].every((x: unknown) => typeof x === 'number'),
    'a list of one float list',
  );
  t.ok(Math.abs(length(scaled[0]) - 1) < 1e-9, 'normalised as TEI does by default');
  // Its errors (HuggingFaceErrorResponseEntity reads the `error` string): an unknown endpoint, an upstream that failed.
  const missing = await sendBytes(base, '/hf/nope', '{"inputs":["x"]}', ES_HEADERS);
  t.same(
    [missing.status, JSON.parse(missing.text)],
    [404, { error: 'Inference endpoint not found [nope]', error_type: 'NotFound' }],
  );
  hf.next({ status: 500, json: { error: 'backend exploded', error_type: 'Backend' } });
  const failed = await sendBytes(base, '/hf/raw', '{"inputs":["x"]}', ES_HEADERS);
  t.equal(failed.status, 424);
  t.match(JSON.parse(failed.text), { error: /backend exploded/, error_type: 'Backend' });

  // sparse_embedding (the same request, HuggingFaceElserResponseEntity reads one {"token": weight} map per input):
  // from an Inference Endpoint's sparse handler, and from TEI's /embed_sparse, whose ids the service decodes.
  for (const id of ['splade', 'tei-splade']) {
    const sparse = await sendBytes(base, `/hf/${id}`, '{"inputs":["hello world","a cat sat"]}', ES_HEADERS);
    t.equal(sparse.status, 200, sparse.text);
    t.same(
      JSON.parse(sparse.text),
      ['hello world', 'a cat sat'].map((text) =>
        Object.fromEntries(FakeHuggingFace.words(text).map((word) => [word, sparseWeight(word)])),
      ),
      `${id}: one token-weight map per input`,
    );
  }
  // TEI's /embed_sparse answers vocabulary ids, which the service does not know: refused, saying where the weights are.
  const ids = await sendBytes(base, '/hf/splade/embed_sparse', '{"inputs":"hello"}', ES_HEADERS);
  t.same(
    [ids.status, JSON.parse(ids.text)],
    [
      422,
      {
        error:
          '/embed_sparse is not served: it answers vocabulary ids, and inference endpoint [splade] knows its tokens as text only; POST /hf/splade answers its token weights as [{"token": weight}]',
        error_type: 'Validation',
      },
    ],
  );
  const wrongKind = await sendBytes(base, '/hf/emb/embed_sparse', '{"inputs":"hello"}', ES_HEADERS);
  t.same(
    JSON.parse(wrongKind.text).error,
    '/embed_sparse is not served: inference endpoint [emb] is a [text_embedding] endpoint',
  );
  t.equal((await sendBytes(base, '/hf/nope/embed_sparse', '{"inputs":"x"}', ES_HEADERS)).status, 404);

  // completion (HuggingFaceUnifiedChatCompletionRequestEntity, not streamed; OpenAiCompletionResponseEntity reads
  // choices[0].message.content).
  const whole = await sendBytes(
    base,
    '/hf/gen/v1/chat/completions',
    '{"messages":[{"content":"Say hi","role":"user"}],"model":"tgi","n":1,"stream":false}',
    ES_HEADERS,
  );
  t.equal(whole.status, 200);
  t.equal(JSON.parse(whole.text).choices[0].message.content, 'You said: Say hi');

  // completion on _stream (OpenAiStreamingProcessor reads choices[0].delta.content of each event, until [DONE]).
  const streamed = await sendBytes(
    base,
    '/hf/gen/v1/chat/completions',
    '{"messages":[{"content":"Say hi","role":"user"}],"model":"tgi","n":1,"stream":true,"stream_options":{"include_usage":true}}',
    ES_HEADERS,
  );
  t.equal(streamed.type, 'text/event-stream');
  const completionEvents = dataEvents(streamed.text);
  t.equal(completionEvents.at(-1), '[DONE]');
  t.equal(
    completionEvents
      .slice(0, -1)
      .map((e) => JSON.parse(e).choices[0]?.delta.content ?? '')
      .join(''),
    'You said: Say hi',
  );

  // chat_completion (the same entity with max_tokens, streamed; OpenAiUnifiedStreamingProcessor reads each chunk's id,
  // choices (delta, finish_reason, index), model, object and usage).
  const chat = await sendBytes(
    base,
    '/hf/chat/v1/chat/completions',
    '{"messages":[{"content":"Say hi","role":"user"}],"model":"tgi","max_tokens":16,"n":1,"stream":true,"stream_options":{"include_usage":true}}',
    ES_HEADERS,
  );
  t.equal(chat.status, 200);
  const chunks = dataEvents(chat.text);
  t.equal(chunks.at(-1), '[DONE]');
  const parsed = chunks.slice(0, -1).map((e) => JSON.parse(e));
  for (const chunk of parsed) {
    t.match(chunk, { id: String, object: 'chat.completion.chunk', model: 'chat', choices: Array });
    for (const choice of chunk.choices) t.match(choice, { index: 0, delta: Object });
  }
  t.equal(parsed.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'You said: Say hi');
  t.same(
    parsed.at(-1).usage,
    { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 },
    "the upstream's usage, as asked",
  );
  t.equal(llm.received.at(-1)!.body.max_tokens, 16, 'max_tokens reached the upstream');
});

/** Python's json.dumps (what `requests` sends for `json=`): ", " and ": " between items. */
const pythonJson = (value: unknown) =>
  JSON.stringify(value)
    .replace(/","/g, '", "')
    .replace(/":/g, '": ')
    .replace(/,(?=[[{"\dtfn-])/g, ', ');

t.test("Dify's huggingface_hub provider, byte for byte, and what huggingface_hub reads from the answers", async (t) => {
  const { hf, llm, put, base } = await setup(t);
  await put('text_embedding', 'emb', `${hf.url}/embed`);
  await put('completion', 'gen', llm.url);
  const headers = {
    'user-agent': 'unknown/None; hf_hub/0.16.4; python/3.10.13',
    authorization: 'Bearer gateway-key',
    'Content-Type': 'application/json',
  };

  // feature_extraction, as Dify's text_embedding invokes it (client.post with `options`); it reads a list of float
  // lists (no token level to pool: embeddings[0][0] is not a list).
  const body = pythonJson({ inputs: ['first text', 'second'], options: { wait_for_model: false, use_cache: false } });
  t.equal(body, '{"inputs": ["first text", "second"], "options": {"wait_for_model": false, "use_cache": false}}');
  const embedded = await sendBytes(base, '/hf/emb', body, headers);
  t.equal(embedded.status, 200, embedded.text);
  const vectors = JSON.parse(embedded.text);
  t.equal(vectors.length, 2);
  t.notOk(Array.isArray(vectors[0][0]), 'sentence vectors, nothing to pool');
  t.equal(vectors[0].length, hf.dims);
  // Its credentials check: client.feature_extraction(text='hello world').
  const check = JSON.parse((await sendBytes(base, '/hf/emb', '{"inputs": "hello world"}', headers)).text);
  t.same([check.length, check[0].length], [1, hf.dims], 'a 1 x dims array');

  // text_generation, whole, with details=True (what Dify asks): huggingface_hub 0.16 takes the first item of the list
  // and builds TextGenerationResponse(generated_text, details) from it, Details needing finish_reason and
  // generated_tokens; an unknown key would fail it.
  const parameters = {
    do_sample: false,
    max_new_tokens: 3,
    repetition_penalty: null,
    return_full_text: false,
    stop: [],
    seed: null,
    temperature: 0.5,
    top_k: null,
    top_p: 0.5,
    truncate: null,
    typical_p: null,
    best_of: null,
    watermark: false,
    details: true,
    decoder_input_details: false,
  };
  const generated = await sendBytes(
    base,
    '/hf/gen',
    pythonJson({ inputs: 'Who are you?', parameters, stream: false }),
    headers,
  );
  t.equal(generated.status, 200, generated.text);
  const [first] = JSON.parse(generated.text);
  t.same(first, {
    generated_text: 'You said:',
    details: { finish_reason: 'length', generated_tokens: 3, seed: null, prefill: [], tokens: [] },
  });
  t.same(llm.received.at(-1)!.body.max_tokens, 3, 'max_new_tokens reached the upstream');

  // Streamed: each event a TextGenerationStreamResponse (token, generated_text, details; TGI's index beside them).
  const stream = await sendBytes(
    base,
    '/hf/gen',
    pythonJson({ inputs: 'Who are you?', parameters: { ...parameters, max_new_tokens: 20 }, stream: true }),
    headers,
  );
  const events = dataEvents(stream.text).map((e) => JSON.parse(e));
  for (const event of events) t.same(Object.keys(event).sort(), ['details', 'generated_text', 'index', 'token']);
  t.equal(events.map((e) => e.token.text).join(''), 'You said: Who are you?');
  t.same(events.at(-1).details, { finish_reason: 'eos_token', generated_tokens: events.length, seed: null });
});

t.test('/info, and API keys as Bearer', async (t) => {
  const dataDir = t.testdir();
  const admin = createKey(dataDir, 'admin', 'manage_inference');
  const reader = createKey(dataDir, 'reader', 'monitor_inference');
  const { hf, put, base } = await setup(t, { SKIP_VALIDATION: 'false' }, dataDir);
  hf.info = teiInfo('embedding');
  await put('text_embedding', 'emb', `${hf.url}/embed`, { authorization: `ApiKey ${admin.encoded}` });
  const bearer = { authorization: `Bearer ${reader.encoded}` };

  // No key: 401 in TEI's shape; the client's own token is sent as Bearer, and a monitor key runs inference.
  const none = await fetch(`${base}/hf/emb/embed`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: 'x' }),
  });
  t.equal(none.status, 401);
  t.match(await none.json(), { error_type: 'Unauthorized' });
  const vectors = await new InferenceClient(reader.encoded).featureExtraction({
    endpointUrl: `${base}/hf/emb`,
    inputs: 'x',
  });
  t.equal((vectors as number[][]).length, 1);

  const info = await (await fetch(`${base}/hf/emb/info`, { headers: bearer })).json();
  t.match(info, {
    model_id: 'BAAI/bge-small-en-v1.5',
    model_type: { embedding: {} },
    inference_id: 'emb',
    task_type: 'text_embedding',
  });
  const missing = await fetch(`${base}/hf/nope/info`, { headers: bearer });
  t.equal(missing.status, 404);
  const unknownRoute = await fetch(`${base}/hf/emb/nothing`, { method: 'POST', headers: bearer });
  t.same([unknownRoute.status, ((await unknownRoute.json()) as { error_type: string }).error_type], [404, 'NotFound']);
});

t.test('malformed requests through either door: a 4xx in the door shape, never a 5xx', async (t) => {
  const { hf, llm, put, base } = await setup(t);
  await put('text_embedding', 'emb', `${hf.url}/embed`);
  await put('rerank', 'rr', `${hf.url}/rerank`);
  await put('completion', 'gen', llm.url);
  await put('chat_completion', 'chat', `${llm.url}/v1/chat/completions`);
  const bodies: unknown[] = [
    undefined,
    'not json',
    [],
    {},
    { inputs: null },
    { inputs: [1, 2] },
    { input: { a: 1 } },
    { model: 'emb', input: [] },
    { model: 'chat', messages: [] },
    { model: 'chat', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] },
    { model: 'chat', messages: [{ role: 'user', content: 'x' }], n: 3 },
    { model: 'gen', prompt: [[1, 2]] },
    { query: 'q', texts: 'not a list' },
    { inputs: 'x', parameters: { max_new_tokens: -1 } },
    { inputs: 'x', parameters: { temperature: 'hot' } },
    { messages: [{ role: 'user', content: 'x' }], max_tokens: 'many' },
  ];
  const paths = [
    '/v1/embeddings',
    '/v1/chat/completions',
    '/v1/completions',
    '/hf/emb',
    '/hf/emb/embed',
    '/hf/rr/rerank',
    '/hf/gen',
    '/hf/gen/generate',
    '/hf/gen/generate_stream',
    '/hf/chat/v1/chat/completions',
    '/hf/gen/v1/completions',
  ];
  for (const path of paths) {
    for (const body of bodies) {
      const res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      if (res.status < 400) continue;
      t.ok(res.status < 500, `${path} ${JSON.stringify(body)}: ${res.status} ${text.slice(0, 200)}`);
      const json = JSON.parse(text) as Record<string, { message?: unknown } | undefined>;
      if (path.startsWith('/v1/')) t.type(json.error?.message, 'string', `${path}: OpenAI's shape`);
      else t.same(Object.keys(json).sort(), ['error', 'error_type'], `${path}: TEI's or TGI's shape`);
    }
  }
});
