// chat_completion: Elasticsearch's unified chat body, streamed back as bare OpenAI-style chunks in Elasticsearch's
// field order (`_stream` only).
import { randomBytes } from 'node:crypto';
import Type from 'typebox';
import { ChatCompletionRequest, type Reasoning, type ReasoningDetail } from '../../schemas/chat-completion.js';
import { errors, type ErrorCause, type EsError } from '../errors.js';
import { bodyChecker } from '../request-body.js';
import { MAX_INT, SettingsReader } from '../settings-reader.js';
import {
  SAMPLING_LIMITS,
  type GenerationChunk,
  type GenerationRequest,
  type GenerationSettings,
  type ReasoningConfig,
} from '../services/inference-service.js';
import {
  DONE_EVENT,
  errorEvent,
  generationLifecycle,
  messageEvent,
  samplingOf,
  startStream,
  streamEvents,
  type GenerationState,
} from './generation-task.js';
import { PROBE_TEXT, type Task } from './task-module.js';

const checkShape = bodyChecker(ChatCompletionRequest);

const REASONING_EFFORTS = ['xhigh', 'high', 'medium', 'low', 'minimal', 'none'] as const;
const REASONING_SUMMARIES = ['auto', 'concise', 'detailed'] as const;
const DETAIL_TYPES = ['reasoning.encrypted', 'reasoning.summary', 'reasoning.text'] as const;

const illegalArgument = (reason: string): ErrorCause => ({ type: 'illegal_argument_exception', reason });
/** What Elasticsearch's ConstructingObjectParser says when the object's constructor refuses its fields. */
const failedToBuild = (parser: string, cause: ErrorCause): ErrorCause => ({
  type: 'x_content_parse_exception',
  reason: `Failed to build [${parser}] after last required field arrived`,
  caused_by: cause,
});
/** An enum value Elasticsearch does not know (UnifiedCompletionUtils.getUnrecognizedTypeException). */
const unrecognized = (value: string, object: string, allowed: readonly string[]): ErrorCause => ({
  type: 'status_exception',
  reason: `Unrecognized type [${value}] in object [${object}], must be one of [${allowed.join(', ')}]`,
});
/** ObjectParser's refusals of a field set: none of a required set present, or more than one of an exclusive set. */
const requiredOneOf = (fields: readonly string[]) =>
  illegalArgument(`Required one of fields [${fields.join(', ')}], but none were specified.`);

/**
 * An enum value as Elasticsearch's `valueOf(name.trim().toUpperCase())` reads it (case and surrounding spaces do not
 * matter), or undefined.
 */
const enumValue = <T extends string>(value: string, allowed: readonly T[]): T | undefined =>
  allowed.find((a) => a === value.trim().toLowerCase());

/**
 * The request's `reasoning`, checked as Elasticsearch's Reasoning parser checks it (its field sets, then its
 * constructor: effort, summary, enabled), with its enum values normalised.
 */
function readReasoning(reasoning: Reasoning): ReasoningConfig {
  const refuse = (cause: ErrorCause) => errors.chatBodyField([['UnifiedCompletionRequest', 'reasoning']], cause);
  if (reasoning.effort === undefined && reasoning.enabled === undefined)
    throw refuse(requiredOneOf(['effort', 'enabled']));
  const out: ReasoningConfig = {};
  if (reasoning.effort !== undefined) {
    out.effort = enumValue(reasoning.effort, REASONING_EFFORTS);
    if (out.effort === undefined)
      throw refuse(failedToBuild('Reasoning', unrecognized(reasoning.effort, 'effort', REASONING_EFFORTS)));
  }
  if (reasoning.summary !== undefined) {
    out.summary = enumValue(reasoning.summary, REASONING_SUMMARIES);
    if (out.summary === undefined)
      throw refuse(failedToBuild('Reasoning', unrecognized(reasoning.summary, 'summary', REASONING_SUMMARIES)));
  }
  if (reasoning.enabled === false && out.effort === undefined) {
    throw refuse(
      failedToBuild('Reasoning', {
        type: 'status_exception',
        reason: 'When [enabled] is false, [effort] must be specified.',
      }),
    );
  }
  if (reasoning.enabled !== undefined) out.enabled = reasoning.enabled;
  if (reasoning.exclude !== undefined) out.exclude = reasoning.exclude;
  return out;
}

/**
 * What Elasticsearch's ReasoningDetail parser refuses in one detail, in its order: two fields of an exclusive set, none
 * of the required set, no `type`, then its constructor (the type, the fields that type needs).
 */
