// The text generation protocols' pure parts: request bodies, answers and stream events as TGI, vLLM and the pipelines
// send them.
import t from 'tap';
import { JsonAnswer } from '../../../../src/services/hugging-face/call.js';
import { SendError, type SendFailure } from '../../../../src/services/send-error.js';
import {
  chatRequest,
  chatUrl,
  parseChatAnswer,
  readChatEvent,
} from '../../../../src/services/hugging-face/chat-completion-wire.js';
import { mapInBandError } from '../../../../src/services/hugging-face/hugging-face-errors.js';
import {
  generateRequest,
  generateUrls,
  parseGeneratedText,
  readGenerateEvent,
} from '../../../../src/services/hugging-face/text-generation-wire.js';
import { text2textRequest, text2textUrl } from '../../../../src/services/hugging-face/text2text-wire.js';
import { protocolOf } from '../../../../src/services/hugging-face/hugging-face-settings.js';
import type { GenerationChunk } from '../../../../src/services/inference-service.js';
import { chatFormatter, chunkJson } from '../../../../src/tasks/chat-completion-task.js';
import { completionDeltas } from '../../../../src/tasks/completion-task.js';

const answer = (text: string) => new JsonAnswer(text, 'g');

/** What `fn` failed with; it must fail with a SendError. */
function sendFailure(fn: () => unknown): SendFailure {
  try {
    fn();
  } catch (err) {
    if (err instanceof SendError) return err.failure;
    throw err;
  }
  throw new Error('expected a SendError');
}

t.test('which protocol an endpoint speaks, and where its requests go', async (t) => {
  t.equal(protocolOf({ url: 'https://x.cloud/v1/chat/completions' }), 'openai_chat');
  t.equal(protocolOf({ url: 'https://x.cloud' }), 'openai_chat');
  t.equal(protocolOf({}), 'openai_chat', 'hosted');
  t.equal(protocolOf({ url: 'https://x.cloud/generate' }), 'text_generation');
  t.equal(protocolOf({ url: 'https://x.cloud/tgi/generate_stream/' }), 'text_generation');
  t.equal(protocolOf({ url: 'https://x.cloud/generate', protocol: 'text2text_generation' }), 'text2text_generation');

  t.equal(chatUrl(undefined, 'https://router.huggingface.co'), 'https://router.huggingface.co/v1/chat/completions');
  t.equal(chatUrl('https://x.cloud/v1/chat/completions', 'r'), 'https://x.cloud/v1/chat/completions');
  t.equal(chatUrl('https://x.cloud/openai/chat/completions', 'r'), 'https://x.cloud/openai/chat/completions');
  t.equal(chatUrl('https://x.cloud', 'r'), 'https://x.cloud/v1/chat/completions');
  t.equal(chatUrl('https://x.cloud/', 'r'), 'https://x.cloud/v1/chat/completions');
  t.equal(chatUrl('http://127.0.0.1:8080/v1/', 'r'), 'http://127.0.0.1:8080/v1/chat/completions');

  t.strictSame(generateUrls('https://x.cloud'), {
    generate: 'https://x.cloud/generate',
    stream: 'https://x.cloud/generate_stream',
  });
  t.strictSame(generateUrls('https://x.cloud/tgi/generate'), {
    generate: 'https://x.cloud/tgi/generate',
    stream: 'https://x.cloud/tgi/generate_stream',
  });
  t.strictSame(generateUrls('https://x.cloud/generate_stream/'), {
    generate: 'https://x.cloud/generate',
    stream: 'https://x.cloud/generate_stream',
  });
  t.equal(
    text2textUrl(undefined, 'google/flan-t5-base', 'https://router.huggingface.co/hf-inference'),
    'https://router.huggingface.co/hf-inference/models/google/flan-t5-base',
  );
  t.equal(text2textUrl('https://t5.cloud', 'x', 'b'), 'https://t5.cloud');
});

