// Streamed completion and chat_completion through HTTP: the events on the wire, failures before and after the first
// byte, timeouts, disconnects, caps.
import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import { measureTiming, pacedBurst } from '../helpers/timing.js';
import { API_KEY, envelope, startApp, type Tap } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';
import { chunkedAnswers } from '../helpers/chunked-answers.js';
import { FakeLlm, MODEL } from '../helpers/fake-llm.js';

const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 };
/** What the official clients send on every call with a body, `_stream` included. */
const CLIENT_HEADERS = {
  'content-type': 'application/vnd.elasticsearch+json; compatible-with=9',
  accept: 'application/vnd.elasticsearch+json; compatible-with=9',
};

async function setup(t: Tap, env: Record<string, string> = {}, queueCapacity?: number) {
  const llm = await new FakeLlm().start();
  t.teardown(() => llm.close());
  // The creation check is tested in creation-check.test.ts: here the upstream sees only inference requests.
  const s = await startApp(t, { HF_ROUTER_BASE: llm.url, SKIP_VALIDATION: 'true', ...env }, undefined, {
    retry: FAST_RETRY,
    queueCapacity,
  });
  const put = async (
    taskType: string,
    id: string,
    serviceSettings: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ) => {
    const res = await s.request('PUT', `/_inference/${taskType}/${id}`, {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, ...serviceSettings },
      ...extra,
    });
    if (res.status !== 200) throw new Error(`PUT ${id}: ${res.body}`);
  };
  const stream = (taskType: string, id: string, body: unknown, query = '') =>
    s.request('POST', `/_inference/${taskType}/${id}/_stream${query}`, body, CLIENT_HEADERS);
  return { s, llm, put, stream };
}

/** `event: message\ndata: {"completion":[{"delta":"x"}]}\n\n` for each delta, then [DONE]. */
const completionStream = (deltas: string[]) =>
  deltas.map((d) => `event: message\ndata: ${JSON.stringify({ completion: [{ delta: d }] })}\n\n`).join('') +
  'event: message\ndata: [DONE]\n\n';

/** Each event's data, parsed (or the raw text for [DONE]), with its event name. */
const events = (body: string) =>
  body
    .split('\n\n')
    .filter(Boolean)
    .map((e) => {
      const [name, data] = e.split('\n') as [string, string];
      const text = data.slice('data: '.length);
      return { event: name.slice('event: '.length), data: text === '[DONE]' ? text : JSON.parse(text) };
    });

/** The request lines of the streams (POSTs) among log lines: each one's status, and whether the client closed it. */
const streamLines = (lines: string[]) =>
  lines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === 'request completed' && l.method === 'POST')
    .map((l) => [l.status, l.client_closed ?? false]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(2);
  }
}

