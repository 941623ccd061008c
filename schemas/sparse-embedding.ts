// TypeBox schemas of a sparse_embedding request (POST /_inference/sparse_embedding/{id}) and of its answer.
import Type, { type Static } from 'typebox';
import { CommonInferenceFields } from './inference.js';
import { EmbeddedChunk } from './text-embedding.js';

export const SparseEmbeddingRequest = Type.Object(
  { ...CommonInferenceFields },
  { additionalProperties: false, description: 'Texts to embed into token weights.' },
);
export type SparseEmbeddingRequest = Static<typeof SparseEmbeddingRequest>;

const SparseVector = Type.Record(Type.String(), Type.Number(), { description: 'Token → weight.' });

export const SparseEmbeddingResult = Type.Object(
  {
    sparse_embedding: Type.Array(
      Type.Object(
        {
          is_truncated: Type.Boolean(),
          embedding: SparseVector,
          chunks: Type.Optional(Type.Array(EmbeddedChunk(SparseVector))),
        },
        { additionalProperties: false },
      ),
      { description: 'One entry per input, in input order.' },
    ),
  },
  { additionalProperties: false },
);
