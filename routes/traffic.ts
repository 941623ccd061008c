// GET /_inference/_stats: each active endpoint's traffic over the last minutes on the instance that answered, for the
// management page's charts (docs/api.md#traffic-history).
import os from 'node:os';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RouteAccess } from '../plugins/authentication.js';
import { errors } from '../src/errors.js';
import type { TrafficHistoryView } from '../src/traffic-history.js';
import { ErrorResponses } from '../schemas/error-envelope.js';
import { TrafficAnswer, TrafficQuery } from '../schemas/traffic.js';

interface TrafficRoutesOptions {
  /** The history, with only the samples after `since` (epoch ms). */
  view(since: number): TrafficHistoryView;
}

/** Figures that name endpoints: readable by whoever may read endpoints, as the metrics are. */
const READ_STATS: RouteAccess = { action: 'cluster:monitor/xpack/inference/stats', privilege: 'monitor_inference' };

function parseSince(value: string | undefined): number {
  if (value === undefined) return 0;
  if (!/^\d{1,16}$/.test(value))
    throw errors.badRequest(`Failed to parse value [${value}] for parameter [since]: expected epoch milliseconds`);
  return Number(value);
}

/** `127.0.0.1:9200`, `[::1]:9200`; empty for a request that came through no socket (fastify's inject). */
function addressOf(socket: { localAddress?: string; localPort?: number }): string {
  const { localAddress: address, localPort: port } = socket;
  if (!address || port === undefined) return '';
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}

const trafficRoutes: FastifyPluginAsyncTypebox<TrafficRoutesOptions> = async (app, { view }) => {
  const host = os.hostname();
  app.get(
    '/_inference/_stats',
    {
      config: { access: READ_STATS },
      schema: {
        summary: "Each active endpoint's traffic over the last minutes, on this instance",
        querystring: TrafficQuery,
        response: { 200: TrafficAnswer, ...ErrorResponses },
      },
    },
    async (req) => ({
      instance: { host, pid: process.pid, address: addressOf(req.socket) },
      ...view(parseSince(req.query.since)),
    }),
  );
};

export default trafficRoutes;
