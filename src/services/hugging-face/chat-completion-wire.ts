// OpenAI-compatible chat completions on the wire (TGI ≥ 1.4, vLLM, Inference Endpoints, the Hugging Face router):
// request body, answer, stream chunks.
import type {
  GenerationChoice,
  GenerationChunk,
  GenerationRequest,
  ReasoningConfig,
  TokenUsage,
} from '../inference-service.js';
import { badAnswer, describeShape, isJsonObject, type JsonAnswer } from './call.js';
import {
  eventObject,
  normaliseFinishReason,
  type GenerationProtocol,
  type StreamReading,
} from './generation-protocol.js';
import { isDone } from '../upstream/sse.js';

const CHAT_PATH = '/v1/chat/completions';

/**
 * Where chat requests go: the router for a hosted model; a url that already ends in
 * `/chat/completions` as it is; `…/v1` + `/chat/completions`; any other url is a server's base
 * (an Inference Endpoint or TGI url as Dify takes it) + `/v1/chat/completions`.
 */
export function chatUrl(url: string | undefined, routerBase: string): string {
  if (url === undefined) return `${routerBase}${CHAT_PATH}`;
  const parsed = new URL(url);
  const path = parsed.pathname.replace(/\/+$/, '');
  if (/\/chat\/completions$/.test(path)) return url;
  parsed.pathname = /\/v1$/.test(path) ? `${path}/chat/completions` : `${path}${CHAT_PATH}`;
  return parsed.toString();
}

/**
 * `reasoning.effort` as the OpenAI-compatible servers take it: vLLM's `reasoning_effort` is one of low, medium and high
 * (its ChatCompletionRequest), so `xhigh` is sent as high and `minimal` as low; `none` is no effort at all (see
 * reasoningFields). `enabled` alone means medium (Elasticsearch's API document).
 */
function effortSent(reasoning: ReasoningConfig): 'low' | 'medium' | 'high' | undefined {
  switch (reasoning.effort) {
    case 'xhigh':
    case 'high':
      return 'high';
    case 'medium':
      return 'medium';
    case 'low':
    case 'minimal':
      return 'low';
    case 'none':
      return undefined;
    default:
      return reasoning.enabled === true ? 'medium' : undefined;
  }
}

/**
 * The upstream fields of a request's `reasoning` (docs/api.md#reasoning): `reasoning_effort`; `include_reasoning:
 * false` for `exclude` (vLLM leaves the reasoning out of its answer); and whether the model thinks at all, as the chat
 * templates of Qwen3-style models read it (`chat_template_kwargs.enable_thinking`, passed to the template by vLLM).
 * `summary` has no Chat Completions equivalent and is not sent. TGI ignores all of them.
 */
function reasoningFields(reasoning: ReasoningConfig): { effort?: string; include?: false; thinking?: boolean } {
  const out: { effort?: string; include?: false; thinking?: boolean } = {};
  const effort = effortSent(reasoning);
  if (effort !== undefined) out.effort = effort;
  if (reasoning.effort === 'none') out.thinking = false;
  else if (effort !== undefined) out.thinking = true;
  if (reasoning.exclude === true) out.include = false;
  return out;
}

/**
 * The request body, in OpenAI's field order. `max_tokens` (not `max_completion_tokens`: TGI
 * ignores that one); `top_p` of 1 is not sent (it means no filtering, every server's default,
 * and TGI refuses it); usage is asked for on streams. `seed` is OpenAI's own; `top_k` and
 * `repetition_penalty` are not, and go last, as the extra fields vLLM's OpenAI-compatible server
 * reads (vLLM's docs, "Extra Parameters" of its Chat API); TGI's Messages API has neither field
 * and ignores them (docs/api.md#generation-parameters-by-protocol). `reasoning_effort` follows
 * `tool_choice`; vLLM's `include_reasoning` and `chat_template_kwargs` go last (reasoningFields).
 */
