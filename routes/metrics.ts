// GET /_prometheus/metrics: the Prometheus text exposition of the service's metrics (same authentication as the API).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteAccess } from '../plugins/authentication.js';
import { GetQuery } from '../schemas/endpoints.js';
import { ErrorResponses } from '../schemas/error-envelope.js';

interface MetricsRoutesOptions {
  /** The exposition as bytes (UTF-8). */
  scrape(): Promise<Buffer>;
  contentType: string;
}

/** Per-endpoint figures name endpoints: readable by whoever may read endpoints. */
const READ_METRICS: RouteAccess = { action: 'cluster:monitor/prometheus/metrics', privilege: 'monitor_inference' };

const metricsRoutes: FastifyPluginAsyncTypebox<MetricsRoutesOptions> = async (app, { scrape, contentType }) => {
  app.get(
    '/_prometheus/metrics',
    {
      config: { access: READ_METRICS },
      schema: {
        summary: 'Prometheus metrics',
        querystring: GetQuery,
        response: {
          200: { description: 'Prometheus text format 0.0.4.', content: { 'text/plain': { schema: Type.String() } } },
          ...ErrorResponses,
        },
      },
    },
    // Bytes, sent as they are; the schema above says what they hold (TypeBox types `send` from it).
    async (_req, reply) => reply.type(contentType).send((await scrape()) as unknown as string),
  );
};

export default metricsRoutes;
