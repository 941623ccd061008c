// TypeBox schema of Elasticsearch's unified chat completion request: POST /_inference/chat_completion/{id}/_stream.
import Type, { type Static } from 'typebox';
import { Long, Nullable } from './common.js';

const closed = { additionalProperties: false } as const;

const TextPart = Type.Object({ type: Type.Literal('text'), text: Type.String() }, closed);

const ToolCall = Type.Object(
  {
    id: Type.String(),
    type: Type.Literal('function'),
    function: Type.Object({ name: Type.String(), arguments: Type.String() }, closed),
  },
  closed,
);

const ChatMessage = Type.Object(
  {
    role: Type.String(),
    content: Nullable(Type.Union([Type.String(), Type.Array(TextPart)])),
    tool_call_id: Nullable(Type.String()),
    tool_calls: Nullable(Type.Array(ToolCall)),
  },
  { ...closed, description: 'A message: role system, user, assistant or tool; content as text or text parts.' },
);

const Tool = Type.Object(
  {
    type: Type.Literal('function'),
    function: Type.Object(
      {
        name: Type.String(),
        description: Nullable(Type.String()),
        parameters: Nullable(Type.Record(Type.String(), Type.Unknown())),
        strict: Nullable(Type.Boolean()),
      },
      closed,
    ),
  },
  closed,
);

const ToolChoice = Type.Union([
  Type.String({ description: 'auto, none or required' }),
  Type.Object({ type: Type.Literal('function'), function: Type.Object({ name: Type.String() }, closed) }, closed),
]);

export const ChatCompletionRequest = Type.Object(
  {
    messages: Nullable(Type.Array(ChatMessage)),
    model: Nullable(Type.String()),
    max_completion_tokens: Nullable(Long()),
    stop: Nullable(Type.Union([Type.String(), Type.Array(Type.String())])),
    temperature: Nullable(Type.Number()),
    tool_choice: Nullable(ToolChoice),
    tools: Nullable(Type.Array(Tool)),
    top_p: Nullable(Type.Number()),
  },
  { ...closed, description: 'A conversation to continue, answered as a stream of chat completion chunks.' },
);
export type ChatCompletionRequest = Static<typeof ChatCompletionRequest>;
