// POST /_inference/<inference_id>/_cache/clear: an operator forgets the cached vectors of one endpoint's upstream
// (docs/embedding-cache.md#clearing), named after Elasticsearch's `POST /<index>/_cache/clear`.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteAccess } from '../plugins/authentication.js';
import { GetQuery, InferenceIdParams } from '../schemas/endpoints.js';
import { ErrorResponses } from '../schemas/error-envelope.js';

interface CacheRoutesOptions {
  /** Forgets the endpoint's cached vectors; resolves to how many entries went. Throws 404 for an unknown endpoint. */
  clear(inferenceId: string): Promise<number>;
}

/** Changes what endpoints cost: the privilege that changes endpoints. */
const CLEAR: RouteAccess = { action: 'cluster:admin/xpack/inference/cache/clear', privilege: 'manage_inference' };

const CacheClearAnswer = Type.Object(
  {
    acknowledged: Type.Boolean(),
    cleared: Type.Integer({
      minimum: 0,
      description: "Entries removed: from this instance's memory, or from Redis when it is shared (whichever is more).",
    }),
  },
  { additionalProperties: false },
);

const cacheRoutes: FastifyPluginAsyncTypebox<CacheRoutesOptions> = async (app, { clear }) => {
  app.post(
    '/_inference/:inference_id/_cache/clear',
    {
      config: { access: CLEAR },
      schema: {
        summary: "Clear an endpoint's cached embeddings",
        params: InferenceIdParams,
        querystring: GetQuery,
        response: { 200: CacheClearAnswer, ...ErrorResponses },
      },
    },
    async (req) => ({ acknowledged: true, cleared: await clear(req.params.inference_id) }),
  );
};

export default cacheRoutes;
