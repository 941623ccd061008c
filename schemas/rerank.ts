// TypeBox schemas of a rerank request (POST /_inference/rerank/{id}) and of its answer.
import Type, { type Static } from 'typebox';
import { Int, Nullable } from './common.js';
import { CommonInferenceFields } from './inference.js';

export const RerankRequest = Type.Object(
  {
    ...CommonInferenceFields,
    query: Nullable(Type.String()),
    top_n: Nullable(Int()),
    return_documents: Nullable(Type.Boolean()),
  },
  { additionalProperties: false, description: 'Documents to order by relevance to a query.' },
);
export type RerankRequest = Static<typeof RerankRequest>;

export const RerankResult = Type.Object(
  {
    rerank: Type.Array(
      Type.Object(
        { index: Type.Integer({ minimum: 0 }), relevance_score: Type.Number(), text: Type.Optional(Type.String()) },
        { additionalProperties: false },
      ),
      {
        description:
          'Best first, cut to top_n; `index` is the position in the request input; `text` only with return_documents.',
      },
    ),
  },
  { additionalProperties: false },
);