t.test('OpenAI chat request: field order, max_tokens, usage on streams, top_p 1 and empty stop left out', async (t) => {
  const full = chatRequest(
    {
      messages: [{ role: 'user', content: 'Hi' }],
      maxTokens: 12,
      temperature: 0,
      topP: 0.9,
      stop: ['\n'],
      tools: [{ type: 'function', function: { name: 'f' } }],
      toolChoice: 'auto',
    },
    'meta-llama/Llama-3.1-8B-Instruct',
    true,
  );
  t.equal(
    full,
    '{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[{"role":"user","content":"Hi"}],"n":1,"stream":true,"stream_options":{"include_usage":true},' +
      '"max_tokens":12,"temperature":0,"top_p":0.9,"stop":["\\n"],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"auto"}',
  );
  t.equal(chatRequest({ messages: [], topP: 1, stop: [] }, undefined, false), '{"messages":[],"n":1,"stream":false}');
  t.equal(
    chatRequest({ messages: [], model: 'asked' }, 'stored', false),
    '{"model":"asked","messages":[],"n":1,"stream":false}',
    "the request's model wins",
  );
});

t.test('OpenAI chat request: seed in its place, top_k and repetition_penalty last as extra fields', async (t) => {
  t.equal(
    chatRequest(
      {
        messages: [{ role: 'user', content: 'Hi' }],
        maxTokens: 5,
        temperature: 0.7,
        topP: 0.9,
        topK: 40,
        repetitionPenalty: 1.1,
        seed: 0,
        stop: ['END'],
      },
      undefined,
      false,
    ),
    '{"messages":[{"role":"user","content":"Hi"}],"n":1,"stream":false,"max_tokens":5,"temperature":0.7,"top_p":0.9,' +
      '"seed":0,"stop":["END"],"top_k":40,"repetition_penalty":1.1}',
    'seed 0 is a seed, and is sent',
  );
});

t.test('OpenAI chat answers: TGI, a tool-call answer, and shapes that are not one', async (t) => {
  const tgi =
    '{"object":"chat.completion","id":"","created":1741266005,"model":"meta-llama/Llama-3.1-8B-Instruct","system_fingerprint":"3.1.2-dev0-native",' +
    '"choices":[{"index":0,"message":{"role":"assistant","content":"Deep learning is a subset"},"logprobs":null,"finish_reason":"length"}],' +
    '"usage":{"prompt_tokens":39,"completion_tokens":3,"total_tokens":42}}';
  t.equal(parseChatAnswer(answer(tgi), 'c'), 'Deep learning is a subset');
  const tools =
    '{"object":"chat.completion","id":"","created":1,"model":"m","system_fingerprint":"x","choices":[{"index":0,"message":{"role":"assistant",' +
    '"tool_calls":[{"id":"0","type":"function","function":{"description":null,"name":"get_weather","arguments":"{\\"location\\":\\"Paris\\"}"}}]},"logprobs":null,"finish_reason":"stop"}]}';
  t.equal(parseChatAnswer(answer(tools), 'c'), '');
  const failure = sendFailure(() => parseChatAnswer(answer('[{"generated_text":"x"}]'), 'c'));
  t.equal(failure.error.status, 502);
  t.equal(
    failure.error.reason,
    'Failed to parse the response for inference entity id [c]: expected {"choices":[{"message":{…}}]}, got an array of 1 (object)',
  );
  t.equal(failure.retry, 'none');
});