t.test(
  'completion _stream over OpenAI chat (TGI framing): the events of docs/api.md#streaming, headers whatever Accept says',
  async (t) => {
    const { s, llm, put, stream } = await setup(t);
    await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` }, { task_settings: { max_tokens: 100 } });
    const res = await stream('completion', 'c', { input: 'What is Elastic?' });
    t.equal(res.status, 200);
    t.equal(res.headers['content-type'], 'text/event-stream');
    t.equal(res.headers['x-elastic-product'], 'Elasticsearch');
    t.equal(res.body, completionStream(['You', ' said', ':', ' What', ' is', ' Elastic?']));
    t.strictSame(llm.received[0]!.body, {
      messages: [{ role: 'user', content: 'What is Elastic?' }],
      n: 1,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 100,
    });
    t.equal(llm.received[0]!.headers.accept, 'text/event-stream');
    // Elasticsearch's stream of any task type: the id alone.
    const byId = await s.request('POST', '/_inference/c/_stream', { input: 'hi' }, CLIENT_HEADERS);
    t.equal(byId.body, completionStream(['You', ' said', ':', ' hi']));
    t.equal(byId.headers['content-type'], 'text/event-stream');
    // Logged and counted under the endpoint's own id, not the path segment where a task type goes.
    const line = s.logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'request completed')
      .at(-1);
    t.match(line, {
      route: '/_inference/:task_type/:inference_id',
      inference_id: 'c',
      task_type: 'completion',
      status: 200,
    });
    const scrape = (await s.request('GET', '/_prometheus/metrics')).body;
    t.notMatch(scrape, 'inference_id="_stream"');
    t.match(scrape, /hf_gateway_inference_requests_total\{inference_id="c",task_type="completion",status="200"\} 2/);
  },
);

t.test('completion _stream over vLLM framing, the router, TGI native and text2text', async (t) => {
  const { llm, put, stream } = await setup(t, { HF_API_BASE: 'http://127.0.0.1:1' });
  llm.style = 'vllm';
  await put('completion', 'vllm', { url: `${llm.url}/v1/chat/completions`, model_id: 'served' });
  t.equal((await stream('completion', 'vllm', { input: 'hi' })).body, completionStream(['You', ' said', ':', ' hi']));
  t.equal(llm.received[0]!.body.model, 'served');

  await put('completion', 'hosted', { model_id: 'meta-llama/Llama-3.1-8B-Instruct' });
  t.equal(
    (await stream('completion', 'hosted', { input: ['hi'] })).body,
    completionStream(['You', ' said', ':', ' hi']),
    'a list of one input is one input',
  );
  t.strictSame(
    [llm.received[1]!.path, llm.received[1]!.body.model],
    ['/v1/chat/completions', 'meta-llama/Llama-3.1-8B-Instruct'],
  );

  // TGI native: the closing </s> is a special token, not text; TGI sends no [DONE] and we still end with ours.
  await put('completion', 'tgi', { url: `${llm.url}/generate` }, { task_settings: { temperature: 0.7, stop: ['?'] } });
  t.equal(
    (await stream('completion', 'tgi', { input: 'Why? Because' })).body,
    completionStream(['You', ' said', ':', ' Why?']),
    'cut at the stop sequence',
  );
  t.strictSame(
    [llm.received[2]!.path, llm.received[2]!.body],
    [
      '/generate_stream',
      { inputs: 'Why? Because', parameters: { temperature: 0.7, stop: ['?'], return_full_text: false, details: true } },
    ],
  );

  await put('completion', 't5', { url: `${llm.url}/t5`, protocol: 'text2text_generation' });
  t.equal(
    (await stream('completion', 't5', { input: 'hi' })).body,
    completionStream(['You said: hi']),
    'one message, then [DONE]',
  );
  t.equal(llm.received[3]!.body.inputs, 'hi');
});

t.test(
  'chat_completion _stream: the unified body on the wire, bare chunks in Elasticsearch field order, usage, one id per stream',
  async (t) => {
    const { llm, put, stream } = await setup(t);
    await put(
      'chat_completion',
      'chat',
      { url: `${llm.url}/v1/chat/completions`, model_id: 'tgi' },
      { task_settings: { temperature: 0.1, max_tokens: 500 } },
    );
    const body = {
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather' },
            { type: 'text', text: ' in Paris' },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          ],
        },
        { role: 'tool', content: 'Sunny', tool_call_id: 'call_1' },
        { role: 'user', content: 'So?' },
      ],
      max_completion_tokens: 3,
      stop: 'never',
      top_p: 0.5,
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: null,
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
          },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    };
    const res = await stream('chat_completion', 'chat', body);
    t.equal(res.status, 200);
    t.equal(res.headers['content-type'], 'text/event-stream');
    t.strictSame(llm.received[0]!.body, {
      model: 'tgi',
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather' },
            { type: 'text', text: ' in Paris' },
          ],
        },
        {
          role: 'assistant',
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          ],
        },
        { role: 'tool', content: 'Sunny', tool_call_id: 'call_1' },
        { role: 'user', content: 'So?' },
      ],
      n: 1,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 3,
      temperature: 0.1,
      top_p: 0.5,
      stop: ['never'],
      tools: [
        {
          type: 'function',
          function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const id = /"id":"(chatcmpl-[^"]+)"/.exec(res.body)![1]!;
    const chunk = (content: string, finish?: string) =>
      `event: message\ndata: {"id":"${id}","choices":[{"delta":{"content":${JSON.stringify(content)},"role":"assistant"},${finish ? `"finish_reason":"${finish}",` : ''}"index":0}],"model":"${MODEL}","object":"chat.completion.chunk"}\n\n`;
    t.equal(
      res.body,
      chunk('You') +
        chunk(' said') +
        chunk(':', 'length') +
        `event: message\ndata: {"id":"${id}","choices":[],"model":"${MODEL}","object":"chat.completion.chunk","usage":{"completion_tokens":3,"prompt_tokens":5,"total_tokens":8}}\n\n` +
        'event: message\ndata: [DONE]\n\n',
    );
    const again = await stream('chat_completion', 'chat', { messages: [{ role: 'user', content: 'x' }] });
    t.notMatch(again.body, id, 'each stream gets its own id');
  },
);

t.test(
  "chat_completion _stream: an upstream's own id is kept, TGI's stop_sequence is stop, the request's model is sent",
  async (t) => {
    const { llm, put, stream } = await setup(t);
    llm.style = 'vllm';
    await put('chat_completion', 'vllm', { url: `${llm.url}/v1` });
    const res = await stream('chat_completion', 'vllm', {
      model: 'asked',
      messages: [{ role: 'user', content: 'a b' }],
    });
    t.equal(llm.received[0]!.path, '/v1/chat/completions');
    t.equal(llm.received[0]!.body.model, 'asked');
    const all = events(res.body);
    t.strictSame(all[0], {
      event: 'message',
      data: {
        id: 'chatcmpl-fake0001',
        choices: [{ delta: { content: 'You', role: 'assistant' }, index: 0 }],
        model: MODEL,
        object: 'chat.completion.chunk',
      },
    });
    t.strictSame(all[1]!.data.choices, [{ delta: { content: ' said' }, index: 0 }]);

    llm.style = 'tgi';
    const stopped = events(
      (await stream('chat_completion', 'vllm', { messages: [{ role: 'user', content: 'a b c' }], stop: ['b'] })).body,
    );
    t.strictSame(
      stopped
        .filter((e) => e.data !== '[DONE]' && e.data.choices.length > 0)
        .map((e) => [e.data.choices[0].delta.content, e.data.choices[0].finish_reason]),
      [
        ['You', undefined],
        [' said', undefined],
        [':', undefined],
        [' a', undefined],
        [' b', 'stop'],
      ],
    );
  },
);

t.test(
  'chat_completion _stream: tool calls go through intact and the stream gets the finish TGI never sends',
  async (t) => {
    const { llm, put, stream } = await setup(t);
    await put('chat_completion', 'tools', { url: `${llm.url}/v1/chat/completions` });
    llm.next({ toolCall: { name: 'get_weather', arguments: '{"location":"Paris, France"}' } });
    const res = await stream('chat_completion', 'tools', {
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
      tool_choice: 'required',
    });
    const all = events(res.body);
    const calls = all.filter((e) => e.data !== '[DONE]' && e.data.choices[0]?.delta.tool_calls);
    t.strictSame(calls[0]!.data.choices[0].delta, {
      role: 'assistant',
      tool_calls: [{ index: 0, id: '0', type: 'function', function: { name: 'get_weather', arguments: '{' } }],
    });
    t.equal(
      calls.map((e) => e.data.choices[0].delta.tool_calls[0].function.arguments).join(''),
      '{"location":"Paris, France"}',
    );
    t.strictSame(
      calls[1]!.data.choices[0].delta.tool_calls[0].function,
      { name: null, arguments: '"locat' },
      'as TGI sent them, nulls included',
    );
    const tail = all.slice(calls.length);
    t.strictSame(
      tail.map((e) => (e.data === '[DONE]' ? e.data : { choices: e.data.choices, usage: e.data.usage })),
      [
        { choices: [{ delta: {}, finish_reason: 'tool_calls', index: 0 }], usage: undefined },
        { choices: [], usage: { completion_tokens: 6, prompt_tokens: 5, total_tokens: 11 } },
        '[DONE]',
      ],
    );
    t.equal(llm.received[0]!.body.tool_choice, 'required');
  },
);

t.test(
  'before the first byte: error statuses and errors inside the first event are ordinary answers, retried as docs/rate-limiting.md#retries says',
  async (t) => {
    const { llm, put, stream } = await setup(t);
    await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });
    await put('chat_completion', 'chat', { url: `${llm.url}/v1/chat/completions` });

    llm.next(
      { status: 429, json: { error: 'slow down' } },
      { inBandError: { error: { message: 'Model is overloaded', http_status_code: 422 } }, afterTokens: 0 },
    );
    let res = await stream('completion', 'c', { input: 'hi' });
    t.equal(
      res.body,
      completionStream(['You', ' said', ':', ' hi']),
      'a 429, then an overload inside a 200 stream: both retried',
    );
    t.equal(llm.received.length, 3);

    llm.next({
      inBandError: {
        error: {
          message:
            'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 1024 `max_new_tokens`',
          http_status_code: 422,
        },
      },
      afterTokens: 0,
    });
    res = await stream('chat_completion', 'chat', { messages: [{ role: 'user', content: 'long' }] });
    t.equal(res.status, 422);
    t.match(res.headers['content-type'], /^application\/json/);
    t.same(
      res.json,
      envelope(
        422,
        'status_exception',
        'Received an unsuccessful status code for request from inference entity id [chat] status [422]. Error message: [Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 1024 `max_new_tokens`]',
      ),
    );
    t.equal(llm.received.length, 4, 'a validation error is not retried');

    llm.next({ status: 401, json: { error: 'Invalid username or password.' } });
    res = await stream('completion', 'c', { input: 'hi' });
    t.same(
      res.json,
      envelope(
        401,
        'status_exception',
        'Received an authentication error status code for request from inference entity id [c] status [401]. Error message: [Invalid username or password.]',
      ),
    );

    const before = llm.received.length;
    llm.next(...Array.from({ length: 3 }, () => ({ status: 503, json: { error: 'Service Unavailable' } })));
    res = await stream('completion', 'c', { input: 'hi' });
    t.same(
      res.json,
      envelope(
        400,
        'status_exception',
        'Received a rate limit status code for request from inference entity id [c] status [503]. Error message: [Service Unavailable]. ' +
          // A 503 that is not a loading model reads as an endpoint waking from zero
          // (docs/hugging-face-protocols.md#upstream-errors).
          'The Hugging Face endpoint is not ready: an Inference Endpoint scaled to zero answers 503 while it wakes up, which can take a few minutes. Inference requests are retried for up to 3 s; try again shortly, or keep at least one replica running.',
      ),
    );
    t.equal(llm.received.length - before, 3, 'three attempts, no more');
    t.equal(res.headers['x-elastic-product'], 'Elasticsearch');
  },
);

t.test(
  'after the first byte: failures become an error event in the shapes of docs/api.md#streaming, and nothing follows',
  async (t) => {
    const { llm, put, stream } = await setup(t);
    await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });
    await put('chat_completion', 'chat', { url: `${llm.url}/v1/chat/completions` });
    await put('completion', 'tgi', { url: `${llm.url}/generate` });
    const message = 'Request failed during generation: Server error: CUDA out of memory';

    llm.next({ inBandError: { error: { message, http_status_code: 422 } }, afterTokens: 2 });
    let res = await stream('completion', 'c', { input: 'hi' });
    t.equal(res.status, 200);
    t.equal(
      res.body,
      completionStream(['You', ' said']).replace('event: message\ndata: [DONE]\n\n', '') +
        `event: error\ndata: {"error":{"type":"status_exception","reason":"Received an unsuccessful status code for request from inference entity id [c] status [422]. Error message: [${message}]"},"status":422}\n\n`,
      "the upstream's [DONE] after its error is not passed on",
    );

    llm.next({ inBandError: { error: { message: 'Model is overloaded', http_status_code: 422 } }, afterTokens: 1 });
    res = await stream('chat_completion', 'chat', { messages: [{ role: 'user', content: 'hi' }] });
    const all = events(res.body);
    t.equal(all.length, 2);
    t.strictSame(all[1], {
      event: 'error',
      data: {
        error: {
          code: '429',
          message:
            'Received a rate limit status code for request from inference entity id [chat] status [429]. Error message: [Model is overloaded]',
          type: 'hugging_face_error',
        },
      },
    });

    llm.next({
      inBandError: { error: 'Request failed during generation: stopped', error_type: 'generation' },
      afterTokens: 3,
    });
    res = await stream('completion', 'tgi', { input: 'hi' });
    t.strictSame(events(res.body).at(-1), {
      event: 'error',
      data: {
        error: {
          type: 'status_exception',
          reason:
            'Received an unsuccessful status code for request from inference entity id [tgi] status [424]. Error message: [Request failed during generation: stopped]',
        },
        status: 424,
      },
    });

    llm.next({ resetAfterTokens: 2 });
    res = await stream('completion', 'c', { input: 'hi' });
    t.strictSame(events(res.body).slice(2), [
      {
        event: 'error',
        data: {
          error: {
            type: 'status_exception',
            reason: 'Failed to send request from inference entity id [c]: the connection closed unexpectedly',
          },
          status: 502,
        },
      },
    ]);

    llm.next({ noDone: true });
    res = await stream('completion', 'c', { input: 'hi' });
    t.equal(
      res.body,
      completionStream(['You', ' said', ':', ' hi']),
      'a stream that ends without [DONE] (TGI before 2.1) ends well',
    );
    await waitFor(() => llm.received.at(-1)!.closedAt !== undefined);
    t.notOk(llm.received.at(-1)!.closedEarly, 'the upstream answered to its end');
  },
);

t.test(
  'TGI native and text2text streams: early failures retried, late ones reported; a whole answer to a stream request; a broken event',
  async (t) => {
    const { llm, put, stream } = await setup(t);
    await put('completion', 'tgi', { url: `${llm.url}/generate` });
    await put('completion', 't5', { url: `${llm.url}/t5`, protocol: 'text2text_generation' });
    await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });

    llm.next({ inBandError: { error: 'Model is overloaded', error_type: 'overloaded' }, afterTokens: 0 });
    t.equal(
      (await stream('completion', 'tgi', { input: 'hi' })).body,
      completionStream(['You', ' said', ':', ' hi']),
      "TGI native's overload before the first token is retried",
    );
    t.equal(llm.received.length, 2);

    llm.next({
      inBandError: {
        error: 'Input validation error: `temperature` must be strictly positive',
        error_type: 'validation',
      },
      afterTokens: 0,
    });
    const invalid = await stream('completion', 'tgi', { input: 'hi' });
    t.same(
      invalid.json,
      envelope(
        422,
        'status_exception',
        'Received an unsuccessful status code for request from inference entity id [tgi] status [422]. Error message: [Input validation error: `temperature` must be strictly positive]',
      ),
    );

    llm.next({ status: 503, json: { error: 'Model google/flan-t5-base is currently loading', estimated_time: 0.01 } });
    t.equal(
      (await stream('completion', 't5', { input: 'hi' })).body,
      completionStream(['You said: hi']),
      "text2text's loading model is waited for",
    );

    llm.next({ whole: true });
    t.equal(
      (await stream('completion', 'c', { input: 'hi' })).body,
      completionStream(['You said: hi']),
      'a server that answers a stream request whole is read whole',
    );

    llm.next({ garbageAfterTokens: 2 });
    t.strictSame(events((await stream('completion', 'c', { input: 'hi' })).body).slice(2), [
      {
        event: 'error',
        data: {
          error: {
            type: 'status_exception',
            reason: 'Failed to parse the response for inference entity id [c]: an event of the stream is not JSON',
          },
          status: 502,
        },
      },
    ]);
    llm.next({ garbageAfterTokens: 0 });
    t.same(
      (await stream('completion', 'c', { input: 'hi' })).json.status,
      502,
      'a broken first event is an ordinary 502 answer',
    );
  },
);

t.test('a stream that goes silent for UPSTREAM_TIMEOUT is ended with a 408 error event', async (t) => {
  const { llm, put, stream } = await setup(t, { UPSTREAM_TIMEOUT: '300ms' });
  await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });
  await put('chat_completion', 'chat', { url: `${llm.url}/v1/chat/completions` });
  llm.next({ stallAfterTokens: 2 });
  const started = performance.now();
  let res = await stream('completion', 'c', { input: 'hi' });
  t.ok(performance.now() - started >= 290, 'not before the silence lasted UPSTREAM_TIMEOUT');
  t.strictSame(events(res.body).slice(2), [
    {
      event: 'error',
      data: {
        error: {
          type: 'status_exception',
          reason: 'The upstream of inference entity id [c] sent nothing for [300ms]; the stream was ended',
        },
        status: 408,
      },
    },
  ]);
  await waitFor(() => llm.received[0]!.closedAt !== undefined);
  t.ok(llm.received[0]!.closedEarly, 'the upstream request was ended');
  llm.next({ stallAfterTokens: 1 });
  res = await stream('chat_completion', 'chat', { messages: [{ role: 'user', content: 'hi' }] });
  t.strictSame(events(res.body)[1], {
    event: 'error',
    data: {
      error: {
        code: '408',
        message: 'The upstream of inference entity id [chat] sent nothing for [300ms]; the stream was ended',
        type: 'hugging_face_error',
      },
    },
  });
});

t.test('the request timeout bounds the wait for the first byte, not the stream', async (t) => {
  const { llm, put, stream } = await setup(t);
  await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });
  llm.next({ firstTokenDelayMs: 2000 });
  let res = await stream('completion', 'c', { input: 'hi' }, '?timeout=200ms');
  t.same(res.json, envelope(408, 'status_exception', 'Request timed out after [200ms]'));
  await waitFor(() => llm.received[0]!.closedAt !== undefined);
  t.ok(llm.received[0]!.closedEarly, 'the upstream request was ended at the timeout');

  llm.tokenDelayMs = 100;
  res = await stream('completion', 'c', { input: 'one two three' }, '?timeout=200ms');
  t.equal(
    res.body,
    completionStream(['You', ' said', ':', ' one', ' two', ' three']),
    'a stream of 600 ms outlives a 200 ms timeout',
  );
});

t.test('streams that end with [DONE] give their upstream connection back: the next stream reuses it', async (t) => {
  const { llm, put, stream } = await setup(t);
  await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });
  // The end of the body in the read that brings the [DONE], or 20 ms after it.
  for (const [style, delay] of [
    ['tgi', 0],
    ['vllm', 0],
    ['tgi', 20],
    ['vllm', 20],
  ] as const) {
    llm.style = style;
    llm.tokenDelayMs = delay;
    const first = llm.received.length;
    for (let i = 0; i < 5; i++) {
      const res = await stream('completion', 'c', { input: `hi ${i}` });
      t.equal(res.body, completionStream(['You', ' said', ':', ' hi', ` ${i}`]));
      // The client has its [DONE]; the upstream's end may be on its way still: the next stream starts once it came.
      await waitFor(() => llm.received.at(-1)!.closedAt !== undefined);
      await sleep(20);
    }
    // Each answer has closed (waited for above).
    const records = llm.received.slice(first);
    t.strictSame(
      records.map((r) => r.connection),
      records.map(() => records[0]!.connection),
      `${style}, ${delay} ms: five streams, one connection`,
    );
    t.strictSame(
      records.map((r) => r.closedEarly),
      records.map(() => false),
      `${style}, ${delay} ms: every answer read to its end`,
    );
  }
});

t.test('a stream waiting for max_concurrent_streams takes the connection of the stream it waited for', async (t) => {
  const { llm, put, stream } = await setup(t);
  await put('completion', 'c', { url: `${llm.url}/v1/chat/completions`, max_concurrent_streams: 1 });
  // The end of the body in the read that brings the [DONE], or 20 ms after it.
  for (const delay of [0, 20]) {
    llm.tokenDelayMs = delay;
    const first = llm.received.length;
    // Sent together: each waits for the slot of the one before, which is handed over as the upstream's body ends.
    const answers = await Promise.all([0, 1, 2, 3].map((i) => stream('completion', 'c', { input: `hi ${i}` })));
    t.strictSame(
      answers.map((res) => res.body),
      [0, 1, 2, 3].map((i) => completionStream(['You', ' said', ':', ' hi', ` ${i}`])),
    );
    await waitFor(() => llm.received.length === first + 4 && llm.received.every((r) => r.closedAt !== undefined));
    const records = llm.received.slice(first);
    t.strictSame(
      records.map((r) => r.connection),
      records.map(() => records[0]!.connection),
      `${delay} ms: four streams one after another, one connection`,
    );
  }
});

t.test('a client that disconnects mid-stream aborts the upstream request within 100 ms', async (t) => {
  const { s, llm, put } = await setup(t);
  await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });
  await put('chat_completion', 'chat', { url: `${llm.url}/v1/chat/completions` });
  const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
  // Once unmeasured: the first abort in a process runs code V8 has not compiled yet (10-60 ms here).
  llm.next({ stallAfterTokens: 1 });
  const warm = await openStream(`${base}/_inference/completion/c/_stream`, { input: 'warm' });
  warm.disconnect();
  await waitFor(() => llm.received[0]!.closedAt !== undefined);
  const cases = [
    ['completion', 'c', { input: 'hi' }],
    ['chat_completion', 'chat', { messages: [{ role: 'user', content: 'hi' }] }],
  ] as const;
  for (const [taskType, id, body] of cases) {
    llm.next({ stallAfterTokens: 2 });
    const upstream = llm.received.length;
    const { firstEvent, disconnect } = await openStream(`${base}/_inference/${taskType}/${id}/_stream`, body);
    t.match(firstEvent, /^event: message\ndata: /);
    await waitFor(() => llm.received.length > upstream);
    const record = llm.received[upstream]!;
    t.equal(record.closedAt, undefined, 'the upstream stream is open');
    const left = performance.now();
    disconnect();
    await waitFor(() => record.closedAt !== undefined, 2000);
    const after = record.closedAt! - left;
    t.ok(record.closedEarly, `${taskType}: the upstream request was aborted`);
    t.ok(after < 100, `${taskType}: ${after.toFixed(1)} ms after the client left`);
  }
  // The slots are free again: a new stream is served.
  const res = await s.request('POST', '/_inference/completion/c/_stream', { input: 'again' });
  t.equal(res.body, completionStream(['You', ' said', ':', ' again']));
  // Each stream cut short has its one request line: the status it began with, and that the client closed it.
  t.strictSame(
    streamLines(s.logs.lines),
    [...Array.from({ length: 3 }, () => [200, true]), [200, false]],
    'one line per stream; the three cut short say so',
  );
});

t.test('a client that stops reading for a while is then sent every event, in order, none lost', async (t) => {
  const { s, llm, put } = await setup(t);
  await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });
  // About 10 MB of events: more than the sockets buffer, so the service has to wait for the client to read on.
  const tokens = Array.from({ length: 1000 }, (_, i) => ` ${i}:${'x'.repeat(10_000)}`);
  llm.reply = () => tokens;
  const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
  const body = await new Promise<string>((resolve, reject) => {
    const req = http.request(
      `${base}/_inference/completion/c/_stream`,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        res.setEncoding('utf8');
        let text = '';
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(text));
        res.on('error', reject);
        res.pause();
        setTimeout(() => res.resume(), 300);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ input: 'hi' }));
  });
  const expected = completionStream(tokens);
  let at = 0;
  while (at < expected.length && body[at] === expected[at]) at++;
  // Compared here rather than by t.equal: a diff of 10 MB says nothing.
  t.ok(body === expected, `every event, in order (the first difference at ${at} of ${expected.length})`);
});

t.test(
  'over a connection, each event is one HTTP/1.1 chunk sized in bytes, and the connection serves the next stream',
  async (t) => {
    const { s, llm, put } = await setup(t);
    await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });
    // Characters of two, three and four bytes: a chunk's size counts bytes, not characters. 20 ms apart: a read each.
    const tokens = ['é', ' 日本語', ' 🙂', ' naïve', ' ascii', ' Ω≈ç', ' 𝔘𝔫𝔦', ' end'];
    llm.reply = () => tokens;
    llm.tokenDelayMs = 20;
    const connection = await rawConnection(t, await s.app.listen({ port: 0, host: '127.0.0.1' }));
    for (const round of [1, 2]) {
      connection.received = Buffer.alloc(0);
      connection.socket.write(connection.streamRequest('hi'));
      await waitFor(() => connection.received.includes('\r\n0\r\n\r\n'));
      // Each chunk read by its declared size: the size line, exactly that many bytes, a line end.
      const { answers, error } = chunkedAnswers(connection.received);
      t.equal(error, undefined, `stream ${round}: every chunk as its size line says`);
      t.equal(answers.length, 1, `stream ${round}: nothing after the last chunk`);
      const { head, chunks } = answers[0] ?? { head: '', chunks: [] };
      t.match(head, /^HTTP\/1\.1 200 OK\r\n/, `stream ${round}: 200`);
      t.match(head, /\r\ntransfer-encoding: chunked(\r\n|$)/i, `stream ${round}: chunked`);
      t.equal(Buffer.concat(chunks).toString('utf8'), completionStream(tokens), `stream ${round}: every event, whole`);
      // Tokens sent apart go out as they come, not held for the end: most of the eight reads make a chunk of their own.
      t.ok(chunks.length >= 4, `stream ${round}: ${chunks.length} chunks`);
      t.ok(
        chunks.every((c) => c.toString('utf8').endsWith('\n\n')),
        `stream ${round}: each chunk ends an event`,
      );
    }
    t.equal(llm.received.length, 2);
    // Ended by the service, not the client: one request line each, with the status and no client_closed.
    await waitFor(() => streamLines(s.logs.lines).length >= 2);
    t.strictSame(
      streamLines(s.logs.lines),
      [1, 2].map(() => [200, false]),
      'one line per stream, ended well',
    );
  },
);

t.test('streams asked for in one write on a connection are each answered whole, in order', async (t) => {
  const { s, llm, put } = await setup(t);
  await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });
  const tokens = ['é', ' 日本語', ' 🙂', ' end'];
  llm.reply = (prompt) => [...tokens, prompt.includes('second') ? ' 2' : ' 1'];
  // Apart, so that the second stream's events come while the first answer still holds the connection.
  llm.tokenDelayMs = 20;
  const connection = await rawConnection(t, await s.app.listen({ port: 0, host: '127.0.0.1' }));
  connection.socket.write(connection.streamRequest('first') + connection.streamRequest('second'));
  await waitFor(() => connection.received.toString('latin1').split('\r\n0\r\n\r\n').length === 3);
  await waitFor(() => llm.received.length === 2);
  const { answers, error } = chunkedAnswers(connection.received);
  t.equal(error, undefined, 'every chunk as its size line says');
  t.strictSame(
    answers.map((a) => [/^HTTP\/1\.1 200 OK\r\n/.test(a.head), Buffer.concat(a.chunks).toString('utf8')]),
    [
      [true, completionStream([...tokens, ' 1'])],
      [true, completionStream([...tokens, ' 2'])],
    ],
    'both answers whole, the first asked first',
  );
});

/** A connection to the service, what it has received (reset by the test), and the bytes of a completion stream's request. */
async function rawConnection(t: Tap, url: string) {
  const base = new URL(url);
  const socket = net.connect(Number(base.port), base.hostname);
  t.teardown(() => socket.destroy());
  const connection = {
    socket,
    received: Buffer.alloc(0),
    streamRequest(input: string): string {
      const body = JSON.stringify({ input });
      return (
        `POST /_inference/completion/c/_stream HTTP/1.1\r\nHost: ${base.host}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
      );
    },
  };
  socket.on('data', (d: Buffer) => (connection.received = Buffer.concat([connection.received, d])));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return connection;
}

