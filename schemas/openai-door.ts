// TypeBox schemas of the OpenAI door (docs/doors.md#the-openai-door): its requests, as far as the service reads them
// (other fields OpenAI's clients send are accepted and ignored), its answers and its error shape.
import Type, { type Static } from 'typebox';
import { Long, Nullable } from './common.js';

const open = { additionalProperties: true } as const;

const StringOrList = Type.Union([Type.String(), Type.Array(Type.String())]);

export const OpenAiEmbeddingRequest = Type.Object(
  {
    model: Type.String({ description: 'The inference id of a text_embedding endpoint.' }),
    input: Type.Union([StringOrList, Type.Array(Type.Integer()), Type.Array(Type.Array(Type.Integer()))], {
      description: 'A text or a list of texts (token arrays are refused: the model tokenizes itself).',
    }),
    encoding_format: Type.Optional(Type.Union([Type.Literal('float'), Type.Literal('base64')])),
    dimensions: Type.Optional(Type.Integer({ minimum: 1 })),
    user: Type.Optional(Type.String()),
  },
  { ...open, description: "OpenAI's embeddings request; `model` names an endpoint of this service." },
);
export type OpenAiEmbeddingRequest = Static<typeof OpenAiEmbeddingRequest>;

export const OpenAiEmbeddingResponse = Type.Object(
  {
    object: Type.Literal('list'),
    data: Type.Array(
      Type.Object({
        object: Type.Literal('embedding'),
        index: Type.Integer({ minimum: 0 }),
        embedding: Type.Union([Type.Array(Type.Number()), Type.String({ description: 'base64 of float32, LE' })]),
      }),
    ),
    model: Type.String(),
  },
  { description: 'One vector per input, in input order (no usage: the upstream does not count tokens).' },
);

const TextPart = Type.Object({ type: Type.String(), text: Type.Optional(Type.String()) }, open);
const ChatMessage = Type.Object(
  {
    role: Type.String(),
    content: Nullable(Type.Union([Type.String(), Type.Array(TextPart)])),
    name: Type.Optional(Type.String()),
    tool_call_id: Nullable(Type.String()),
    tool_calls: Nullable(Type.Array(Type.Unknown())),
    reasoning: Nullable(Type.String()),
  },
  open,
);

const Sampling = {
  max_tokens: Nullable(Long()),
  temperature: Nullable(Type.Number()),
  top_p: Nullable(Type.Number()),
  seed: Nullable(Long()),
  stop: Nullable(StringOrList),
  n: Nullable(Type.Integer({ description: 'Only 1.' })),
  stream: Nullable(Type.Boolean()),
  stream_options: Nullable(Type.Object({ include_usage: Type.Optional(Type.Boolean()) }, open)),
};

export const OpenAiChatRequest = Type.Object(
  {
    model: Type.String({ description: 'The inference id of a chat_completion endpoint.' }),
    messages: Type.Array(ChatMessage),
    ...Sampling,
    max_completion_tokens: Nullable(Long()),
    tools: Nullable(Type.Array(Type.Unknown())),
    tool_choice: Nullable(Type.Unknown()),
    reasoning_effort: Nullable(Type.String()),
  },
  { ...open, description: "OpenAI's chat completions request; `model` names a chat_completion endpoint." },
);
export type OpenAiChatRequest = Static<typeof OpenAiChatRequest>;

export const OpenAiCompletionRequest = Type.Object(
  {
    model: Type.String({ description: 'The inference id of a completion endpoint.' }),
    prompt: Type.Union([StringOrList, Type.Array(Type.Integer()), Type.Array(Type.Array(Type.Integer()))]),
    ...Sampling,
  },
  { ...open, description: "OpenAI's (legacy) completions request; `model` names a completion endpoint." },
);
export type OpenAiCompletionRequest = Static<typeof OpenAiCompletionRequest>;

const Usage = Type.Object({
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  total_tokens: Type.Integer(),
});

export const OpenAiChatResponse = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('chat.completion'),
    created: Type.Integer(),
    model: Type.String(),
    choices: Type.Array(
      Type.Object({
        index: Type.Integer(),
        message: Type.Object({ role: Type.Literal('assistant'), content: Type.Union([Type.String(), Type.Null()]) }),
        finish_reason: Type.Union([Type.String(), Type.Null()]),
        logprobs: Type.Null(),
      }),
    ),
    usage: Type.Optional(Usage),
  },
  { description: 'The whole answer; with `stream: true`, server-sent `chat.completion.chunk` events and `[DONE]`.' },
);

export const OpenAiCompletionResponse = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('text_completion'),
    created: Type.Integer(),
    model: Type.String(),
    choices: Type.Array(
      Type.Object({
        index: Type.Integer(),
        text: Type.String(),
        finish_reason: Type.Union([Type.String(), Type.Null()]),
        logprobs: Type.Null(),
      }),
    ),
  },
  { description: 'One choice per prompt; with `stream: true`, server-sent `text_completion` chunks and `[DONE]`.' },
);

export const OpenAiModel = Type.Object(
  {
    id: Type.String({ description: 'The inference id.' }),
    object: Type.Literal('model'),
    created: Type.Integer(),
    owned_by: Type.String(),
    task_type: Type.String({ description: "The endpoint's task type (ours)." }),
  },
  { additionalProperties: false },
);

export const OpenAiModelList = Type.Object(
  { object: Type.Literal('list'), data: Type.Array(OpenAiModel) },
  { additionalProperties: false, description: "Every endpoint, as OpenAI's model objects." },
);

export const OpenAiModelDeleted = Type.Object(
  { id: Type.String(), object: Type.Literal('model'), deleted: Type.Boolean() },
  { additionalProperties: false, description: 'The endpoint was deleted (manage_inference).' },
);

export const OpenAiModelParams = Type.Object({ model: Type.String() });

const OpenAiErrorBody = Type.Object(
  {
    error: Type.Object(
      {
        message: Type.String(),
        type: Type.String(),
        param: Type.Union([Type.String(), Type.Null()]),
        code: Type.Union([Type.String(), Type.Null()]),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, description: "OpenAI's error shape." },
);

/** Every OpenAI door route's error answers. */
export const OpenAiErrorResponses = { default: OpenAiErrorBody } as const;

/** A streamed answer: server-sent events. */
export const OpenAiStream = {
  content: { 'text/event-stream': { schema: Type.String({ description: '`data: {chunk}` events, then `[DONE]`' }) } },
};