t.test('OpenAI chat stream events: TGI and vLLM chunks reduced to what Elasticsearch sends', async (t) => {
  t.strictSame(
    readChatEvent(
      '{"object":"chat.completion.chunk","id":"","created":1741266005,"model":"m","system_fingerprint":"3.1.2-native","choices":[{"index":0,"delta":{"role":"assistant","content":"OK"},"logprobs":null,"finish_reason":null}],"usage":null}',
      'c',
    ),
    { chunk: { choices: [{ index: 0, delta: { content: 'OK', role: 'assistant' } }], model: 'm' } },
  );
  t.strictSame(
    readChatEvent(
      '{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"."},"logprobs":null,"finish_reason":"stop_sequence"}]}',
      'c',
    ),
    {
      chunk: { choices: [{ index: 0, delta: { content: '.' }, finish_reason: 'stop' }], id: 'chatcmpl-9', model: 'm' },
    },
    "TGI's stop_sequence is OpenAI's stop",
  );
  t.strictSame(
    readChatEvent(
      '{"object":"chat.completion.chunk","id":"","created":1,"model":"m","system_fingerprint":"x","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14,"prompt_tokens_details":null}}',
      'c',
    ),
    { chunk: { choices: [], model: 'm', usage: { completion_tokens: 9, prompt_tokens: 5, total_tokens: 14 } } },
  );
  const toolDelta = {
    role: 'assistant',
    tool_calls: [{ index: 0, id: '0', type: 'function', function: { name: null, arguments: '"Paris' } }],
  };
  t.strictSame(
    readChatEvent(
      JSON.stringify({
        object: 'chat.completion.chunk',
        id: '',
        choices: [{ index: 0, delta: toolDelta, logprobs: null, finish_reason: null }],
      }),
      'c',
    ),
    { chunk: { choices: [{ index: 0, delta: toolDelta }] } },
    'tool calls go on intact',
  );
  t.strictSame(readChatEvent('[DONE]', 'c'), { done: true });
  t.equal(
    readChatEvent('{"object":"ping"}', 'c'),
    undefined,
    'an event with neither choices nor usage carries nothing',
  );
  const error = {
    error: {
      message: 'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096',
      http_status_code: 422,
    },
  };
  t.strictSame(readChatEvent(JSON.stringify(error), 'c'), { error });
  const bad = sendFailure(() => readChatEvent('{"choices":[', 'c'));
  t.equal(
    bad.error.reason,
    'Failed to parse the response for inference entity id [c]: an event of the stream is not JSON',
  );
});

t.test(
  'a token chunk read by its common shape is the chunk the full reading gives, written to the same bytes',
  async (t) => {
    const vllm = (delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}) =>
      JSON.stringify({
        id: 'chatcmpl-9',
        object: 'chat.completion.chunk',
        created: 1741266005,
        model: 'org/m-7b',
        ...extra,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      });
    const tgi = (delta: Record<string, unknown>, finish: string | null = null) =>
      JSON.stringify({
        object: 'chat.completion.chunk',
        id: '',
        created: 1741266005,
        model: 'm',
        system_fingerprint: '3.1.2-native',
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
        usage: null,
      });
    const events = [
      vllm({ content: ' t1' }),
      vllm({ role: 'assistant', content: '' }),
      vllm({ content: '.' }, 'stop'),
      vllm({ content: 'x' }, 'length', { system_fingerprint: 'fp_1' }),
      tgi({ role: 'assistant', content: 'OK' }),
      tgi({ role: 'assistant', content: '!' }, 'stop_sequence'),
      // Texts with escapes, control characters, quotes, non-ASCII: as the upstream wrote them, and as JSON.stringify does.
      vllm({ content: 'say "hi"\n\tnow \\ é 日本 😀 \u2028' }),
      '{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"caf\\u00e9 \\/"},"logprobs":null,"finish_reason":null}]}',
      // Shapes the pattern does not take: other fields, spacing, another order, several choices, usage.
      vllm({ content: 'a', refusal: 'no' }),
      vllm({ content: 'a', reasoning: 'hm' }),
      vllm({ content: null }),
      vllm({ content: 'a' }, ''),
      vllm({ content: 'a' }, null, { usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } }),
      JSON.stringify(JSON.parse(vllm({ content: 'spaced' })), null, 1),
      '{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"},"logprobs":null,"finish_reason":null},{"index":1,"delta":{"content":"b"},"logprobs":null,"finish_reason":null}]}',
      '{"id":"a","object":"chat.completion.chunk","created":01,"model":"m","choices":[{"index":0,"delta":{"content":"a"},"logprobs":null,"finish_reason":null}]}',
    ];
    for (const [i, data] of events.entries()) {
      // The same event with a space after its first brace: never the common shape, so always read fully.
      const full = data.startsWith('{') ? `{ ${data.slice(1)}` : data;
      let slow: unknown;
      try {
        slow = readChatEvent(full, 'c');
      } catch (err) {
        t.throws(() => readChatEvent(data, 'c'), err as Error, `event ${i}, refused alike`);
        continue;
      }
      const fast = readChatEvent(data, 'c');
      t.strictSame(fast, slow, `event ${i}`);
      // Key order included: what the formats write from each is the same bytes.
      t.equal(JSON.stringify(fast), JSON.stringify(slow));
      const chunk = (fast as { chunk?: GenerationChunk }).chunk;
      if (chunk) {
        const slowChunk = (slow as { chunk: GenerationChunk }).chunk;
        t.equal(completionDeltas([chunk]), completionDeltas([slowChunk]));
        // A stream without an id (TGI's "") gets one made at random: not what is compared.
        const chat = (c: GenerationChunk) =>
          chatFormatter(undefined)
            .chunks([c])
            .replace(/"chatcmpl-[\w-]{16}"/, '"made"');
        t.equal(chat(chunk), chat(slowChunk));
      }
    }
  },
);

