// The OpenAI door (docs/doors.md#the-openai-door): OpenAI's embeddings, chat completions, completions and models,
// translated to and from the runner's calls on the endpoints `model` names.
import { randomBytes } from 'node:crypto';
import type { OpenAiChatRequest, OpenAiCompletionRequest, OpenAiEmbeddingRequest } from '../../schemas/openai-door.js';
import type { EndpointRegistry, EndpointView } from '../endpoints/registry.js';
import { errors, type EsError } from '../errors.js';
import { openAiStreamError } from './door-errors.js';
import { nowSeconds, runnerCall, type DoorAnswer, type DoorRequest, type DoorRunner } from './door-call.js';
import { completionDeltas, inferenceEvents, streamFailure } from './inference-events.js';
import { vectorJson } from '../tasks/text-embedding-task.js';

/** What a chunk of the runner's chat stream holds (OpenAI's chunk, in Elasticsearch's field order). */
interface EsChatChunk {
  id?: string;
  choices: Array<{ delta: Record<string, unknown>; finish_reason?: string; index: number }>;
  usage?: { completion_tokens: number; prompt_tokens: number; total_tokens: number };
}

interface ToolCallDelta {
  index?: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}

const dataEvent = (data: unknown) => `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
const DONE = 'data: [DONE]\n\n';

/** Token arrays are OpenAI's too, but a Hugging Face endpoint tokenizes its own text. */
function readTexts(value: unknown, field: string): string[] {
  const texts = typeof value === 'string' ? [value] : (value as unknown[]);
  if (!texts.every((t): t is string => typeof t === 'string'))
    throw errors.badRequest(`[${field}] must be a string or a list of strings; token arrays are not supported`);
  return texts;
}

/** A float vector as OpenAI's base64: its float32 values, little-endian. */
function base64Vector(values: readonly number[]): string {
  const bytes = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < values.length; i++) bytes.writeFloatLE(values[i]!, i * 4);
  return bytes.toString('base64');
}

const modelObject = (view: EndpointView) => ({
  id: view.inference_id,
  object: 'model' as const,
  created: 0,
  owned_by: view.service,
  task_type: view.task_type,
});

/** `n` other than 1 (several answers per request) is not served. */
function checkOneChoice(n: number | null | undefined): void {
  if (n !== undefined && n !== null && n !== 1) throw errors.badRequest(`[n] must be 1, got [${n}]`);
}

const present = <T>(value: T | null | undefined): value is T => value !== undefined && value !== null;

/** The sampling fields OpenAI's body and Elasticsearch's task settings share. */
function generationSettings(
  body: Pick<OpenAiCompletionRequest, 'max_tokens' | 'temperature' | 'top_p' | 'seed' | 'stop'>,
): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  if (present(body.max_tokens)) settings.max_tokens = body.max_tokens;
  if (present(body.temperature)) settings.temperature = body.temperature;
  if (present(body.top_p)) settings.top_p = body.top_p;
  if (present(body.seed)) settings.seed = body.seed;
  if (present(body.stop)) settings.stop = typeof body.stop === 'string' ? [body.stop] : body.stop;
  return settings;
}

/**
 * The text of a chat a completion endpoint can answer: one user message of text (the completion task sends each input
 * as one user message, so a conversation or a system message would be lost).
 */
function singleUserText(body: OpenAiChatRequest): string {
  const [only, ...rest] = body.messages;
  const content = only?.content;
  const text =
    typeof content === 'string'
      ? content
      : Array.isArray(content) && content.every((p) => p.type === 'text')
        ? content.map((p) => p.text ?? '').join('')
        : undefined;
  if (rest.length > 0 || only?.role !== 'user' || text === undefined)
    throw errors.badRequest(
      `inference endpoint [${body.model}] is a completion endpoint, which answers a chat of one user message of text; a conversation needs a chat_completion endpoint`,
    );
  return text;
}

/** The runner's completion events as OpenAI's chat chunks (a completion endpoint answering a chat). */
async function* completionChatStream(
  events: AsyncIterable<string>,
  model: string,
  id: string,
  errorBody: (error: EsError) => unknown,
): AsyncGenerator<string> {
  const created = nowSeconds();
  let first = true;
  for await (const piece of completionDeltas(events)) {
    if (piece.error) {
      yield dataEvent(errorBody(piece.error));
      return;
    }
    const content = piece.delta;
    const delta = first ? { role: 'assistant', content } : { content };
    first = false;
    yield dataEvent({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: null }],
    });
  }
  yield DONE;
}

/** OpenAI's chat body as Elasticsearch's unified chat body: `model` is the endpoint, not sent upstream. */
function esChatBody(body: OpenAiChatRequest): Record<string, unknown> {
  checkOneChoice(body.n);
  const out: Record<string, unknown> = {
    messages: body.messages.map((m) => {
      const message: Record<string, unknown> = { role: m.role };
      if (present(m.content))
        message.content =
          typeof m.content === 'string'
            ? m.content
            : m.content.map((p) => (p.type === 'text' ? { type: 'text', text: p.text } : p));
      if (present(m.tool_call_id)) message.tool_call_id = m.tool_call_id;
      if (present(m.tool_calls)) message.tool_calls = m.tool_calls;
      if (present(m.reasoning)) message.reasoning = m.reasoning;
      return message;
    }),
  };
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (present(maxTokens)) out.max_completion_tokens = maxTokens;
  if (present(body.temperature)) out.temperature = body.temperature;
  if (present(body.top_p)) out.top_p = body.top_p;
  if (present(body.stop)) out.stop = body.stop;
  if (present(body.tools)) out.tools = body.tools;
  if (present(body.tool_choice)) out.tool_choice = body.tool_choice;
  if (present(body.reasoning_effort)) out.reasoning = { effort: body.reasoning_effort };
  return out;
}

/** The chat stream's chunks, read from the runner's events; an error event throws the error it carries. */
async function* chatChunks(events: AsyncIterable<string>): AsyncGenerator<EsChatChunk> {
  for await (const { event, data } of inferenceEvents(events)) {
    if (event === 'error') throw streamFailure(data);
    if (data === '[DONE]') return;
    yield JSON.parse(data) as EsChatChunk;
  }
}

/** A whole chat answer, put together from its stream: text, reasoning, tool calls, finish reason and usage. */
async function collectChat(
  events: AsyncIterable<string>,
  model: string,
  fallbackId: string,
): Promise<Record<string, unknown>> {
  let id = '';
  let content = '';
  let reasoning = '';
  let finishReason: string | null = null;
  let usage: EsChatChunk['usage'];
  const tools: Array<{ id: string; type: string; function: { name: string; arguments: string } }> = [];
  for await (const chunk of chatChunks(events)) {
    id ||= chunk.id ?? '';
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      const delta = choice.delta;
      if (typeof delta.content === 'string') content += delta.content;
      if (typeof delta.reasoning === 'string') reasoning += delta.reasoning;
      for (const call of (delta.tool_calls as ToolCallDelta[] | undefined) ?? []) {
        const at = call.index ?? tools.length - 1;
        const tool = (tools[at] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
        if (call.id) tool.id = call.id;
        if (call.type) tool.type = call.type;
        if (call.function?.name) tool.function.name += call.function.name;
        if (call.function?.arguments) tool.function.arguments += call.function.arguments;
      }
      if (choice.finish_reason !== undefined) finishReason = choice.finish_reason;
    }
  }
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: content === '' && tools.length > 0 ? null : content,
  };
  if (reasoning !== '') message.reasoning = reasoning;
  if (tools.length > 0) message.tool_calls = tools.filter(Boolean);
  const answer: Record<string, unknown> = {
    id: id || fallbackId,
    object: 'chat.completion',
    created: nowSeconds(),
    model,
    choices: [{ index: 0, message, finish_reason: finishReason, logprobs: null }],
  };
  if (usage) answer.usage = usage;
  return answer;
}

/**
 * The runner's chat events as OpenAI's stream: `data: {chat.completion.chunk}` events, `model` the endpoint's id, the
 * usage chunk only when the client asked for it (`stream_options.include_usage`), `[DONE]` last. An error after the
 * stream began is a `data: {"error":…}` event, which OpenAI's SDKs raise as an APIError.
 */
async function* chatStream(
  events: AsyncIterable<string>,
  model: string,
  fallbackId: string,
  includeUsage: boolean,
  errorBody: (error: EsError) => unknown,
): AsyncGenerator<string> {
  const created = nowSeconds();
  try {
    for await (const chunk of chatChunks(events)) {
      const usage = includeUsage ? chunk.usage : undefined;
      if (chunk.choices.length === 0 && !usage) continue;
      const out: Record<string, unknown> = {
        id: chunk.id || fallbackId,
        object: 'chat.completion.chunk',
        created,
        model,
        choices: chunk.choices.map((c) => ({
          index: c.index,
          delta: c.delta,
          logprobs: null,
          finish_reason: c.finish_reason ?? null,
        })),
      };
      if (usage) out.usage = usage;
      yield dataEvent(out);
    }
    yield DONE;
  } catch (err) {
    yield dataEvent(errorBody(err as EsError));
  }
}

/**
 * The runner's completion events as OpenAI's `text_completion` stream (the text of each delta), `[DONE]` last; an
 * error event becomes a `data: {"error":…}` event.
 */
async function* completionStream(
  events: AsyncIterable<string>,
  model: string,
  id: string,
  errorBody: (error: EsError) => unknown,
): AsyncGenerator<string> {
  const created = nowSeconds();
  for await (const piece of completionDeltas(events)) {
    if (piece.error) {
      yield dataEvent(errorBody(piece.error));
      return;
    }
    const text = piece.delta;
    yield dataEvent({
      id,
      object: 'text_completion',
      created,
      model,
      choices: [{ index: 0, text, logprobs: null, finish_reason: null }],
    });
  }
  yield DONE;
}

const chatId = () => `chatcmpl-${randomBytes(12).toString('hex')}`;
const completionId = () => `cmpl-${randomBytes(12).toString('hex')}`;

export class OpenAiProtocol {
  constructor(
    private readonly runner: DoorRunner,
    private readonly endpoints: Pick<EndpointRegistry, 'listJson' | 'get' | 'delete'>,
  ) {}

  /** `POST /v1/embeddings`: floats, or base64 of float32 as OpenAI's SDKs ask by default. */
  async embeddings(body: OpenAiEmbeddingRequest, request: DoorRequest): Promise<string> {
    const input = readTexts(body.input, 'input');
    const entries = await this.runner.result(runnerCall(request, body.model, 'text_embedding', { input }));
    if (body.dimensions !== undefined && entries.length > 0) {
      const size = entries[0]!.embedding.values.length;
      if (body.dimensions !== size)
        throw errors.badRequest(
          `The model [${body.model}] makes vectors of [${size}] dimensions; [dimensions] cannot be [${body.dimensions}]`,
        );
    }
    // Floats go out as the upstream wrote them (the vector's own text), as on `_inference`.
    const base64 = body.encoding_format === 'base64';
    const data = entries.map(
      ({ embedding }, index) =>
        `{"object":"embedding","index":${index},"embedding":${base64 ? `"${base64Vector(embedding.values)}"` : vectorJson(embedding)}}`,
    );
    return `{"object":"list","data":[${data.join(',')}],"model":${JSON.stringify(body.model)}}`;
  }

  /**
   * `POST /v1/chat/completions`: on a chat_completion endpoint streamed, or put together from the stream; on a
   * completion endpoint (what Elasticsearch's `completion` sends, a chat of one user message) through its task.
   */
  async chat(body: OpenAiChatRequest, request: DoorRequest, streamError = openAiStreamError): Promise<DoorAnswer> {
    if ((await this.runner.taskTypeOf(body.model)) === 'completion')
      return this.chatOnCompletion(body, request, streamError);
    const events = await this.runner.stream(runnerCall(request, body.model, 'chat_completion', esChatBody(body)));
    if (body.stream === true)
      return {
        events: chatStream(events, body.model, chatId(), body.stream_options?.include_usage === true, streamError),
        source: events,
      };
    return { json: JSON.stringify(await collectChat(events, body.model, chatId())) };
  }

  private async chatOnCompletion(
    body: OpenAiChatRequest,
    request: DoorRequest,
    streamError: (error: EsError) => unknown,
  ): Promise<DoorAnswer> {
    checkOneChoice(body.n);
    const input = singleUserText(body);
    const settings = generationSettings({ ...body, max_tokens: body.max_completion_tokens ?? body.max_tokens });
    const esBody = Object.keys(settings).length > 0 ? { input, task_settings: settings } : { input };
    const id = chatId();
    if (body.stream === true) {
      const events = await this.runner.stream(runnerCall(request, body.model, 'completion', esBody));
      return { events: completionChatStream(events, body.model, id, streamError), source: events };
    }
    const [result] = await this.runner.result(runnerCall(request, body.model, 'completion', esBody));
    return {
      json: JSON.stringify({
        id,
        object: 'chat.completion',
        created: nowSeconds(),
        model: body.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: result ?? '' },
            finish_reason: null,
            logprobs: null,
          },
        ],
      }),
    };
  }

  /** `POST /v1/completions` on a completion endpoint: one choice per prompt, or one prompt streamed. */
  async completions(
    body: OpenAiCompletionRequest,
    request: DoorRequest,
    streamError = openAiStreamError,
  ): Promise<DoorAnswer> {
    checkOneChoice(body.n);
    const input = readTexts(body.prompt, 'prompt');
    const settings = generationSettings(body);
    const esBody = Object.keys(settings).length > 0 ? { input, task_settings: settings } : { input };
    const id = completionId();
    if (body.stream === true) {
      const events = await this.runner.stream(runnerCall(request, body.model, 'completion', esBody));
      return { events: completionStream(events, body.model, id, streamError), source: events };
    }
    const results = await this.runner.result(runnerCall(request, body.model, 'completion', esBody));
    return {
      json: JSON.stringify({
        id,
        object: 'text_completion',
        created: nowSeconds(),
        model: body.model,
        choices: results.map((text, index) => ({ index, text, finish_reason: null, logprobs: null })),
      }),
    };
  }

  /** `GET /v1/models`: every endpoint. */
  async models() {
    // The registry writes its listing as text (in slices, for very many endpoints); the models are read back from it.
    const { endpoints } = JSON.parse(await this.endpoints.listJson()) as { endpoints: EndpointView[] };
    return { object: 'list' as const, data: endpoints.map(modelObject) };
  }

  /** `GET /v1/models/{model}`. */
  async model(id: string) {
    return modelObject(await this.endpoints.get(id));
  }

  /** `DELETE /v1/models/{model}`: deletes the endpoint, as `DELETE /_inference/{id}` (manage_inference). */
  async deleteModel(id: string) {
    await this.endpoints.delete(id, undefined, { dryRun: false });
    return { id, object: 'model' as const, deleted: true };
  }
}
