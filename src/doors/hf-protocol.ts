// The Hugging Face door (docs/doors.md#the-hugging-face-door): each endpoint at /hf/<inference_id> speaks what its
// kind of Hugging Face server speaks (text-embeddings-inference for embeddings and rerank, text-generation-inference
// for generation), translated to and from the runner's calls.
import type {
  TeiEmbedRequest,
  TeiRerankRequest,
  TgiChatRequest,
  TgiCompletionRequest,
  TgiGenerateRequest,
} from '../../schemas/hf-door.js';
import type { EndpointRegistry } from '../endpoints/registry.js';
import { errors, type EsError } from '../errors.js';
import type { TaskType } from '../inference-task-type.js';
import { emptyInput, hfStreamError } from './door-errors.js';
import { runnerCall, type DoorAnswer, type DoorRequest, type DoorRunner } from './door-call.js';
import { completionDeltas } from './inference-events.js';
import type { OpenAiProtocol } from './openai-protocol.js';

const tgiStreamError = (error: EsError) => hfStreamError(error, 'tgi');
/** TGI writes `data:` without a space. */
const tgiEvent = (data: unknown) => `data:${JSON.stringify(data)}\n\n`;

/** A vector scaled to length 1 (a zero vector stays as it is). */
function normalized(values: number[]): number[] {
  let sum = 0;
  for (const v of values) sum += v * v;
  if (sum === 0) return values;
  const norm = Math.sqrt(sum);
  return values.map((v) => v / norm);
}

const present = <T>(value: T | null | undefined): value is T => value !== undefined && value !== null;

/** TGI's `parameters` as the completion task's settings (the ones both know); the others are not used. */
function taskSettingsOf(parameters: TgiGenerateRequest['parameters']): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  if (!parameters) return settings;
  for (const key of ['max_new_tokens', 'temperature', 'top_p', 'top_k', 'repetition_penalty', 'seed', 'stop'] as const)
    if (present(parameters[key])) settings[key] = parameters[key];
  return settings;
}

/**
 * The runner's completion events as TGI's token stream; the last token event carries the whole `generated_text`, and
 * with `details` asked, TGI's stream details. The completion task does not say why generation stopped: `length` when
 * as many tokens came as `max_new_tokens` allowed (a token per event), `eos_token` otherwise.
 */
async function* tgiTokenStream(
  events: AsyncIterable<string>,
  prefix: string,
  details: { maxNewTokens: number | undefined } | undefined,
): AsyncGenerator<string> {
  let index = 0;
  let held: string | undefined;
  let text = prefix;
  const tokenEvent = (delta: string, last: boolean) =>
    tgiEvent({
      index: ++index,
      token: { id: 0, text: delta, logprob: null, special: false },
      generated_text: last ? text : null,
      details:
        last && details
          ? {
              finish_reason:
                details.maxNewTokens !== undefined && index >= details.maxNewTokens ? 'length' : 'eos_token',
              generated_tokens: index,
              seed: null,
            }
          : null,
    });
  for await (const piece of completionDeltas(events)) {
    if (piece.error) {
      if (held !== undefined) yield tokenEvent(held, false);
      yield tgiEvent(tgiStreamError(piece.error));
      return;
    }
    const delta = piece.delta;
    text += delta;
    // One token behind: the last one is known only when the stream ends.
    if (held !== undefined) yield tokenEvent(held, false);
    held = delta;
  }
  yield tokenEvent(held ?? '', true);
}

export class HfProtocol {
  constructor(
    private readonly runner: DoorRunner,
    private readonly endpoints: Pick<EndpointRegistry, 'get'>,
    private readonly openAi: OpenAiProtocol,
    private readonly version: string,
  ) {}

  /** The endpoint's task type: what `POST /hf/<id>` answers as. */
  taskType(inferenceId: string): Promise<TaskType> {
    return this.runner.taskTypeOf(inferenceId);
  }

  /** TEI's `/embed`: `[[…],…]`, one vector per input, normalised unless `normalize: false`. */
  async embed(inferenceId: string, body: TeiEmbedRequest, request: DoorRequest): Promise<string> {
    const input = typeof body.inputs === 'string' ? [body.inputs] : body.inputs;
    if (input.length === 0) throw emptyInput('`inputs` cannot be empty');
    if (present(body.prompt_name))
      throw errors.badRequest(
        `[prompt_name] is not supported: inference endpoint [${inferenceId}] sends its inputs as they are`,
      );
    const json = await this.runner.infer(runnerCall(request, inferenceId, 'text_embedding', { input }));
    const vectors = (JSON.parse(json) as { text_embedding: Array<{ embedding: number[] }> }).text_embedding;
    const dimensions = body.dimensions ?? undefined;
    const normalize = body.normalize !== false;
    return JSON.stringify(
      vectors.map(({ embedding }) => {
        const cut =
          dimensions !== undefined && dimensions < embedding.length ? embedding.slice(0, dimensions) : embedding;
        return normalize ? normalized(cut) : cut;
      }),
    );
  }