/** Opens a stream with a raw HTTP request; resolves with its first event and a way to drop the connection. */
function openStream(url: string, body: unknown): Promise<{ firstEvent: string; disconnect(): void }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.setEncoding('utf8');
      let text = '';
      res.on('data', (d: string) => {
        text += d;
        const end = text.indexOf('\n\n');
        if (end >= 0) resolve({ firstEvent: text.slice(0, end), disconnect: () => req.destroy() });
      });
      res.on('error', () => undefined);
    });
    req.on('error', (err) => {
      if (!(err as { code?: string }).code?.startsWith('ECONNRESET')) reject(err);
    });
    req.end(JSON.stringify(body));
  });
}

t.test(
  'at most max_concurrent_streams run at once; the rest wait under the timeout; a full queue answers 429',
  async (t) => {
    const { s, llm, put } = await setup(t, {}, 1);
    await put('completion', 'capped', { url: `${llm.url}/v1/chat/completions`, max_concurrent_streams: 2 });
    const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
    const url = `${base}/_inference/completion/capped/_stream`;
    llm.next({ stallAfterTokens: 1 }, { stallAfterTokens: 1 });
    const first = await openStream(url, { input: 'one' });
    const second = await openStream(url, { input: 'two' });
    t.equal(llm.open, 2);
    // The third waits for a slot (the queue holds one); the fourth finds the queue full.
    const third = s.request('POST', '/_inference/completion/capped/_stream?timeout=300ms', { input: 'three' });
    await sleep(50);
    const fourth = await s.request('POST', '/_inference/completion/capped/_stream', { input: 'four' });
    t.same(
      fourth.json,
      envelope(
        429,
        'es_rejected_execution_exception',
        'Failed to execute task for inference id [capped] because the request service queue is full',
      ),
    );
    t.same((await third).json, envelope(408, 'status_exception', 'Request timed out after [300ms]'));
    t.equal(llm.received.length, 2, 'neither reached the upstream');
    // A stream that ends frees its slot.
    first.disconnect();
    const fifth = await s.request('POST', '/_inference/completion/capped/_stream', { input: 'five' });
    t.equal(fifth.body, completionStream(['You', ' said', ':', ' five']));
    second.disconnect();
  },
);

