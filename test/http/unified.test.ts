// Elasticsearch's newer chat API: `_unified` (its first route to chat_completion, still registered), the reasoning
// fields of its unified chat body, and a reasoning model's thoughts streamed in Elasticsearch's chunk shape.
import t from 'tap';
import { API_KEY, envelope, startApp, type Tap } from '../helpers/app-harness.js';
import { FakeLlm, MODEL } from '../helpers/fake-llm.js';

const CLIENT_HEADERS = {
  'content-type': 'application/vnd.elasticsearch+json; compatible-with=9',
  accept: 'application/vnd.elasticsearch+json; compatible-with=9',
};

async function setup(t: Tap) {
  const llm = await new FakeLlm().start();
  t.teardown(() => llm.close());
  // vLLM's framing: the upstream's own id, so that whole streams can be compared byte for byte.
  llm.style = 'vllm';
  const s = await startApp(t, { SKIP_VALIDATION: 'true' });
  const put = async (taskType: string, id: string, url = `${llm.url}/v1/chat/completions`) => {
    const res = await s.request('PUT', `/_inference/${taskType}/${id}`, {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url },
    });
    if (res.status !== 200) throw new Error(`PUT ${id}: ${res.body}`);
  };
  const post = (path: string, body: unknown) => s.request('POST', path, body, CLIENT_HEADERS);
  return { s, llm, put, post };
}

/** One chat chunk event, fields in Elasticsearch's order. */
const chunk = (choices: unknown[], usage?: unknown) =>
  `event: message\ndata: ${JSON.stringify({
    id: 'chatcmpl-fake0001',
    choices,
    model: MODEL,
    object: 'chat.completion.chunk',
    ...(usage ? { usage } : {}),
  })}\n\n`;
const DONE = 'event: message\ndata: [DONE]\n\n';
const usage = (completion: number) => ({
  completion_tokens: completion,
  prompt_tokens: 5,
  total_tokens: 5 + completion,
});

/** An `x_content_parse_exception` of Elasticsearch's unified chat parser, nested as it nests them. */
const parseError = (levels: Array<[string, string]>, cause: Record<string, unknown>) => {
  const failed = ([parser, field]: [string, string]) => `[${parser}] failed to parse field [${field}]`;
  let inner = cause;
  for (const level of levels.slice(1).reverse())
    inner = { type: 'x_content_parse_exception', reason: failed(level), caused_by: inner };
  const reason = failed(levels[0]!);
  return {
    error: {
      root_cause: [{ type: 'x_content_parse_exception', reason }],
      type: 'x_content_parse_exception',
      reason,
      caused_by: inner,
    },
    status: 400,
  };
};
const failedToBuild = (parser: string, type: string, reason: string) => ({
  type: 'x_content_parse_exception',
  reason: `Failed to build [${parser}] after last required field arrived`,
  caused_by: { type, reason },
});
const REASONING: Array<[string, string]> = [['UnifiedCompletionRequest', 'reasoning']];
const DETAILS: Array<[string, string]> = [
  ['UnifiedCompletionRequest', 'messages'],
  ['Message', 'reasoning_details'],
];

t.test(
  '_unified answers as _stream does on chat_completion: both path forms, the same events, the same upstream body',
  async (t) => {
    const { s, llm, put, post } = await setup(t);
    await put('chat_completion', 'chat');
    const body = { messages: [{ role: 'user', content: 'a b' }], max_completion_tokens: 10 };
    const expected =
      chunk([{ delta: { content: 'You', role: 'assistant' }, index: 0 }]) +
      [' said', ':', ' a'].map((c) => chunk([{ delta: { content: c }, index: 0 }])).join('') +
      chunk([{ delta: { content: ' b' }, finish_reason: 'stop', index: 0 }]) +
      chunk([], usage(5)) +
      DONE;
    for (const path of [
      '/_inference/chat_completion/chat/_stream',
      '/_inference/chat_completion/chat/_unified',
      '/_inference/chat/_unified',
    ]) {
      const res = await post(path, body);
      t.equal(res.status, 200, path);
      t.equal(res.headers['content-type'], 'text/event-stream', path);
      t.equal(res.headers['x-elastic-product'], 'Elasticsearch', path);
      t.equal(res.body, expected, path);
    }
    t.equal(llm.received.length, 3);
    t.strictSame(llm.received[1]!.body, llm.received[0]!.body);
    t.strictSame(llm.received[2]!.body, llm.received[0]!.body);
    t.strictSame(llm.received[0]!.body, {
      messages: [{ role: 'user', content: 'a b' }],
      n: 1,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 10,
    });
    // The one-segment form is logged under the endpoint's id, not `_unified`.
    const line = s.logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'request completed')
      .at(-1);
    t.match(line, { inference_id: 'chat', task_type: 'chat_completion', status: 200 });
  },
);

