// TypeBox schemas of the Hugging Face door (docs/doors.md#the-hugging-face-door): the requests and answers of
// text-embeddings-inference (`/embed`, `/rerank`) and text-generation-inference (`/generate`, `/generate_stream`, the
// OpenAI-compatible routes), as far as the service reads them, and their error shape.
import Type, { type Static } from 'typebox';
import { Long, Nullable } from './common.js';
import { OpenAiChatRequest, OpenAiCompletionRequest } from './openai-door.js';

const open = { additionalProperties: true } as const;

export const HfDoorParams = Type.Object({ inference_id: Type.String() });

const Inputs = Type.Union([Type.String(), Type.Array(Type.String())]);

export const TeiEmbedRequest = Type.Object(
  {
    inputs: Inputs,
    normalize: Type.Optional(Type.Boolean({ description: 'L2-normalise each vector (default true).' })),
    truncate: Nullable(Type.Boolean({ description: 'Accepted: long inputs are chunked by the service.' })),
    truncation_direction: Type.Optional(Type.String()),
    prompt_name: Nullable(Type.String({ description: 'Refused: the endpoint sends no prompt.' })),
    dimensions: Nullable(Type.Integer({ minimum: 1, description: 'Keep the first N values (then normalise).' })),
  },
  { ...open, description: "TEI's /embed request (and an Inference Endpoint's feature-extraction body)." },
);
export type TeiEmbedRequest = Static<typeof TeiEmbedRequest>;

export const TeiEmbedResponse = Type.Array(Type.Array(Type.Number()), { description: 'One vector per input.' });

export const HfSparseResponse = Type.Array(Type.Record(Type.String(), Type.Number()), {
  description: "A sparse_embedding endpoint's token weights, one map per input (as a sparse handler answers).",
});

export const TeiRerankRequest = Type.Object(
  {
    query: Type.String(),
    texts: Type.Array(Type.String()),
    return_text: Type.Optional(Type.Boolean()),
    top_n: Nullable(
      Type.Integer({ minimum: 1, description: 'The best N only (Elasticsearch sends it; TEI ignores it).' }),
    ),
    raw_scores: Type.Optional(Type.Boolean({ description: "Accepted; scores are the endpoint's own." })),
    truncate: Nullable(Type.Boolean()),
    truncation_direction: Type.Optional(Type.String()),
  },
  { ...open, description: "TEI's /rerank request." },
);
export type TeiRerankRequest = Static<typeof TeiRerankRequest>;

export const TeiRerankResponse = Type.Array(
  Type.Object(
    { index: Type.Integer({ minimum: 0 }), text: Type.Optional(Type.String()), score: Type.Number() },
    { additionalProperties: false },
  ),
  { description: 'Best first; `text` with return_text.' },
);

const GenerateParameters = Type.Object(
  {
    max_new_tokens: Nullable(Long()),
    temperature: Nullable(Type.Number()),
    top_p: Nullable(Type.Number()),
    top_k: Nullable(Long()),
    repetition_penalty: Nullable(Type.Number()),
    seed: Nullable(Long()),
    stop: Nullable(Type.Array(Type.String())),
    return_full_text: Nullable(Type.Boolean()),
    details: Nullable(Type.Boolean({ description: "A stream's last event carries TGI's details." })),
  },
  { ...open, description: "TGI's generation parameters; the others TGI reads are accepted and not used." },
);

export const TgiGenerateRequest = Type.Object(
  { inputs: Type.String(), parameters: Type.Optional(GenerateParameters), stream: Type.Optional(Type.Boolean()) },
  { ...open, description: "TGI's /generate (and /generate_stream, and its `/` with `stream`) request." },
);
export type TgiGenerateRequest = Static<typeof TgiGenerateRequest>;

export const TgiGenerateResponse = Type.Object(
  {
    generated_text: Type.String(),
    details: Type.Optional(
      Type.Object(
        {
          finish_reason: Type.Union([Type.Literal('length'), Type.Literal('eos_token')]),
          generated_tokens: Type.Integer(),
          seed: Type.Null(),
          prefill: Type.Array(Type.Never()),
          tokens: Type.Array(Type.Never()),
        },
        {
          additionalProperties: false,
          description: 'With `parameters.details`: counted as a stream counts its tokens.',
        },
      ),
    ),
  },
  { additionalProperties: false, description: "TGI's /generate answer." },
);

/** The root of a generation endpoint answers as TGI's `/`: the answer in a list, as the Inference API. */
export const TgiCompatResponse = Type.Array(TgiGenerateResponse);

/** OpenAI's bodies on TGI's OpenAI-compatible routes: `model` may be anything (the path names the endpoint). */
export const TgiChatRequest = Type.Object(
  { ...OpenAiChatRequest.properties, model: Type.Optional(Type.String()) },
  { ...open, description: "TGI's /v1/chat/completions request (OpenAI's chat body)." },
);
export type TgiChatRequest = Static<typeof TgiChatRequest>;

export const TgiCompletionRequest = Type.Object(
  { ...OpenAiCompletionRequest.properties, model: Type.Optional(Type.String()) },
  { ...open, description: "TGI's /v1/completions request (OpenAI's completions body)." },
);
export type TgiCompletionRequest = Static<typeof TgiCompletionRequest>;

export const HfInfo = Type.Object(
  {
    model_id: Type.String(),
    inference_id: Type.String({ description: 'Ours: the endpoint behind the door.' }),
    task_type: Type.String({ description: 'Ours.' }),
  },
  { ...open, description: "What TEI's or TGI's /info says, as far as the endpoint knows it." },
);

const HfErrorBody = Type.Object(
  { error: Type.String(), error_type: Type.String() },
  { additionalProperties: false, description: "TEI's and TGI's error shape." },
);

/** Every Hugging Face door route's error answers. */
export const HfErrorResponses = { default: HfErrorBody } as const;