t.test('TGI native: request parameters, answers and token events', async (t) => {
  t.equal(
    generateRequest(
      {
        messages: [{ role: 'user', content: 'What is Deep Learning?' }],
        maxTokens: 20,
        temperature: 0,
        topP: 1,
        stop: ['\n\n'],
      },
      true,
    ),
    '{"inputs":"What is Deep Learning?","parameters":{"max_new_tokens":20,"stop":["\\n\\n"],"return_full_text":false,"details":true}}',
    'temperature 0 (greedy, TGI refuses it) and top_p 1 (TGI refuses it) are left out; details only on streams',
  );
  t.equal(
    generateRequest({ messages: [{ role: 'user', content: 'Q' }], temperature: 0.7, topP: 0.95 }, false),
    '{"inputs":"Q","parameters":{"temperature":0.7,"top_p":0.95,"return_full_text":false}}',
  );
  t.equal(
    generateRequest(
      {
        messages: [{ role: 'user', content: 'Q' }],
        maxTokens: 5,
        temperature: 0.7,
        topP: 0.9,
        topK: 40,
        repetitionPenalty: 1.1,
        seed: 0,
        stop: ['END'],
      },
      true,
    ),
    '{"inputs":"Q","parameters":{"max_new_tokens":5,"temperature":0.7,"top_p":0.9,"top_k":40,"repetition_penalty":1.1,' +
      '"seed":0,"stop":["END"],"return_full_text":false,"details":true}}',
    "every one of Dify's parameters, by TGI's names",
  );
  t.equal(parseGeneratedText(answer('{"generated_text":"Deep learning is"}'), 'g'), 'Deep learning is');
  t.equal(parseGeneratedText(answer('[{"generated_text":"flan says hi"}]'), 'g'), 'flan says hi');
  t.equal(sendFailure(() => parseGeneratedText(answer('{"choices":[]}'), 'g')).error.status, 502);

  t.strictSame(
    readGenerateEvent(
      '{"index":16,"token":{"id":28723,"text":".","logprob":-0.6196289,"special":false},"generated_text":null,"details":null}',
      'g',
    ),
    { chunk: { choices: [{ index: 0, delta: { content: '.' } }] } },
  );
  t.strictSame(
    readGenerateEvent(
      '{"index":17,"token":{"id":2,"text":"</s>","logprob":-0.1,"special":true},"generated_text":"This is a picture.","details":{"finish_reason":"eos_token","generated_tokens":17,"seed":null,"input_length":5}}',
      'g',
    ),
    { chunk: { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] } },
    'the special end token carries no text; eos_token is stop',
  );
  t.equal(
    readGenerateEvent(
      '{"index":3,"token":{"id":2,"text":"</s>","logprob":0,"special":true},"generated_text":"x","details":null}',
      'g',
    ),
    undefined,
  );
  t.strictSame(
    readGenerateEvent(
      '{"index":20,"token":{"id":9,"text":" and","logprob":-1,"special":false},"generated_text":"… and","details":{"finish_reason":"length","generated_tokens":20,"seed":null}}',
      'g',
    ),
    { chunk: { choices: [{ index: 0, delta: { content: ' and' }, finish_reason: 'length' }] } },
  );
  t.strictSame(readGenerateEvent('{"error":"Model is overloaded","error_type":"overloaded"}', 'g'), {
    error: { error: 'Model is overloaded', error_type: 'overloaded' },
  });
});

