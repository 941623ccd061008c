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
import type { Embedding } from '../services/inference-service.js';
import { errors, type EsError } from '../errors.js';
import type { TaskType } from '../inference-task-type.js';
import { emptyInput, hfStreamError } from './door-errors.js';
import { runnerCall, type DoorAnswer, type DoorRequest, type DoorRunner } from './door-call.js';
import { completionDeltas } from './inference-events.js';
import { sparseVectorJson } from '../tasks/sparse-embedding-task.js';
import { vectorJson } from '../tasks/text-embedding-task.js';
import type { OpenAiProtocol } from './openai-protocol.js';
import { surelyUnitLength, UNIT_TOLERANCE } from '../services/vector-text.js';

const tgiStreamError = (error: EsError) => hfStreamError(error, 'tgi');
/** TGI writes `data:` without a space. */
const tgiEvent = (data: unknown) => `data:${JSON.stringify(data)}\n\n`;

/**
 * A vector as TEI's `/embed` writes it: cut to `dimensions`, then scaled to length 1 when `normalize`. A vector that
 * needs neither, or is of length 1 already (what TEI answers by default, and so most upstreams), goes out as the
 * upstream's own text: no float is written again. Whether it is of length 1 is read from that text's digits, by the
 * pass that checked the upstream's answer (`unit`), or for a vector from elsewhere (the cache) by `surelyUnitLength`;
 * only when that is not sure are its numbers parsed and summed, which decides as before.
 */
function teiVector(embedding: Embedding, normalize: boolean, dimensions: number | undefined): string {
  if (!normalize && dimensions === undefined) return vectorJson(embedding);
  if (dimensions === undefined && embedding.json !== undefined && (embedding.unit ?? surelyUnitLength(embedding.json)))
    return embedding.json;
  const values = embedding.values;
  const cut = dimensions !== undefined && dimensions < values.length ? values.slice(0, dimensions) : undefined;
  if (!normalize) return cut ? JSON.stringify(cut) : vectorJson(embedding);
  const kept = cut ?? values;
  let sum = 0;
  for (const v of kept) sum += v * v;
  // A zero vector stays as it is.
  if (sum === 0 || Math.abs(sum - 1) <= UNIT_TOLERANCE) return cut ? JSON.stringify(cut) : vectorJson(embedding);
  const norm = Math.sqrt(sum);
  return JSON.stringify(kept.map((v) => v / norm));
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
 * TGI's details of a generation of `tokens` tokens (a token per event of the runner's stream). The completion task does
 * not say why generation stopped: `length` when as many tokens came as `max_new_tokens` allowed, `eos_token` otherwise.
 */
function streamDetails(tokens: number, maxNewTokens: number | undefined) {
  return {
    finish_reason: maxNewTokens !== undefined && tokens >= maxNewTokens ? 'length' : 'eos_token',
    generated_tokens: tokens,
    seed: null,
  };
}

/**
 * The runner's completion events as TGI's token stream; the last token event carries the whole `generated_text`, and
 * with `details` asked, TGI's stream details.
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
      details: last && details ? streamDetails(index, details.maxNewTokens) : null,
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

/** TEI's `inputs` as a list; an empty one is TEI's 400 `Empty`, and a `prompt_name` is refused. */
function inputsOf(body: TeiEmbedRequest, inferenceId: string): string[] {
  const input = typeof body.inputs === 'string' ? [body.inputs] : body.inputs;
  if (input.length === 0) throw emptyInput('`inputs` cannot be empty');
  if (present(body.prompt_name))
    throw errors.badRequest(
      `[prompt_name] is not supported: inference endpoint [${inferenceId}] sends its inputs as they are`,
    );
  return input;
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
    const input = inputsOf(body, inferenceId);
    const entries = await this.runner.result(runnerCall(request, inferenceId, 'text_embedding', { input }));
    const dimensions = body.dimensions ?? undefined;
    const normalize = body.normalize !== false;
    return `[${entries.map(({ embedding }) => teiVector(embedding, normalize, dimensions)).join(',')}]`;
  }

  /**
   * A sparse_embedding endpoint's url, as an Inference Endpoint with a sparse (SPLADE) handler answers it and as
   * Elasticsearch's `hugging_face` sparse_embedding reads it: `[{"token": weight, …}, …]`, one map per input (an input
   * of several chunks: each token's largest weight).
   */
  async embedSparse(inferenceId: string, body: TeiEmbedRequest, request: DoorRequest): Promise<string> {
    const input = inputsOf(body, inferenceId);
    if (present(body.dimensions))
      throw errors.badRequest(
        `[dimensions] is not supported: inference endpoint [${inferenceId}] answers token weights`,
      );
    const entries = await this.runner.result(runnerCall(request, inferenceId, 'sparse_embedding', { input }));
    return `[${entries.map((e) => sparseVectorJson(e.vector)).join(',')}]`;
  }

  /**
   * TEI's `/embed_sparse` is not served: TEI answers vocabulary ids there, while the service knows each token as text
   * only (an Inference Endpoint's handler answers tokens; TEI's ids are decoded as they come). Refused, saying where the
   * token weights are.
   */
  async refuseSparseIds(inferenceId: string): Promise<never> {
    const taskType = await this.taskType(inferenceId);
    throw errors.badRequest(
      taskType === 'sparse_embedding'
        ? `/embed_sparse is not served: it answers vocabulary ids, and inference endpoint [${inferenceId}] knows its tokens as text only; POST /hf/${inferenceId} answers its token weights as [{"token": weight}]`
        : `/embed_sparse is not served: inference endpoint [${inferenceId}] is a [${taskType}] endpoint`,
    );
  }

  /** TEI's `/rerank`: `[{index, score, text?}]`, best first. */
  async rerank(inferenceId: string, body: TeiRerankRequest, request: DoorRequest): Promise<string> {
    if (body.texts.length === 0) throw emptyInput('`texts` cannot be empty');
    const esBody: Record<string, unknown> = { query: body.query, input: body.texts };
    if (body.return_text !== undefined) esBody.return_documents = body.return_text;
    if (present(body.top_n)) esBody.top_n = body.top_n;
    const ranks = await this.runner.result(runnerCall(request, inferenceId, 'rerank', esBody));
    return JSON.stringify(
      ranks.map((r) =>
        r.text === undefined || body.return_text !== true
          ? { index: r.index, score: r.score }
          : { index: r.index, text: r.text, score: r.score },
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
    const details =
      body.parameters?.details === true ? { maxNewTokens: body.parameters.max_new_tokens ?? undefined } : undefined;
    if (stream) {
      const events = await this.runner.stream(runnerCall(request, inferenceId, 'completion', esBody));
      return { events: tgiTokenStream(events, prefix, details), source: events };
    }
    if (details) {
      // The whole answer with TGI's details (which huggingface_hub requires once it asked for them, as Dify does):
      // read from the stream, so that its tokens are counted as a stream's are.
      const events = await this.runner.stream(runnerCall(request, inferenceId, 'completion', esBody));
      let text = prefix;
      let tokens = 0;
      for await (const piece of completionDeltas(events)) {
        if (piece.error) throw piece.error;
        text += piece.delta;
        tokens++;
      }
      return {
        json: JSON.stringify({
          generated_text: text,
          details: { ...streamDetails(tokens, details.maxNewTokens), prefill: [], tokens: [] },
        }),
      };
    }
    const [result] = await this.runner.result(runnerCall(request, inferenceId, 'completion', esBody));
    return { json: JSON.stringify({ generated_text: prefix + (result ?? '') }) };
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