function detailProblem(detail: ReasoningDetail): ErrorCause | undefined {
  const present = Object.keys(detail).filter((k) => detail[k as keyof ReasoningDetail] !== undefined);
  const clashes = [
    ['data', 'summary', 'text'],
    ['data', 'summary', 'signature'],
  ]
    .map((set) => present.filter((field) => set.includes(field)))
    .filter((found) => found.length > 1);
  if (clashes.length > 0)
    return illegalArgument(
      clashes.map((found) => `The following fields are not allowed together: [${found.join(', ')}] `).join(''),
    );
  const required = ['data', 'summary', 'text', 'signature'];
  if (!required.some((field) => present.includes(field))) return requiredOneOf(required);
  if (detail.type === undefined) return illegalArgument('Required [type]');
  const type = DETAIL_TYPES.find((t) => t === detail.type);
  if (type === undefined)
    return failedToBuild('ReasoningDetail', unrecognized(detail.type, 'reasoning_detail_type', DETAIL_TYPES));
  // Elasticsearch fails these two with a NullPointerException of no message: the reason here is ours.
  if (type === 'reasoning.encrypted' && detail.data === undefined)
    return failedToBuild(
      'ReasoningDetail',
      illegalArgument(`Field [data] is required for reasoning details of type [${type}]`),
    );
  if (type === 'reasoning.summary' && detail.summary === undefined)
    return failedToBuild(
      'ReasoningDetail',
      illegalArgument(`Field [summary] is required for reasoning details of type [${type}]`),
    );
  if (type === 'reasoning.text' && detail.text === undefined && detail.signature === undefined)
    return failedToBuild(
      'ReasoningDetail',
      illegalArgument(
        'At least one of [text, signature] must be provided for reasoning details of type [reasoning.text]',
      ),
    );
  return undefined;
}

/**
 * The body as Elasticsearch reads it before any endpoint is looked up: its structure, the values its parsers refuse
 * (reasoning), then the request's validation (messages present and not empty).
 */
function checkBody(body: unknown): ChatCompletionRequest {
  const request = checkShape(body);
  if (request.reasoning !== undefined && request.reasoning !== null) readReasoning(request.reasoning);
  for (const message of request.messages ?? []) {
    for (const detail of message.reasoning_details ?? []) {
      const problem = detailProblem(detail);
      if (problem)
        throw errors.chatBodyField(
          [
            ['UnifiedCompletionRequest', 'messages'],
            ['Message', 'reasoning_details'],
          ],
          problem,
        );
    }
  }
  if (request.messages === undefined || request.messages === null) throw errors.messagesNull();
  if (request.messages.length === 0) throw errors.messagesEmpty();
  return request;
}

/**
 * The conversation and its sampling: the request's fields over the endpoint's task settings.
 * `max_completion_tokens` is sent as `max_tokens` (TGI ignores the former).
 */
function readChatRequest(body: ChatCompletionRequest, stored: GenerationSettings): GenerationRequest {
  const problems: string[] = [];
  const reader = new SettingsReader(
    {
      max_completion_tokens: body.max_completion_tokens,
      temperature: body.temperature,
      top_p: body.top_p,
      stop: typeof body.stop === 'string' ? [body.stop] : body.stop,
    },
    'chat_completion_request',
    problems,
  );
  const maxTokens = reader.takeInteger('max_completion_tokens', { max: MAX_INT });
  const temperature = reader.takeNumber('temperature', SAMPLING_LIMITS.temperature);
  const topP = reader.takeNumber('top_p', SAMPLING_LIMITS.top_p);
  const stop = reader.takeStringList('stop', { max: SAMPLING_LIMITS.stopSequences });
  if (problems.length > 0) throw errors.validation(problems);
  const request: GenerationRequest = {
    // Forwarded as they came, without the fields the request left null.
    // checkBody made sure there are messages.
    messages: body.messages!.map((m) => {
      const message: GenerationRequest['messages'][number] = { role: m.role };
      if (m.content !== undefined && m.content !== null) message.content = m.content;
      if (m.tool_call_id !== undefined && m.tool_call_id !== null) message.tool_call_id = m.tool_call_id;
      if (m.tool_calls !== undefined && m.tool_calls !== null) message.tool_calls = m.tool_calls;
      // reasoning_details (signed or encrypted reasoning of hosted APIs) mean nothing to the OpenAI-compatible
      // servers of Hugging Face models: accepted, checked, not sent.
      if (m.reasoning !== undefined && m.reasoning !== null) message.reasoning = m.reasoning;
      return message;
    }),
    ...samplingOf(stored),
  };
  if (body.model !== undefined && body.model !== null) request.model = body.model;
  if (maxTokens !== undefined) request.maxTokens = maxTokens;
  if (temperature !== undefined) request.temperature = temperature;
  if (topP !== undefined) request.topP = topP;
  if (stop !== undefined) request.stop = stop;
  if (body.tools !== undefined && body.tools !== null) {
    // Null fields of a tool are left out rather than sent.
    request.tools = body.tools.map((tool) => ({
      type: tool.type,
      function: Object.fromEntries(Object.entries(tool.function).filter(([, v]) => v !== null && v !== undefined)),
    }));
  }
  if (body.tool_choice !== undefined && body.tool_choice !== null) request.toolChoice = body.tool_choice;
  if (body.reasoning !== undefined && body.reasoning !== null) request.reasoning = readReasoning(body.reasoning);
  return request;
}

/**
 * A chunk as Elasticsearch 9.x sends it (StreamingUnifiedChatCompletionResults): `id`, `choices` (`delta` {content,
 * refusal, role, reasoning, tool_calls, reasoning_details}, `finish_reason`, `index`), `model`, `object`, `usage`.
 */
