// What an inference service (hugging_face now, others later) gives the registry and the tasks: settings handling and,
// per endpoint, its upstream operations.
import type { StopSignal } from '../cancellation.js';
import type { ServiceDescription } from '../../schemas/services.js';
import type { TSchema } from 'typebox';
import type { ChunkingSettings } from '../chunking/chunking-settings.js';
import type { SettingsMap } from '../store/endpoint-store.js';
import type { TaskType } from '../inference-task-type.js';

/** One dense vector, with the upstream's own JSON text for it when that can be passed through unchanged. */
export interface Embedding {
  values: number[];
  json?: string;
  /** True when `json` is known, from its digits, to be a vector of length 1 (src/services/vector-text.ts). */
  unit?: boolean;
}

/** One sparse vector: token → weight, in the upstream's order. */
export type SparseVector = Map<string, number>;

/**
 * The input types a request may name, in Elasticsearch's order (its InputType's request values; `unspecified` means
 * none, and the internal ones are never accepted over HTTP): docs/api.md#input_type.
 */
export const INPUT_TYPES = ['ingest', 'search', 'classification', 'clustering'] as const;
export type InputType = (typeof INPUT_TYPES)[number];

/** text_embedding: one upstream request embeds a batch of texts. Failures throw SendError (dispatch/retry). */
interface TextEmbeddingOperations {
  embed(texts: string[], signal: StopSignal): Promise<Embedding[]>;
  /** An input as it is sent (cut to the endpoint's input limit). */
  prepare(text: string): string;
  /** What goes before each text of a request of this input type (`prefix_strings`, ours); undefined: not taken. */
  prefixFor(inputType: InputType): string | undefined;
  /**
   * The creation check's call: the length of one text's vector, whatever `dimensions` the endpoint was given (the
   * model's length is the one stored, as Elasticsearch's hugging_face service stores it).
   */
  measure(text: string, signal: StopSignal): Promise<number>;
}

/** sparse_embedding: one upstream request embeds a batch of texts into token weights. */
interface SparseEmbeddingOperations {
  /** `acquire` takes a rate-limit grant for any further upstream request the embedding needs (decoding token ids). */
  embed(texts: string[], signal: StopSignal, acquire: () => Promise<void>): Promise<SparseVector[]>;
  prepare(text: string): string;
}

/**
 * What a rerank request asks of the upstream besides its texts, as Elasticsearch sends it (each only when given):
 * `returnText` asks for the texts back (the answer gives back the caller's own documents anyway), `topN` for the best
 * only (the answer is cut here too).
 */
export interface RerankOptions {
  returnText?: boolean;
  topN?: number;
}

/**
 * rerank: one upstream request scores a batch of texts against one query; one score per text, in the order sent.
 * With `topN`, an upstream may score only its best `topN`: the others are undefined.
 */
interface RerankOperations {
  score(query: string, texts: string[], options: RerankOptions, signal: StopSignal): Promise<Array<number | undefined>>;
}

/** One message of a conversation, as Elasticsearch's unified chat body carries it. */
export interface ChatMessage {
  role: string;
  content?: string | Array<{ type: string; text: string }>;
  tool_call_id?: string;
  tool_calls?: unknown[];
  /** An assistant message's reasoning as plain text (what a reasoning model thought before it answered). */
  reasoning?: string;
}

/** Elasticsearch's reasoning configuration of a chat request, as it came (the wire decides what its upstream gets). */
export interface ReasoningConfig {
  effort?: 'xhigh' | 'high' | 'medium' | 'low' | 'minimal' | 'none';
  enabled?: boolean;
  exclude?: boolean;
  summary?: 'auto' | 'concise' | 'detailed';
}

/** What to generate: a conversation (a completion is one user message) and how to sample it. */
export interface GenerationRequest {
  messages: ChatMessage[];
  /** The model the request names; the endpoint's model_id otherwise. */
  model?: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop?: string[];
  topK?: number;
  repetitionPenalty?: number;
  seed?: number;
  /** OpenAI-style tool definitions and choice, passed to the upstream as they came. */
  tools?: unknown[];
  toolChoice?: unknown;
  reasoning?: ReasoningConfig;
}

/** Token counts of a generation, as OpenAI-compatible servers report them. */
export interface TokenUsage {
  completion_tokens: number;
  prompt_tokens: number;
  total_tokens: number;
}