t.test("_unified's refusals, in Elasticsearch's order and words", async (t) => {
  const { llm, put, post } = await setup(t);
  await put('completion', 'c');
  await put('chat_completion', 'chat');
  const hi = { messages: [{ role: 'user', content: 'x' }] };
  // UnifiedCompletionAction.Request.validate: another task type in the path, before any endpoint is looked up.
  const notChat = envelope(
    400,
    'action_request_validation_exception',
    'Validation Failed: 1: Field [taskType] must be [chat_completion];',
  );
  t.same((await post('/_inference/text_embedding/missing/_unified', hi)).json, notChat);
  t.same((await post('/_inference/completion/c/_unified', hi)).json, notChat);
  // ...after the messages' own checks, and after the body is read as a chat body whatever the path says.
  t.same(
    (await post('/_inference/completion/c/_unified', {})).json,
    envelope(400, 'action_request_validation_exception', 'Validation Failed: 1: Field [messages] cannot be null;'),
  );
  t.same(
    (await post('/_inference/completion/c/_unified', { messages: [] })).json,
    envelope(
      400,
      'action_request_validation_exception',
      'Validation Failed: 1: Field [messages] cannot be an empty array;',
    ),
  );
  t.same(
    (await post('/_inference/completion/c/_unified', { input: 'x' })).json,
    envelope(400, 'x_content_parse_exception', 'Failed to parse field [input]: unknown field'),
  );
  t.same(
    (await post('/_inference/bogus/c/_unified', hi)).json,
    envelope(400, 'status_exception', 'Unknown task_type [bogus]'),
  );
  // TransportUnifiedCompletionInferenceAction: the endpoint must be a chat_completion one.
  t.same(
    (await post('/_inference/c/_unified', hi)).json,
    envelope(
      400,
      'status_exception',
      'Incompatible task_type for unified API, the requested type [any] must be one of [chat_completion]',
    ),
  );
  t.same(
    (await post('/_inference/chat_completion/c/_unified', hi)).json,
    envelope(
      400,
      'status_exception',
      'Incompatible task_type, the requested type [chat_completion] does not match the model type [completion]',
    ),
  );
  t.same(
    (await post('/_inference/chat_completion/missing/_unified', hi)).json,
    envelope(404, 'resource_not_found_exception', 'Inference endpoint not found [missing]'),
  );
  t.same(
    (await post('/_inference/missing/_unified', hi)).json,
    envelope(404, 'resource_not_found_exception', 'Inference endpoint not found [missing]'),
  );
  t.same(
    (await post('/_inference/chat_completion/chat/_unified?input_type=x', hi)).json.error.type,
    'illegal_argument_exception',
  );
  t.equal(llm.received.length, 0, 'nothing refused reached the upstream');
});

