// chat_completion: Elasticsearch's unified chat body, streamed back as bare OpenAI-style chunks in Elasticsearch's
// field order (`_stream` only).
import { randomBytes } from 'node:crypto';
import Type from 'typebox';
import { ChatCompletionRequest } from '../../schemas/chat-completion.js';
import { errors, type EsError } from '../errors.js';
import { bodyChecker } from '../request-body.js';
import { MAX_INT, SettingsReader } from '../settings-reader.js';
import {
  SAMPLING_LIMITS,
  type GenerationChunk,
  type GenerationRequest,
  type GenerationSettings,
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

const checkBody = bodyChecker(ChatCompletionRequest);

/**
 * The conversation and its sampling: the request's fields over the endpoint's task settings.
 * `max_completion_tokens` is sent as `max_tokens` (TGI ignores the former).
 */
function readChatRequest(body: ChatCompletionRequest, stored: GenerationSettings): GenerationRequest {
  if (body.messages === undefined || body.messages === null) throw errors.messagesNull();
  if (body.messages.length === 0) throw errors.messagesEmpty();
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
    messages: body.messages.map((m) => {
      const message: GenerationRequest['messages'][number] = { role: m.role };
      if (m.content !== undefined && m.content !== null) message.content = m.content;
      if (m.tool_call_id !== undefined && m.tool_call_id !== null) message.tool_call_id = m.tool_call_id;
      if (m.tool_calls !== undefined && m.tool_calls !== null) message.tool_calls = m.tool_calls;
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
  return request;
}

/**
 * A chunk as Elasticsearch sends it: `id`, `choices` (`delta` {content, refusal, role, tool_calls}, `finish_reason`,
 * `index`), `model`, `object`, `usage`.
 */
export function chunkJson(id: string, model: string, chunk: GenerationChunk): string {
  const choices = chunk.choices.map((c) => {
    const delta: Record<string, unknown> = {};
    if (c.delta.content !== undefined) delta.content = c.delta.content;
    if (c.delta.refusal !== undefined) delta.refusal = c.delta.refusal;
    if (c.delta.role !== undefined) delta.role = c.delta.role;
    if (c.delta.tool_calls !== undefined) delta.tool_calls = c.delta.tool_calls;
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
 * The event formatting of one chat stream. The id is the upstream's, or one made for the stream
 * when the upstream gives none (TGI's is ""). A stream that made tool calls but never said it
 * finished (TGI's tool streams end that way) gets a closing chunk with `finish_reason:
 * "tool_calls"` before its usage and `[DONE]`, as OpenAI's clients expect.
 */
export function chatFormatter(requestModel: string | undefined) {
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
      for (const chunk of batch) {
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
      return streamEvents(state, stream, chatFormatter(request.model));
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