export interface GenerationChoice {
  index: number;
  delta: {
    content?: string;
    refusal?: string;
    role?: string;
    /** A reasoning model's reasoning text (vLLM's `reasoning` or `reasoning_content`). */
    reasoning?: string;
    tool_calls?: unknown[];
    /** Structured reasoning, as the upstream sent it. */
    reasoning_details?: unknown[];
  };
  /** Normalised to OpenAI's values (`stop`, `length`, `tool_calls`, …). */
  finish_reason?: string;
}

/** One streamed piece of an answer in OpenAI's chunk shape: every protocol's stream events are read into it. */
export interface GenerationChunk {
  /** Absent or empty when the upstream gives none (TGI sends ""). */
  id?: string;
  model?: string;
  choices: GenerationChoice[];
  usage?: TokenUsage;
}

/**
 * A streamed answer whose upstream has answered 2xx and sent its first event. Iterating yields
 * the chunks of each network read as they arrive; a failure after the first event throws the
 * EsError to report in the stream. take() and wait() read the same chunks without a promise per read (the event
 * stream's way); a stream is read one way or the other.
 */
export interface GenerationStream extends AsyncIterable<GenerationChunk[]> {
  /** Settles once the upstream request is over: ended, failed or aborted. */
  readonly done: Promise<void>;
  /** Chunks read before the stream began, to send first (iterating yields what follows them). */
  readonly first?: GenerationChunk[];
  /**
   * The chunks of the next read that has any, synchronously; null once the stream has ended well, undefined when
   * nothing has arrived yet (wait() says when to ask again). Throws the EsError that failed the stream.
   */
  take(): GenerationChunk[] | null | undefined;
  /** Calls `wake` once, when take() may have something new to say. */
  wait(wake: () => void): void;
  /** Nothing more is read: ends the upstream request if it is still going (idempotent). */
  close(): void;
}

/**
 * completion and chat_completion: one upstream request generates one answer, whole or streamed. Failures throw
 * SendError.
 */
export interface GenerationOperations {
  /** One answer, not streamed: the generated text. */
  generate(request: GenerationRequest, signal: StopSignal): Promise<string>;
  /**
   * A streamed answer: resolves once the upstream has answered 2xx and sent its first event (an error in it throws
   * SendError, like an error status).
   */
  stream(request: GenerationRequest, signal: StopSignal): Promise<GenerationStream>;
}

/** The operations a service offers for each task type. */
export interface TaskOperations {
  text_embedding: TextEmbeddingOperations;
  sparse_embedding: SparseEmbeddingOperations;
  rerank: RerankOperations;
  completion: GenerationOperations;
  chat_completion: GenerationOperations;
}

/** The values sampling settings take, wherever they are given (stored task settings, a chat request). */
export const SAMPLING_LIMITS = {
  temperature: { min: 0, max: 100 },
  top_p: { min: 0, max: 1, exclusiveMin: true },
  /** TGI's `/generate` refuses 0 and below, and sets no upper bound (its OpenAPI document, `GenerateParameters`). */
  repetition_penalty: { min: 0, exclusiveMin: true },
  /** OpenAI's limit, and TGI's default `--max-stop-sequences`. */
  stopSequences: 4,
} as const;

/** Sampling settings stored with a text generation endpoint, overridable per request (ours). */
export interface GenerationSettings {
  max_tokens?: number;
  /** The same as max_tokens, by TGI's name (Dify sends it); an endpoint or a request gives one or the other. */
  max_new_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  repetition_penalty?: number;
  seed?: number;
  stop?: string[];
}

/** Task settings every service reads the same way, per task type (Elasticsearch's names). */
export interface TaskSettingsByType {
  text_embedding: Record<string, never>;
  sparse_embedding: Record<string, never>;
  rerank: { top_n?: number; return_documents?: boolean };
  completion: GenerationSettings;
  chat_completion: GenerationSettings;
}

/** How an endpoint's upstream work is dispatched: read once from its service settings, for every task type. */
export interface DispatchSettings {
  requestsPerMinute: number;
  /** Items per upstream request when the endpoint sets one; otherwise the task's default. */
  batchSize: number | undefined;
  /** Upstream requests in flight at once (for completion and chat_completion: `max_concurrent_streams`). */
  maxConcurrentRequests: number;
}