t.test('reasoning fields refused as Elasticsearch refuses them, on _stream and _unified alike', async (t) => {
  const { llm, put, post } = await setup(t);
  await put('chat_completion', 'chat');
  const user = { role: 'user', content: 'x' };
  const withReasoning = (reasoning: unknown) => ({ messages: [user], reasoning });
  const withDetails = (...details: unknown[]) => ({
    messages: [user, { role: 'assistant', content: 'y', reasoning_details: details }, user],
  });
  const cases: Array<[string, unknown, unknown]> = [
    [
      'reasoning without effort or enabled',
      withReasoning({ summary: 'auto' }),
      parseError(REASONING, {
        type: 'illegal_argument_exception',
        reason: 'Required one of fields [effort, enabled], but none were specified.',
      }),
    ],
    [
      'an unknown effort',
      withReasoning({ effort: 'huge' }),
      parseError(
        REASONING,
        failedToBuild(
          'Reasoning',
          'status_exception',
          'Unrecognized type [huge] in object [effort], must be one of [xhigh, high, medium, low, minimal, none]',
        ),
      ),
    ],
    [
      'an unknown summary',
      withReasoning({ enabled: false, summary: 'short' }),
      parseError(
        REASONING,
        failedToBuild(
          'Reasoning',
          'status_exception',
          'Unrecognized type [short] in object [summary], must be one of [auto, concise, detailed]',
        ),
      ),
    ],
    [
      'enabled false without an effort',
      withReasoning({ enabled: false, exclude: true }),
      parseError(
        REASONING,
        failedToBuild('Reasoning', 'status_exception', 'When [enabled] is false, [effort] must be specified.'),
      ),
    ],
    [
      'a reasoning detail of none of the required fields',
      withDetails({ type: 'reasoning.text', format: 'f' }),
      parseError(DETAILS, {
        type: 'illegal_argument_exception',
        reason: 'Required one of fields [data, summary, text, signature], but none were specified.',
      }),
    ],
    [
      'a reasoning detail of two exclusive fields (both of its exclusive sets, in the order given)',
      withDetails({ type: 'reasoning.summary', summary: 's', data: 'd' }),
      parseError(DETAILS, {
        type: 'illegal_argument_exception',
        reason:
          'The following fields are not allowed together: [summary, data] ' +
          'The following fields are not allowed together: [summary, data] ',
      }),
    ],
    [
      'text and signature clash with data only in their own sets',
      withDetails({ type: 'reasoning.text', text: 't', signature: 's', data: 'd' }),
      parseError(DETAILS, {
        type: 'illegal_argument_exception',
        reason:
          'The following fields are not allowed together: [text, data] ' +
          'The following fields are not allowed together: [signature, data] ',
      }),
    ],
    [
      'a reasoning detail without a type',
      withDetails({ text: 't' }),
      parseError(DETAILS, { type: 'illegal_argument_exception', reason: 'Required [type]' }),
    ],
    [
      'an unknown reasoning detail type',
      withDetails({ type: 'reasoning.magic', text: 't' }),
      parseError(
        DETAILS,
        failedToBuild(
          'ReasoningDetail',
          'status_exception',
          'Unrecognized type [reasoning.magic] in object [reasoning_detail_type], must be one of [reasoning.encrypted, reasoning.summary, reasoning.text]',
        ),
      ),
    ],
    [
      'a text detail of neither text nor signature',
      withDetails({ type: 'reasoning.text', data: 'd' }),
      parseError(
        DETAILS,
        failedToBuild(
          'ReasoningDetail',
          'illegal_argument_exception',
          'At least one of [text, signature] must be provided for reasoning details of type [reasoning.text]',
        ),
      ),
    ],
    [
      'an encrypted detail without data',
      withDetails({ type: 'reasoning.encrypted', summary: 's' }),
      parseError(
        DETAILS,
        failedToBuild(
          'ReasoningDetail',
          'illegal_argument_exception',
          'Field [data] is required for reasoning details of type [reasoning.encrypted]',
        ),
      ),
    ],
    [
      'a summary detail without a summary',
      withDetails({ type: 'reasoning.summary', text: 't' }),
      parseError(
        DETAILS,
        failedToBuild(
          'ReasoningDetail',
          'illegal_argument_exception',
          'Field [summary] is required for reasoning details of type [reasoning.summary]',
        ),
      ),
    ],
    [
      'a field of the wrong type',
      withReasoning({ enabled: 'yes' }),
      envelope(400, 'x_content_parse_exception', 'Failed to parse field [reasoning.enabled]: expected a boolean'),
    ],
    [
      'an unknown field of reasoning',
      withReasoning({ effort: 'low', max_tokens: 100 }),
      envelope(400, 'x_content_parse_exception', 'Failed to parse field [reasoning.max_tokens]: unknown field'),
    ],
    [
      'an unknown field of a reasoning detail',
      withDetails({ type: 'reasoning.text', text: 't', extra: 1 }),
      envelope(
        400,
        'x_content_parse_exception',
        'Failed to parse field [messages.1.reasoning_details.0.extra]: unknown field',
      ),
    ],
    [
      "a message's reasoning that is not text",
      { messages: [user, { role: 'assistant', content: 'y', reasoning: ['a'] }] },
      envelope(
        400,
        'x_content_parse_exception',
        'Failed to parse field [messages.1.reasoning]: expected a string or null',
      ),
    ],
  ];
  for (const [what, body, expected] of cases) {
    t.strictSame((await post('/_inference/chat_completion/chat/_stream', body)).json, expected, `_stream: ${what}`);
    t.strictSame((await post('/_inference/chat/_unified', body)).json, expected, `_unified: ${what}`);
  }
  // Refused before any endpoint is looked up, as Elasticsearch parses the body first.
  t.strictSame((await post('/_inference/chat_completion/missing/_unified', withReasoning({}))).json, cases[0]![2]);
  t.equal(llm.received.length, 0);
});

