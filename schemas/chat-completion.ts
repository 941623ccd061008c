// TypeBox schema of Elasticsearch's unified chat completion request: POST /_inference/chat_completion/{id}/_stream (and
// `_unified`).
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

/**
 * One piece of an assistant message's structured reasoning, by its `type`: `reasoning.encrypted` (`data`),
 * `reasoning.summary` (`summary`) or `reasoning.text` (`text` and/or `signature`). Which fields go with which type is
 * checked by the chat_completion task, in Elasticsearch's words.
 */
const ReasoningDetail = Type.Object(
  {
    type: Type.Optional(Type.String({ description: 'reasoning.encrypted, reasoning.summary or reasoning.text' })),
    format: Type.Optional(Type.String()),
    id: Type.Optional(Type.String()),
    index: Type.Optional(Long()),
    data: Type.Optional(Type.String()),
    summary: Type.Optional(Type.String()),
    text: Type.Optional(Type.String()),
    signature: Type.Optional(Type.String()),
  },
  closed,
);
export type ReasoningDetail = Static<typeof ReasoningDetail>;

const ChatMessage = Type.Object(
  {
    role: Type.String(),
    content: Nullable(Type.Union([Type.String(), Type.Array(TextPart)])),
    tool_call_id: Nullable(Type.String()),
    tool_calls: Nullable(Type.Array(ToolCall)),
    reasoning: Nullable(Type.String({ description: "An assistant message's reasoning as plain text." })),
    reasoning_details: Nullable(Type.Array(ReasoningDetail)),
  },
  { ...closed, description: 'A message: role system, user, assistant or tool; content as text or text parts.' },
);

/** How the model reasons: at least one of `effort` and `enabled` (checked by the task). */
const Reasoning = Type.Object(
  {
    effort: Type.Optional(Type.String({ description: 'xhigh, high, medium, low, minimal or none' })),
    enabled: Type.Optional(Type.Boolean()),
    exclude: Type.Optional(Type.Boolean({ description: 'true: the answer carries no reasoning' })),
    summary: Type.Optional(Type.String({ description: 'auto, concise or detailed' })),
  },
  closed,
);
export type Reasoning = Static<typeof Reasoning>;

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
    reasoning: Nullable(Reasoning),
    stop: Nullable(Type.Union([Type.String(), Type.Array(Type.String())])),
    temperature: Nullable(Type.Number()),
    tool_choice: Nullable(ToolChoice),
    tools: Nullable(Type.Array(Tool)),
    top_p: Nullable(Type.Number()),
  },
  { ...closed, description: 'A conversation to continue, answered as a stream of chat completion chunks.' },
);
export type ChatCompletionRequest = Static<typeof ChatCompletionRequest>;