/** One stored endpoint, decrypted and bound to its service: everything a task needs to run it. */
export interface BoundEndpoint<T extends TaskType = TaskType> {
  readonly inferenceId: string;
  readonly taskType: T;
  readonly service: string;
  readonly dispatch: DispatchSettings;
  /** null for task types that are not chunked. */
  readonly chunking: ChunkingSettings | null;
  /** Every URL the endpoint's requests go to (checked against the upstream rules at PUT). */
  readonly upstreamUrls: readonly string[];
  readonly operations: TaskOperations[T];
  /**
   * For task types whose results are cached (text_embedding, sparse_embedding; docs/embedding-cache.md): `scope` is the
   * key prefix made from everything besides the text that determines what the upstream answers (never a secret),
   * `enabled` the endpoint's `cache` setting.
   */
  readonly cache?: { readonly scope: string; readonly enabled: boolean };
  /**
   * The stored task settings with a request's `task_settings` applied over them. Throws the
   * service's validation or unknown-settings error for a bad override.
   */
  taskSettings(overrides: SettingsMap | null | undefined): TaskSettingsByType[T];
}

/**
 * A parsed configuration: what is stored (settings, task settings), what is sealed (secrets), and the keys nobody knew.
 */
export interface ParsedServiceConfig {
  serviceSettings: SettingsMap;
  secrets: SettingsMap;
  taskSettings: SettingsMap;
  /** Maps of unknown keys, in the order they are reported. */
  unknown: SettingsMap[];
}

/** What a create-time validation call learned about the model. */
export interface ModelDetails {
  dimensions?: number;
  /** What the upstream server said of itself (its limits, its model), stored and shown with the endpoint. */
  server?: SettingsMap;
  /** The protocol the check chose where the endpoint named none (a base model's completions). */
  protocol?: string;
}

/** A stored endpoint with its secrets decrypted: what a service binds. */
export interface StoredEndpoint {
  inferenceId: string;
  taskType: TaskType;
  serviceSettings: SettingsMap;
  secrets: SettingsMap;
  taskSettings: SettingsMap;
  chunking: ChunkingSettings | null;
}

export interface InferenceService {
  readonly name: string;
  readonly taskTypes: readonly TaskType[];
  /** The service settings as GET shows them, as a schema for the API document. */
  readonly settingsView: TSchema;
  /** What `GET /_inference/_services` shows of this service: its task types and every setting it reads. */
  describe(): ServiceDescription;
  /** Validates a PUT's `service_settings` and `task_settings`; appends every problem to `problems`. */
  parseCreate(
    taskType: TaskType,
    serviceSettings: SettingsMap,
    taskSettings: SettingsMap,
    problems: string[],
  ): ParsedServiceConfig;
  /** Applies an `_update` to a stored configuration; appends every problem to `problems`. */
  parseUpdate(
    taskType: TaskType,
    current: { serviceSettings: SettingsMap; secrets: SettingsMap; taskSettings: SettingsMap },
    serviceSettings: SettingsMap | undefined,
    taskSettings: SettingsMap | undefined,
    problems: string[],
  ): ParsedServiceConfig;
  /** The service settings as GET shows them, in Elasticsearch's field order, never with secrets. */
  viewServiceSettings(taskType: TaskType, serviceSettings: SettingsMap): SettingsMap;
  /**
   * Settings completed at creation from what the validation call learned (when there was one),
   * and defaults filled in.
   */
  withModelDetails(taskType: TaskType, serviceSettings: SettingsMap, details: ModelDetails | undefined): SettingsMap;
  /** Binds a stored endpoint (secrets decrypted) to this service's upstream operations. */
  bind(endpoint: StoredEndpoint): BoundEndpoint;
  /**
   * The creation check of an endpoint about to be stored (docs/api.md#create-an-endpoint): `check` is the task's own
   * (one small call through the operations of the endpoint it is given, bound). Around it the service may ask the
   * upstream about itself first, refuse a model that cannot serve the task type, and, when `choose`, pick the protocol
   * the endpoint left open. Throws the check's failure; resolves to everything learned.
   */
  inspect(
    endpoint: StoredEndpoint,
    signal: StopSignal,
    check: (bound: BoundEndpoint) => Promise<ModelDetails>,
    options: { choose: boolean },
  ): Promise<ModelDetails>;
}