t.test('max_concurrent_streams as shipped: 64 streams of an endpoint at once, the 65th waits for a slot', async (t) => {
  const { s, llm, put } = await setup(t);
  // The rate limit out of the way, so that only the stream cap holds streams back.
  await put('completion', 'default-cap', {
    url: `${llm.url}/v1/chat/completions`,
    rate_limit: { requests_per_minute: 6_000_000 },
  });
  const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `${base}/_inference/completion/default-cap/_stream`;
  llm.next(...Array.from({ length: 65 }, () => ({ stallAfterTokens: 1 })));
  const open = await Promise.all(Array.from({ length: 64 }, (_, i) => openStream(url, { input: `s${i}` })));
  t.equal(llm.open, 64, '64 upstream streams open');
  const waiting = await s.request('POST', '/_inference/completion/default-cap/_stream?timeout=300ms', {
    input: 'one more',
  });
  t.same(
    waiting.json,
    envelope(408, 'status_exception', 'Request timed out after [300ms]'),
    'the 65th waited for a slot until its timeout',
  );
  t.equal(llm.received.length, 64, 'it never reached the upstream');
  for (const o of open) o.disconnect();
  await waitFor(() => llm.open === 0);
});

t.test(
  'generations are bounded per endpoint by max_concurrent_streams alone: one endpoint at its cap holds up neither another endpoint nor embeddings',
  async (t) => {
    const { s, llm, put } = await setup(t);
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    const fast = { rate_limit: { requests_per_minute: 6_000_000 } };
    await put('completion', 'busy', { url: `${llm.url}/v1/chat/completions`, ...fast });
    await put('completion', 'other', { url: `${llm.url}/v1/chat/completions`, ...fast });
    await s.request('PUT', '/_inference/text_embedding/emb', {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: `${hf.url}/embed`, ...fast },
    });
    const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
    // 64 streams: the cap of their endpoint, and as many as the service-wide slots of batched work.
    llm.next(...Array.from({ length: 64 }, () => ({ stallAfterTokens: 1 })));
    const open = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        openStream(`${base}/_inference/completion/busy/_stream`, { input: `s${i}` }),
      ),
    );
    t.equal(llm.open, 64, '64 upstream streams open');
    const waiting = await s.request('POST', '/_inference/completion/busy/_stream?timeout=300ms', { input: 'one more' });
    t.same(
      waiting.json,
      envelope(408, 'status_exception', 'Request timed out after [300ms]'),
      'a 65th stream of the busy endpoint waits for one of its slots',
    );
    const other = await s.request('POST', '/_inference/completion/other/_stream?timeout=5s', { input: 'elsewhere' });
    t.equal(other.body, completionStream(['You', ' said', ':', ' elsewhere']), 'another endpoint streams at once');
    const embedded = await s.request('POST', '/_inference/text_embedding/emb?timeout=5s', { input: 'meanwhile' });
    t.strictSame(
      embedded.json,
      { text_embedding: [{ embedding: hf.vector('meanwhile') }] },
      'embeddings take slots no stream holds',
    );
    for (const o of open) o.disconnect();
    await waitFor(() => llm.open === 0);
  },
);