t.test('what the upstream receives of the reasoning fields (Elasticsearch API document, example 4)', async (t) => {
  const { llm, put, post } = await setup(t);
  await put('chat_completion', 'chat');
  const barber = 'Barber shaves all those, who do not shave themselves. Who shaves the barber?';
  const thought = 'If the barber shaves himself, he should not; if he does not, he should.';
  const res = await post('/_inference/chat_completion/chat/_unified', {
    messages: [
      { role: 'user', content: [{ type: 'text', text: barber }] },
      {
        role: 'assistant',
        content: [{ type: 'text', text: 'This is the barber paradox. Such a barber cannot logically exist.' }],
        reasoning: thought,
        reasoning_details: [
          { type: 'reasoning.encrypted', data: '[REDACTED]' },
          { type: 'reasoning.summary', summary: 'Barber shaving himself creates contradiction' },
          { type: 'reasoning.text', text: thought, signature: 'sig_123' },
        ],
      },
      { role: 'user', content: [{ type: 'text', text: 'What if there are 2 barbers?' }] },
    ],
    reasoning: { effort: 'high', summary: 'detailed', exclude: false },
  });
  t.equal(res.status, 200);
  t.strictSame(llm.received[0]!.body, {
    messages: [
      { role: 'user', content: [{ type: 'text', text: barber }] },
      {
        role: 'assistant',
        content: [{ type: 'text', text: 'This is the barber paradox. Such a barber cannot logically exist.' }],
        reasoning_content: thought,
      },
      { role: 'user', content: [{ type: 'text', text: 'What if there are 2 barbers?' }] },
    ],
    n: 1,
    stream: true,
    stream_options: { include_usage: true },
    reasoning_effort: 'high',
    chat_template_kwargs: { enable_thinking: true },
  });

  // Each reasoning configuration, and the fields it becomes (vLLM's reasoning_effort takes low, medium and high).
  const variants: Array<[unknown, Record<string, unknown>]> = [
    [{ effort: 'xhigh' }, { reasoning_effort: 'high', chat_template_kwargs: { enable_thinking: true } }],
    [{ effort: ' Medium ' }, { reasoning_effort: 'medium', chat_template_kwargs: { enable_thinking: true } }],
    [{ effort: 'low' }, { reasoning_effort: 'low', chat_template_kwargs: { enable_thinking: true } }],
    [{ effort: 'minimal' }, { reasoning_effort: 'low', chat_template_kwargs: { enable_thinking: true } }],
    [{ effort: 'none' }, { chat_template_kwargs: { enable_thinking: false } }],
    [{ enabled: true }, { reasoning_effort: 'medium', chat_template_kwargs: { enable_thinking: true } }],
    [
      { enabled: false, effort: 'low', summary: 'concise' },
      { reasoning_effort: 'low', chat_template_kwargs: { enable_thinking: true } },
    ],
    [
      { effort: 'none', exclude: true },
      { include_reasoning: false, chat_template_kwargs: { enable_thinking: false } },
    ],
  ];
  for (const [reasoning, fields] of variants) {
    const before = llm.received.length;
    const answer = await post('/_inference/chat_completion/chat/_stream', {
      messages: [{ role: 'user', content: 'x' }],
      reasoning,
      top_p: 0.5,
    });
    t.equal(answer.status, 200);
    t.strictSame(
      llm.received[before]!.body,
      {
        messages: [{ role: 'user', content: 'x' }],
        n: 1,
        stream: true,
        stream_options: { include_usage: true },
        top_p: 0.5,
        ...fields,
      },
      JSON.stringify(reasoning),
    );
  }
});

