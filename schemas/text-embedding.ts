// TypeBox schemas of a text_embedding request (POST /_inference/text_embedding/{id}) and of its answer.
import Type, { type Static, type TSchema } from 'typebox';
import { Nullable } from './common.js';
import { CommonInferenceFields } from './inference.js';

export const TextEmbeddingRequest = Type.Object(
  { ...CommonInferenceFields, query: Nullable(Type.String()) },
  { additionalProperties: false, description: 'Texts to embed into dense vectors.' },
);
export type TextEmbeddingRequest = Static<typeof TextEmbeddingRequest>;

/** One chunk of a multi-chunk input (ours): offsets in UTF-16 code units of the input. */
export const EmbeddedChunk = <T extends TSchema>(embedding: T) =>
  Type.Object(
    {
      text: Type.String(),
      start_offset: Type.Integer({ minimum: 0 }),
      end_offset: Type.Integer({ minimum: 0 }),
      embedding,
    },
    { additionalProperties: false },
  );

const DenseVector = Type.Array(Type.Number(), { description: 'A dense vector, as the upstream wrote its floats.' });

export const TextEmbeddingResult = Type.Object(
  {
    text_embedding: Type.Array(
      Type.Object(
        { embedding: DenseVector, chunks: Type.Optional(Type.Array(EmbeddedChunk(DenseVector))) },
        { additionalProperties: false },
      ),
      { description: 'One entry per input, in input order; `chunks` only for an input cut into several chunks.' },
    ),
  },
  { additionalProperties: false },
);