export function chatRequest(request: GenerationRequest, model: string | undefined, stream: boolean): string {
  const body: Record<string, unknown> = {};
  const name = request.model ?? model;
  if (name !== undefined) body.model = name;
  // A message's reasoning under the name the chat templates of reasoning models read (Qwen3, DeepSeek-R1).
  body.messages = request.messages.map(({ reasoning, ...message }) =>
    reasoning === undefined ? message : { ...message, reasoning_content: reasoning },
  );
  body.n = 1;
  body.stream = stream;
  if (stream) body.stream_options = { include_usage: true };
  if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens;
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.topP !== undefined && request.topP < 1) body.top_p = request.topP;
  if (request.seed !== undefined) body.seed = request.seed;
  if (request.stop !== undefined && request.stop.length > 0) body.stop = request.stop;
  if (request.tools !== undefined) body.tools = request.tools;
  if (request.toolChoice !== undefined) body.tool_choice = request.toolChoice;
  const reasoning = request.reasoning && reasoningFields(request.reasoning);
  if (reasoning?.effort !== undefined) body.reasoning_effort = reasoning.effort;
  if (request.topK !== undefined) body.top_k = request.topK;
  if (request.repetitionPenalty !== undefined) body.repetition_penalty = request.repetitionPenalty;
  if (reasoning?.include !== undefined) body.include_reasoning = reasoning.include;
  if (reasoning?.thinking !== undefined) body.chat_template_kwargs = { enable_thinking: reasoning.thinking };
  return JSON.stringify(body);
}

/** `choices[0].message.content` of a whole answer (empty when the model answered with tool calls only). */
export function parseChatAnswer(answer: JsonAnswer, inferenceId: string): string {
  const body = answer.body;
  const choice: unknown = isJsonObject(body) && Array.isArray(body.choices) ? body.choices[0] : undefined;
  const message = isJsonObject(choice) ? choice.message : undefined;
  if (!isJsonObject(message))
    throw badAnswer(inferenceId, `expected {"choices":[{"message":{…}}]}, got ${describeShape(body)}`);
  const content = message.content;
  if (content === undefined || content === null) return '';
  if (typeof content !== 'string')
    throw badAnswer(inferenceId, `expected the message content to be a string, got ${describeShape(content)}`);
  return content;
}

function readUsage(value: unknown): TokenUsage | undefined {
  if (!isJsonObject(value)) return undefined;
  const { completion_tokens, prompt_tokens, total_tokens } = value;
  if (typeof completion_tokens !== 'number' || typeof prompt_tokens !== 'number' || typeof total_tokens !== 'number')
    return undefined;
  return { completion_tokens, prompt_tokens, total_tokens };
}

function readChoice(value: unknown, position: number): GenerationChoice | undefined {
  if (!isJsonObject(value)) return undefined;
  const delta = isJsonObject(value.delta) ? value.delta : {};
  const out: GenerationChoice = { index: typeof value.index === 'number' ? value.index : position, delta: {} };
  if (typeof delta.content === 'string') out.delta.content = delta.content;
  if (typeof delta.refusal === 'string') out.delta.refusal = delta.refusal;
  if (typeof delta.role === 'string') out.delta.role = delta.role;
  // A reasoning model's thoughts: vLLM's `reasoning` (its older `reasoning_content`, still sent by many servers).
  const reasoning = typeof delta.reasoning === 'string' ? delta.reasoning : delta.reasoning_content;
  if (typeof reasoning === 'string') out.delta.reasoning = reasoning;
  // Tool calls and structured reasoning go on exactly as the upstream sent them.
  if (Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0) out.delta.tool_calls = delta.tool_calls;
  if (Array.isArray(delta.reasoning_details) && delta.reasoning_details.length > 0)
    out.delta.reasoning_details = delta.reasoning_details;
  const finish = normaliseFinishReason(value.finish_reason);
  if (finish !== undefined) out.finish_reason = finish;
  return out;
}