t.test('text2text: no stop sequences, no empty parameters', async (t) => {
  t.equal(
    text2textRequest({ messages: [{ role: 'user', content: 'translate: hi' }], stop: ['.'] }),
    '{"inputs":"translate: hi"}',
  );
  t.equal(
    text2textRequest({ messages: [{ role: 'user', content: 'x' }], maxTokens: 5, temperature: 0 }),
    '{"inputs":"x","parameters":{"max_new_tokens":5}}',
  );
  t.equal(
    text2textRequest({ messages: [{ role: 'user', content: 'x' }], topK: 40, repetitionPenalty: 1.1, seed: 7 }),
    '{"inputs":"x","parameters":{"top_k":40,"repetition_penalty":1.1}}',
    'top_k and repetition_penalty are generate() arguments; seed is not one',
  );
});

t.test('errors inside a 200 answer or stream stand for an HTTP status', async (t) => {
  const overloaded = mapInBandError({ error: 'Model is overloaded', error_type: 'overloaded' }, 'g', 'hf_key');
  t.equal(overloaded.error.status, 429);
  t.equal(overloaded.retry, 'backoff');
  t.equal(
    overloaded.error.reason,
    'Received a rate limit status code for request from inference entity id [g] status [429]. Error message: [Model is overloaded]',
  );
  // TGI chat ≥ 2.4.1 says 422 even for an overload: the message decides.
  t.equal(
    mapInBandError({ error: { message: 'Model is overloaded', http_status_code: 422 } }, 'g', 'hf_key').error.status,
    429,
  );
  const validation = mapInBandError(
    { error: { message: 'Input validation error: `top_p` must be > 0.0 and < 1.0', http_status_code: 422 } },
    'g',
    'hf_key',
  );
  t.strictSame([validation.error.status, validation.retry], [422, 'none']);
  t.equal(
    validation.error.reason,
    'Received an unsuccessful status code for request from inference entity id [g] status [422]. Error message: [Input validation error: `top_p` must be > 0.0 and < 1.0]',
  );
  t.equal(
    mapInBandError({ error: 'Input validation error: x', error_type: 'validation' }, 'g', 'hf_key').error.status,
    422,
  );
  t.equal(
    mapInBandError({ error: { message: 'bad', type: 'BadRequestError', param: null, code: 400 } }, 'g', 'hf_key').error
      .status,
    400,
    'vLLM',
  );
  const unknown = mapInBandError(
    { error: 'Request failed during generation: CUDA OOM', error_type: 'generation' },
    'g',
    'hf_key',
  );
  t.strictSame([unknown.error.status, unknown.retry], [424, 'none']);
  const incomplete = mapInBandError(
    { error: 'Incomplete generation stream', error_type: 'incomplete_generation_stream' },
    'g',
    'hf_key',
  );
  t.strictSame(
    [incomplete.error.status, incomplete.retry],
    [400, 'none'],
    'a 500 is reported as Elasticsearch reports server errors',
  );
  // An upstream that echoes the key it was sent does not pass it on (the reason reaches the client and the log).
  const echoed = mapInBandError(
    { error: { message: 'invalid token plainKey-0042 for this model', code: 401 } },
    'g',
    'plainKey-0042',
  );
  t.equal(
    echoed.error.reason,
    'Received an authentication error status code for request from inference entity id [g] status [401]. Error message: [invalid token [REDACTED] for this model]',
  );
});

