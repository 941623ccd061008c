// GET / (what this server is, for tools that ask a cluster who it is) and GET /_health (for container and load-balancer checks).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { GetQuery } from '../schemas/endpoints.js';
import { ErrorResponses } from '../schemas/error-envelope.js';

export interface RootRoutesOptions {
  version: string;
}

const ServerInfo = Type.Object(
  { name: Type.String(), version: Type.Object({ number: Type.String() }, { additionalProperties: false }), tagline: Type.String() },
  { additionalProperties: false },
);

const Health = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false, description: 'The service is up and answering.' });

const rootRoutes: FastifyPluginAsyncTypebox<RootRoutesOptions> = async (app, { version }) => {
  app.get('/', { schema: { summary: 'Who this server is', querystring: GetQuery, response: { 200: ServerInfo, ...ErrorResponses } } }, async () => ({
    name: 'hf-inference-gateway',
    version: { number: version },
    tagline: 'An Elasticsearch-compatible inference API for Hugging Face models',
  }));
  // Needs no credentials (a container's health check has none) and answers the same bytes every time: it reveals nothing.
  app.get(
    '/_health',
    { config: { public: true }, schema: { summary: 'Health check (no credentials needed)', security: [], response: { 200: Health, ...ErrorResponses } } },
    async () => ({ status: 'ok' as const }),
  );
};

export default rootRoutes;