/**
 * The token chunk as vLLM, OpenAI and TGI write it, byte for byte: one choice whose delta is its text (after the role,
 * which TGI repeats), compact, in their key orders, every string without an escape or a control character (so that its
 * text is its JSON text as it stands). Groups: the id (in either place), the model, the index, the role, the content,
 * the finish reason.
 */
/* eslint-disable no-control-regex -- what a JSON string may not hold unescaped is the point here */
const TOKEN_CHUNK =
  /^\{(?:"id":"([^"\\\x00-\x1f]*)","object":"chat\.completion\.chunk"|"object":"chat\.completion\.chunk","id":"([^"\\\x00-\x1f]*)"),"created":(?:0|[1-9]\d{0,15}),"model":"([^"\\\x00-\x1f]*)",(?:"system_fingerprint":"[^"\\\x00-\x1f]*",)?"choices":\[\{"index":(0|[1-9]\d{0,8}),"delta":\{(?:"role":"([^"\\\x00-\x1f]*)",)?"content":"([^"\\\x00-\x1f]*)"\},"logprobs":null,"finish_reason":(?:null|"([a-z_]{1,40})")\}\](?:,"usage":null)?\}$/;
/* eslint-enable no-control-regex */

/**
 * A token chunk of the common shape (TOKEN_CHUNK) read without JSON.parse: the same chunk as the full reading gives, in
 * the same key order. Undefined for any other event.
 */
function tokenChunk(data: string): GenerationChunk | undefined {
  const m = TOKEN_CHUNK.exec(data);
  if (m === null) return undefined;
  const delta: GenerationChoice['delta'] = { content: m[6]! };
  if (m[5] !== undefined) delta.role = m[5];
  const choice: GenerationChoice = { index: Number(m[4]), delta };
  const finish = normaliseFinishReason(m[7]);
  if (finish !== undefined) choice.finish_reason = finish;
  const chunk: GenerationChunk = { choices: [choice] };
  const id = m[1] ?? m[2]!;
  if (id !== '') chunk.id = id;
  chunk.model = m[3]!;
  return chunk;
}

/**
 * One event of a chat stream: `[DONE]`, an error (any payload with an `error` key: TGI, vLLM and
 * OpenAI all differ), or a chunk reduced to what Elasticsearch sends (`created`,
 * `system_fingerprint`, `logprobs` and null usage are dropped). A token chunk of the common shape is read by a pattern
 * (tokenChunk), in about a seventh of the time and without the objects JSON.parse makes; any other event, fully.
 */
export function readChatEvent(data: string, inferenceId: string): StreamReading {
  const token = tokenChunk(data);
  if (token !== undefined) return { chunk: token };
  if (isDone(data)) return { done: true };
  const payload = eventObject(data, inferenceId, 'a chat completion chunk');
  if ('error' in payload) return { error: payload };
  const choices = Array.isArray(payload.choices)
    ? payload.choices.map(readChoice).filter((c): c is GenerationChoice => c !== undefined)
    : [];
  const usage = readUsage(payload.usage);
  if (choices.length === 0 && usage === undefined) return undefined;
  const chunk: GenerationChunk = { choices };
  if (typeof payload.id === 'string' && payload.id !== '') chunk.id = payload.id;
  if (typeof payload.model === 'string') chunk.model = payload.model;
  if (usage) chunk.usage = usage;
  return { chunk };
}

/** OpenAI-compatible chat, to `url` (already resolved by chatUrl), with `model` when the endpoint names one. */
export function openAiChatProtocol(url: string, model: string | undefined): GenerationProtocol {
  return {
    streams: true,
    urls: [url],
    request: (request, stream) => ({ url, body: chatRequest(request, model, stream) }),
    parseAnswer: parseChatAnswer,
    readEvent: readChatEvent,
  };
}
