// TypeBox schema of a completion request: POST /_inference/completion/{id} and its _stream.
import Type, { type Static } from 'typebox';
import { CommonInferenceFields } from './inference.js';

export const CompletionRequest = Type.Object(
  { ...CommonInferenceFields },
  { additionalProperties: false, description: 'Texts to complete: one answer per input (one input when streamed).' },
);
export type CompletionRequest = Static<typeof CompletionRequest>;

/** `{"completion":[{"result":"…"}]}`: one result per input, in input order. */
export const CompletionResult = Type.Object(
  { completion: Type.Array(Type.Object({ result: Type.String() }, { additionalProperties: false })) },
  { additionalProperties: false, description: 'completion: one generated text per input.' },
);
