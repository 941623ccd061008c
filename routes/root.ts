// GET / (what this server is, for tools that ask a cluster who it is) and GET /_health (for container and load-balancer
// checks).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { GetQuery } from '../schemas/endpoints.js';
import { ErrorResponses } from '../schemas/error-envelope.js';

interface RootRoutesOptions {
  /** This service's own version (package.json). */
  version: string;
  /** The Elasticsearch version reported as `version.number` (ELASTICSEARCH_VERSION). */
  elasticsearchVersion: string;
}

// Elasticsearch's own answer has these fields (plus build and Lucene details this service has no
// honest value for): tools read `version.number` to pick a protocol, and older official clients
// check `build_flavor` and `tagline` when the X-Elastic-Product header is missing.
const ServerInfo = Type.Object(
  {
    name: Type.String(),
    cluster_name: Type.String(),
    version: Type.Object(
      {
        number: Type.String({
          description: 'The Elasticsearch API version the service answers as (ELASTICSEARCH_VERSION).',
        }),
        build_flavor: Type.Literal('default'),
      },
      { additionalProperties: false },
    ),
    tagline: Type.String(),
    gateway_version: Type.String({ description: "This service's own version." }),
  },
  { additionalProperties: false },
);

const Health = Type.Object(
  { status: Type.Literal('ok') },
  { additionalProperties: false, description: 'The service is up and answering.' },
);

const rootRoutes: FastifyPluginAsyncTypebox<RootRoutesOptions> = async (app, { version, elasticsearchVersion }) => {
  const info = {
    name: 'hf-inference-gateway',
    cluster_name: 'hf-inference-gateway',
    version: { number: elasticsearchVersion, build_flavor: 'default' as const },
    tagline: 'You Know, for Search',
    gateway_version: version,
  };
  app.get(
    '/',
    {
      schema: {
        summary: 'Who this server is',
        querystring: GetQuery,
        response: { 200: ServerInfo, ...ErrorResponses },
      },
    },
    async () => info,
  );
  // Needs no credentials (a container's health check has none) and answers the same bytes every time: it reveals
  // nothing.
  app.get(
    '/_health',
    {
      config: { public: true },
      schema: {
        summary: 'Health check (no credentials needed)',
        security: [],
        response: { 200: Health, ...ErrorResponses },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
};

export default rootRoutes;