t.test("chunks in Elasticsearch's field order; completion deltas", async (t) => {
  const chunk: GenerationChunk = {
    id: 'ignored',
    model: 'm',
    choices: [
      {
        index: 0,
        delta: { role: 'assistant', tool_calls: [{ index: 0 }], content: 'a', refusal: 'no' },
        finish_reason: 'stop',
      },
    ],
    usage: { total_tokens: 3, prompt_tokens: 1, completion_tokens: 2 },
  };
  t.equal(
    chunkJson('chatcmpl-1', 'm', chunk),
    '{"id":"chatcmpl-1","choices":[{"delta":{"content":"a","refusal":"no","role":"assistant","tool_calls":[{"index":0}]},"finish_reason":"stop","index":0}],"model":"m","object":"chat.completion.chunk","usage":{"completion_tokens":2,"prompt_tokens":1,"total_tokens":3}}',
  );
  t.equal(
    completionDeltas([
      { choices: [{ index: 0, delta: { content: 'Elastic' } }] },
      { choices: [{ index: 0, delta: { content: '' } }] },
      { choices: [] },
      { choices: [{ index: 0, delta: { content: ' is' } }] },
    ]),
    'event: message\ndata: {"completion":[{"delta":"Elastic"}]}\n\nevent: message\ndata: {"completion":[{"delta":" is"}]}\n\n',
  );
});

t.test('a tool-call stream that never says it finished gets finish_reason tool_calls before its usage', async (t) => {
  const format = chatFormatter(undefined);
  const call = (args: string) => ({
    choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: args } }] } }],
    model: 'm',
  });
  const text =
    format.chunks([call('{'), call('"a":1}')]) +
    format.chunks([{ choices: [], model: 'm', usage: { completion_tokens: 2, prompt_tokens: 1, total_tokens: 3 } }]) +
    format.end();
  const events = text.split('\n\n').filter(Boolean);
  const ids = new Set(events.slice(0, -1).map((e) => JSON.parse(e.slice('event: message\ndata: '.length)).id));
  t.equal(ids.size, 1, 'one id for the whole stream');
  const [id] = [...ids];
  t.match(id, /^chatcmpl-[A-Za-z0-9_-]{16}$/, 'made for the stream when the upstream gives none');
  t.strictSame(events.slice(2), [
    `event: message\ndata: {"id":"${id}","choices":[{"delta":{},"finish_reason":"tool_calls","index":0}],"model":"m","object":"chat.completion.chunk"}`,
    `event: message\ndata: {"id":"${id}","choices":[],"model":"m","object":"chat.completion.chunk","usage":{"completion_tokens":2,"prompt_tokens":1,"total_tokens":3}}`,
    'event: message\ndata: [DONE]',
  ]);
  const plain = chatFormatter('asked');
  t.equal(plain.end(), 'event: message\ndata: [DONE]\n\n', 'no tool calls: nothing added');
  const withoutUsage = chatFormatter(undefined);
  withoutUsage.chunks([{ id: 'up-1', choices: [{ index: 0, delta: { tool_calls: [{ index: 0 }] } }] }]);
  t.equal(
    withoutUsage.end(),
    'event: message\ndata: {"id":"up-1","choices":[{"delta":{},"finish_reason":"tool_calls","index":0}],"model":"","object":"chat.completion.chunk"}\n\nevent: message\ndata: [DONE]\n\n',
    "no usage chunk: the closing chunk comes before [DONE], with the upstream's id",
  );
});

t.test("OpenAI chat stream events: a reasoning model's reasoning, by any of its servers' names", async (t) => {
  const read = (delta: unknown) =>
    readChatEvent(JSON.stringify({ id: 'r', choices: [{ index: 0, delta, finish_reason: null }] }), 'c');
  t.strictSame(read({ role: 'assistant', reasoning_content: 'Hm' }), {
    chunk: { choices: [{ index: 0, delta: { role: 'assistant', reasoning: 'Hm' } }], id: 'r' },
  });
  t.strictSame(
    read({ reasoning: 'Hm', reasoning_content: 'Hm' }),
    { chunk: { choices: [{ index: 0, delta: { reasoning: 'Hm' } }], id: 'r' } },
    "vLLM's newer name wins, the text is not doubled",
  );
  const details = [{ type: 'reasoning.text', text: 'Hm', signature: null }];
  t.strictSame(
    read({ reasoning_details: details }),
    { chunk: { choices: [{ index: 0, delta: { reasoning_details: details } }], id: 'r' } },
    'structured reasoning goes on as it came',
  );
  t.strictSame(read({ reasoning: null, reasoning_details: [] }), {
    chunk: { choices: [{ index: 0, delta: {} }], id: 'r' },
  });
});
