// TypeBox schemas shared by the inference routes: the query string, the fields every task's POST body may carry, the
// streamed answer.
import Type from 'typebox';
import { GlobalQueryProperties, Nullable } from './common.js';

/**
 * `top_n` and `return_documents` are rerank's request fields, which Elasticsearch 8 clients send in the query string.
 */
export const InferenceQuery = Type.Object(
  {
    ...GlobalQueryProperties,
    timeout: Type.Optional(Type.String()),
    top_n: Type.Optional(Type.String()),
    return_documents: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

/** `input`: one text or a list of texts. */
const Input = () => Nullable(Type.Union([Type.String(), Type.Array(Type.String())]));

/** Fields of Elasticsearch's inference request that every text task accepts. */
export const CommonInferenceFields = {
  input: Input(),
  input_type: Nullable(Type.String()),
  task_settings: Nullable(Type.Record(Type.String(), Type.Unknown())),
};

/** A streamed answer: `event: message` / `data: {…}` pairs, ending with `data: [DONE]` (docs/api.md#streaming). */
export const StreamAnswer = {
  description: 'Server-sent events: each `event: message` carries a JSON chunk in `data:`; the last data is `[DONE]`.',
  content: { 'text/event-stream': { schema: Type.String() } },
};