export function chunkJson(id: string, model: string, chunk: GenerationChunk): string {
  const choices = chunk.choices.map((c) => {
    const delta: Record<string, unknown> = {};
    if (c.delta.content !== undefined) delta.content = c.delta.content;
    if (c.delta.refusal !== undefined) delta.refusal = c.delta.refusal;
    if (c.delta.role !== undefined) delta.role = c.delta.role;
    if (c.delta.reasoning !== undefined) delta.reasoning = c.delta.reasoning;
    if (c.delta.tool_calls !== undefined) delta.tool_calls = c.delta.tool_calls;
    if (c.delta.reasoning_details !== undefined) delta.reasoning_details = c.delta.reasoning_details;
    const choice: Record<string, unknown> = { delta };
    if (c.finish_reason !== undefined) choice.finish_reason = c.finish_reason;
    choice.index = c.index;
    return choice;
  });
  const out: Record<string, unknown> = { id, choices, model, object: 'chat.completion.chunk' };
  if (chunk.usage) {
    const { completion_tokens, prompt_tokens, total_tokens } = chunk.usage;
    out.usage = { completion_tokens, prompt_tokens, total_tokens };
  }
  return JSON.stringify(out);
}

/**
 * `{"error":{"code","message","type":"hugging_face_error"}}`: OpenAI's error shape; `code` is the HTTP status the
 * failure stands for.
 */
const chatErrorJson = (error: EsError) =>
  JSON.stringify({ error: { code: String(error.status), message: error.reason, type: 'hugging_face_error' } });

/**
 * A chunk without its reasoning (the request's `reasoning.exclude`), or undefined when that leaves it with nothing to
 * say (no text, role, tool call, finish or usage).
 */
function withoutReasoning(chunk: GenerationChunk): GenerationChunk | undefined {
  if (!chunk.choices.some((c) => c.delta.reasoning !== undefined || c.delta.reasoning_details !== undefined))
    return chunk;
  const choices = chunk.choices
    .map((c) => {
      const { reasoning: _reasoning, reasoning_details: _details, ...delta } = c.delta;
      return { ...c, delta };
    })
    .filter((c) => Object.keys(c.delta).length > 0 || c.finish_reason !== undefined);
  if (choices.length === 0 && chunk.usage === undefined) return undefined;
  return { ...chunk, choices };
}

/**
 * The event formatting of one chat stream. The id is the upstream's, or one made for the stream
 * when the upstream gives none (TGI's is ""). A stream that made tool calls but never said it
 * finished (TGI's tool streams end that way) gets a closing chunk with `finish_reason:
 * "tool_calls"` before its usage and `[DONE]`, as OpenAI's clients expect.
 * With `excludeReasoning`, reasoning is left out (an upstream may send it though asked not to).
 */
export function chatFormatter(requestModel: string | undefined, excludeReasoning = false) {
  let id: string | undefined;
  let model = requestModel ?? '';
  let calledTools = false;
  let finished = false;
  const closing = () => {
    finished = true;
    return messageEvent(chunkJson(id!, model, { choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] }));
  };
  return {
    chunks(batch: readonly GenerationChunk[]): string {
      let out = '';
      for (const received of batch) {
        const chunk = excludeReasoning ? withoutReasoning(received) : received;
        if (chunk === undefined) continue;
        id ??= chunk.id ?? `chatcmpl-${randomBytes(12).toString('base64url')}`;
        if (chunk.model !== undefined) model = chunk.model;
        for (const choice of chunk.choices) {
          if (choice.delta.tool_calls) calledTools = true;
          if (choice.finish_reason !== undefined) finished = true;
        }
        if (calledTools && !finished && chunk.choices.length === 0) out += closing();
        out += messageEvent(chunkJson(id, model, chunk));
      }
      return out;
    },
    end: () => (calledTools && !finished ? closing() + DONE_EVENT : DONE_EVENT),
    failed: (error: EsError) => errorEvent(chatErrorJson(error)),
  };
}

export const chatCompletionTask: Task<'chat_completion', unknown, GenerationState, ChatCompletionRequest> = {
  taskType: 'chat_completion',
  chunked: false,
  // Answers only on _stream: the document shows its body there, never as a plain POST's result.
  requestSchema: ChatCompletionRequest,
  resultSchema: Type.Never(),
  checkBody: (body) => body,
  ...generationLifecycle,

  streaming: {
    checkBody,
    async run(state, endpoint, body, lifetime) {
      const request = readChatRequest(body, endpoint.taskSettings(undefined));
      const stream = await startStream(state, request, lifetime);
      return streamEvents(state, stream, chatFormatter(request.model, request.reasoning?.exclude === true));
    },
  },

  // A streamed answer of a single token, read to its end (the only way this task calls the upstream).
  async validate(endpoint, signal) {
    const stream = await endpoint.operations.stream(
      { messages: [{ role: 'user', content: PROBE_TEXT }], maxTokens: 1 },
      signal,
    );
    for await (const chunks of stream) void chunks;
    return {};
  },
};