t.test("a reasoning model's thoughts, streamed in Elasticsearch's chunk shape (delta.reasoning)", async (t) => {
  const { llm, put, post } = await setup(t);
  await put('chat_completion', 'chat');
  llm.reasoning = () => ['Two', ' barbers', '.'];
  const expected =
    chunk([{ delta: { role: 'assistant', reasoning: 'Two' }, index: 0 }]) +
    chunk([{ delta: { reasoning: ' barbers' }, index: 0 }]) +
    chunk([{ delta: { reasoning: '.' }, index: 0 }]) +
    chunk([{ delta: { content: 'You' }, index: 0 }]) +
    chunk([{ delta: { content: ' said' }, index: 0 }]) +
    chunk([{ delta: { content: ':' }, index: 0 }]) +
    chunk([{ delta: { content: ' hi' }, finish_reason: 'stop', index: 0 }]) +
    chunk([], usage(7)) +
    DONE;
  // vLLM's older field (DeepSeek-R1 through `--reasoning-parser deepseek_r1`) and its newer one.
  for (const field of ['reasoning_content', 'reasoning'] as const) {
    llm.reasoningField = field;
    for (const path of ['/_inference/chat_completion/chat/_stream', '/_inference/chat/_unified']) {
      const res = await post(path, { messages: [{ role: 'user', content: 'hi' }] });
      t.equal(res.body, expected, `${field} on ${path}`);
    }
  }

  // TGI's framing (the role in every delta, no id of its own).
  llm.style = 'tgi';
  const tgi = await post('/_inference/chat/_unified', { messages: [{ role: 'user', content: 'hi' }] });
  const first = JSON.parse(tgi.body.split('\n\n')[0]!.slice('event: message\ndata: '.length));
  t.strictSame(first.choices, [{ delta: { role: 'assistant', reasoning: 'Two' }, index: 0 }]);
  t.match(first.id, /^chatcmpl-/);

  // `reasoning.exclude`: asked of the upstream, and what it sends anyway is left out.
  llm.style = 'vllm';
  const before = llm.received.length;
  const excluded = await post('/_inference/chat/_unified', {
    messages: [{ role: 'user', content: 'hi' }],
    reasoning: { enabled: true, exclude: true },
  });
  t.equal(llm.received[before]!.body.include_reasoning, false);
  t.equal(
    excluded.body,
    chunk([{ delta: { role: 'assistant' }, index: 0 }]) +
      chunk([{ delta: { content: 'You' }, index: 0 }]) +
      chunk([{ delta: { content: ' said' }, index: 0 }]) +
      chunk([{ delta: { content: ':' }, index: 0 }]) +
      chunk([{ delta: { content: ' hi' }, finish_reason: 'stop', index: 0 }]) +
      chunk([], usage(7)) +
      DONE,
  );
});

t.test("the endpoint's key echoed in a model's reasoning, split across deltas: masked like content", async (t) => {
  const { s, llm, put, post } = await setup(t);
  await put('chat_completion', 'chat');
  for (let cut = 1; cut < API_KEY.length; cut += 4) {
    llm.reasoning = (_prompt, authorization) => {
      const key = authorization.replace(/^Bearer /, '');
      return ['I hold ', key.slice(0, cut), key.slice(cut), ' and go on'];
    };
    const res = await post('/_inference/chat/_unified', { messages: [{ role: 'user', content: 'hi' }] });
    t.equal(res.status, 200);
    t.notMatch(res.body, API_KEY.slice(0, 12), `cut at ${cut}: no part of the key that long`);
    const thoughts = res.body
      .split('\n\n')
      .filter((e) => e.startsWith('event: message\ndata: {'))
      .map((e) => JSON.parse(e.slice('event: message\ndata: '.length)))
      .flatMap((c) => c.choices.map((ch: { delta: { reasoning?: string } }) => ch.delta.reasoning))
      .filter((r): r is string => r !== undefined);
    t.equal(thoughts.join(''), 'I hold [REDACTED] and go on', `cut at ${cut}`);
    t.equal(thoughts[0], 'I hold ', 'the text before the key is not held back');
  }
  t.strictSame(
    s.logs.lines.filter((l) => l.includes(API_KEY)),
    [],
    'no log line holds the key',
  );
});
