// GET /: what this server is, for health checks and for tools that ask a cluster who it is.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { GetQuery } from '../schemas/endpoints.js';

export interface RootRoutesOptions {
  version: string;
}

const rootRoutes: FastifyPluginAsyncTypebox<RootRoutesOptions> = async (app, { version }) => {
  app.get('/', { schema: { querystring: GetQuery } }, async () => ({
    name: 'hf-inference-gateway',
    version: { number: version },
    tagline: 'An Elasticsearch-compatible inference API for Hugging Face models',
  }));
};

export default rootRoutes;