  /** TEI's `/rerank`: `[{index, score, text?}]`, best first. */
  async rerank(inferenceId: string, body: TeiRerankRequest, request: DoorRequest): Promise<string> {
    if (body.texts.length === 0) throw emptyInput('`texts` cannot be empty');
    const esBody: Record<string, unknown> = { query: body.query, input: body.texts };
    if (body.return_text !== undefined) esBody.return_documents = body.return_text;
    if (present(body.top_n)) esBody.top_n = body.top_n;
    const json = await this.runner.infer(runnerCall(request, inferenceId, 'rerank', esBody));
    const ranks = (JSON.parse(json) as { rerank: Array<{ index: number; relevance_score: number; text?: string }> })
      .rerank;
    return JSON.stringify(
      ranks.map((r) =>
        r.text === undefined || body.return_text !== true
          ? { index: r.index, score: r.relevance_score }
          : { index: r.index, text: r.text, score: r.relevance_score },
      ),
    );
  }

  /** TGI's `/generate` (`{"generated_text"}`) and `/generate_stream` (token events) on a completion endpoint. */
  async generate(
    inferenceId: string,
    body: TgiGenerateRequest,
    request: DoorRequest,
    stream: boolean,
  ): Promise<DoorAnswer> {
    const settings = taskSettingsOf(body.parameters);
    const esBody =
      Object.keys(settings).length > 0 ? { input: body.inputs, task_settings: settings } : { input: body.inputs };
    const prefix = body.parameters?.return_full_text === true ? body.inputs : '';
    if (stream) {
      const events = await this.runner.stream(runnerCall(request, inferenceId, 'completion', esBody));
      const details =
        body.parameters?.details === true ? { maxNewTokens: body.parameters.max_new_tokens ?? undefined } : undefined;
      return { events: tgiTokenStream(events, prefix, details) };
    }
    const json = await this.runner.infer(runnerCall(request, inferenceId, 'completion', esBody));
    const [result] = (JSON.parse(json) as { completion: Array<{ result: string }> }).completion;
    return { json: JSON.stringify({ generated_text: prefix + (result?.result ?? '') }) };
  }

  /** TGI's `/v1/chat/completions` on a chat_completion endpoint: OpenAI's chat, TGI's errors. */
  chat(inferenceId: string, body: TgiChatRequest, request: DoorRequest): Promise<DoorAnswer> {
    return this.openAi.chat({ ...body, model: inferenceId }, request, tgiStreamError);
  }

  /** TGI's `/v1/completions` on a completion endpoint: OpenAI's completions, TGI's errors. */
  completions(inferenceId: string, body: TgiCompletionRequest, request: DoorRequest): Promise<DoorAnswer> {
    return this.openAi.completions({ ...body, model: inferenceId }, request, tgiStreamError);
  }

  /**
   * `/info`: what the endpoint knows of its model and server, in the field names of TEI's (embedding and rerank
   * endpoints) or TGI's (generation) `/info`, with the endpoint's id and task type.
   */
  async info(inferenceId: string): Promise<{ model_id: string; inference_id: string; task_type: string }> {
    const view = await this.endpoints.get(inferenceId);
    const settings = view.service_settings as Record<string, unknown>;
    const server = (settings.server_info ?? {}) as Record<string, unknown>;
    const named = [server.model_id, settings.model_id].find((m): m is string => typeof m === 'string');
    const modelId = named ?? inferenceId;
    const generation = view.task_type === 'completion' || view.task_type === 'chat_completion';
    const known = (names: readonly string[]) =>
      Object.fromEntries(names.filter((n) => server[n] !== undefined).map((n) => [n, server[n]]));
    const info: Record<string, unknown> = { model_id: modelId, model_sha: null };
    if (generation) {
      info.model_pipeline_tag = 'text-generation';
      Object.assign(
        info,
        known(['max_concurrent_requests', 'max_input_tokens', 'max_total_tokens', 'max_client_batch_size']),
      );
    } else {
      info.model_type =
        view.task_type === 'rerank'
          ? { reranker: { id2label: { '0': 'LABEL_0' }, label2id: { LABEL_0: 0 } } }
          : { embedding: { pooling: view.task_type === 'sparse_embedding' ? 'splade' : (server.pooling ?? 'mean') } };
      Object.assign(
        info,
        known([
          'max_concurrent_requests',
          'max_input_length',
          'max_batch_tokens',
          'max_client_batch_size',
          'auto_truncate',
        ]),
      );
    }
    info.version = this.version;
    info.router = 'hf-inference-gateway';
    return { ...info, model_id: modelId, inference_id: view.inference_id, task_type: view.task_type };
  }
}
