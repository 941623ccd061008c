// GET /_prometheus/metrics: the Prometheus text exposition of the service's metrics (same authentication as the API).
import { Readable } from 'node:stream';
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

/** Bytes handed to the socket per turn of the event loop. */
const PIECE_BYTES = 64 * 1024;

/**
 * A large scrape, handed to the socket a piece per turn of the event loop: written in one call, 1.3 MB held the event
 * loop for 1-2 ms in the system call alone, and an inference request that arrived meanwhile waited behind it (twice or
 * more per request: its arrival, its upstream's answer). The pieces are views of the same bytes, nothing is copied.
 */
function inPieces(bytes: Buffer): Readable {
  let at = 0;
  return new Readable({
    highWaterMark: PIECE_BYTES,
    read() {
      setImmediate(() => {
        const piece = bytes.subarray(at, at + PIECE_BYTES);
        at += piece.length;
        this.push(piece.length > 0 ? piece : null);
      });
    },
  });
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
    async (_req, reply) => {
      const bytes = await scrape();
      reply.type(contentType);
      if (bytes.length <= PIECE_BYTES) return reply.send(bytes as unknown as string);
      return reply.header('content-length', bytes.length).send(inPieces(bytes) as unknown as string);
    },
  );
};

export default metricsRoutes;