t.test('each stream takes one rate-limit token', async (t) => {
  const { llm, put, stream } = await setup(t);
  await put('completion', 'paced', { url: `${llm.url}/v1/chat/completions`, rate_limit: { requests_per_minute: 600 } });
  // 300 ms at the limiter, exact on this process's clock. On arrival, where each stream's new connection and any stall
  // of this process add jitter, measured again when it misses; without spacing the four arrive within a few
  // milliseconds every time.
  await measureTiming(t, 'four streams at 600/min', 50, async () => {
    await sleep(150);
    const before = llm.received.length;
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 4 }, (_, i) => stream('completion', 'paced', { input: `n${i}` })),
    );
    const elapsedMs = performance.now() - started;
    return pacedBurst(t, {
      what: 'streams',
      count: 4,
      intervalMs: 100,
      times: llm.received.slice(before).map((r) => r.at),
      elapsedMs,
      minElapsedMs: 295,
      minGapMs: 50,
      minSpanMs: 250,
      also: [[answers.every((a) => a.status === 200), 'every stream answered 200']],
    });
  });
});

t.test('_stream refusals: task types that cannot stream, bad bodies, wrong endpoints', async (t) => {
  const { s, llm, put, stream } = await setup(t);
  await put('completion', 'c', { url: `${llm.url}/v1/chat/completions` });
  await put('chat_completion', 'chat', { url: `${llm.url}/v1/chat/completions` });
  await s.request('PUT', '/_inference/rerank/r', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: `${llm.url}/rerank` },
  });
  t.same(
    (await stream('rerank', 'r', { input: ['a'], query: 'q' })).json,
    envelope(405, 'status_exception', 'Streaming is not allowed for service [hugging_face] and task [rerank]'),
  );
  t.same(
    (await s.request('POST', '/_inference/r/_stream', { input: ['a'], query: 'q' })).json,
    envelope(405, 'status_exception', 'Streaming is not allowed for service [hugging_face] and task [rerank]'),
  );
  t.same(
    (await stream('completion', 'missing', { input: 'x' })).json,
    envelope(404, 'resource_not_found_exception', 'Inference endpoint not found [missing]'),
  );
  t.same(
    (await stream('chat_completion', 'c', { messages: [{ role: 'user', content: 'x' }] })).json,
    envelope(
      400,
      'status_exception',
      'Incompatible task_type, the requested type [chat_completion] does not match the model type [completion]',
    ),
  );
  t.same(
    (await stream('completion', 'c', { input: ['a', 'b'] })).json,
    envelope(
      400,
      'action_request_validation_exception',
      'Validation Failed: 1: Field [input] must hold one text when streaming, got [2];',
    ),
  );
  t.same(
    (await stream('completion', 'c', {})).json,
    envelope(400, 'action_request_validation_exception', 'Validation Failed: 1: Field [input] cannot be null;'),
  );
  t.same(
    (await stream('chat_completion', 'chat', { input: 'x' })).json,
    envelope(400, 'x_content_parse_exception', 'Failed to parse field [input]: unknown field'),
  );
  t.same(
    (await stream('chat_completion', 'chat', {})).json,
    envelope(400, 'action_request_validation_exception', 'Validation Failed: 1: Field [messages] cannot be null;'),
  );
  t.same(
    (await stream('chat_completion', 'chat', { messages: [] })).json,
    envelope(
      400,
      'action_request_validation_exception',
      'Validation Failed: 1: Field [messages] cannot be an empty array;',
    ),
  );
  t.same(
    (await stream('chat_completion', 'chat', { messages: [{ content: 'x' }] })).json.error.type,
    'x_content_parse_exception',
  );
  t.same(
    (
      await stream('chat_completion', 'chat', {
        messages: [{ role: 'user', content: 'x' }],
        top_p: 1.5,
        temperature: -1,
        max_completion_tokens: 0,
        stop: ['a', 'b', 'c', 'd', 'e'],
      })
    ).json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [chat_completion_request] Invalid value [0]. [max_completion_tokens] must be a positive integer;' +
        '2: [chat_completion_request] Invalid value [-1.0]. [temperature] must be greater than or equal to [0.0] and less than or equal to [100.0];' +
        '3: [chat_completion_request] Invalid value [1.5]. [top_p] must be greater than [0.0] and less than or equal to [1.0];' +
        '4: [chat_completion_request] Invalid value: [stop] holds 5 strings; it takes at most 4;',
    ),
  );
  // What an 8.x client sends when `messages` is passed outside chat_completion_request: no body at all.
  t.same(
    (await s.request('POST', '/_inference/chat_completion/chat/_stream?messages=%5Bobject%20Object%5D')).json.error
      .type,
    'illegal_argument_exception',
  );
  t.same(
    (await s.request('POST', '/_inference/chat_completion/chat/_stream')).json,
    envelope(400, 'parse_exception', 'request body is required'),
  );
  t.equal(llm.received.length, 0);
});
