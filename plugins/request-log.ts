// One log line per request (instead of fastify's two): route, inference id, task type, status, duration, upstream
// requests; and the per-endpoint request metrics.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Cancellation } from '../src/cancellation.js';
import { maskSecrets, redactUrl } from '../src/redaction.js';
import type { TaskType } from '../src/inference-task-type.js';
import type { Telemetry } from '../src/telemetry.js';
import { refusedWith } from './elasticsearch-http.js';

/** The status logged for a request whose client closed the connection before anything was sent (nginx's). */
const CLIENT_CLOSED = 499;

/** What a request learns on its way that its log line reports. */
interface RequestTrace {
  /** The endpoint served and its task type, once the endpoint is known. */
  inferenceId?: string;
  taskType?: TaskType;
  /** The request's lifetime, which counts the upstream requests made for it. */
  lifetime?: Cancellation;
  /** The exception type of an error answer. */
  error?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    trace: RequestTrace | null;
  }
  interface FastifyContextConfig {
    /** The door a route belongs to (`openai`, `hf`: docs/doors.md), named in its log line. */
    door?: string;
  }
}

/**
 * A path part as it may be logged: one shaped like a Hugging Face token is masked (ids and task types come from
 * anyone).
 */
const safe = (value: string | undefined) => (value === undefined ? undefined : maskSecrets(value, [], '[Redacted]'));

export function requestLog(app: FastifyInstance, opts: { telemetry: Telemetry }): void {
  app.decorateRequest('trace', null);
  // At debug level, a line when a request arrives too: what is in flight shows before it ends.
  // The hook exists only then (the level is fixed at start), so it costs nothing otherwise.
  if ((app.log as Logger).isLevelEnabled('debug')) {
    app.addHook('onRequest', (request, _reply, done) => {
      request.log.debug({ req: request.raw }, 'request received');
      done();
    });
  }
  // The request line's fields are all known and safe (ids and paths masked below), so it is written
  // by a logger without the redaction pass, which would otherwise cost a tenth of a request's CPU.
  const lines = (app.log as Logger).child({}, { redact: [] });
  /** The request's line and its metrics. `clientClosed`: the connection closed before the answer was complete. */
  const finished = (request: FastifyRequest, reply: FastifyReply, clientClosed: boolean) => {
    const trace = request.trace;
    const params = request.params as { inference_id?: string; task_type?: string } | undefined;
    // The runner names the endpoint it served (`/_inference/{id}/_stream` puts the id where a task type goes).
    const inferenceId = trace?.inferenceId ?? params?.inference_id;
    // A request the service stopped reading (REQUEST_READ_TIMEOUT) has the answer it was given on the connection.
    const refused = clientClosed && !reply.raw.headersSent ? refusedWith(request.raw.socket) : undefined;
    // Nothing sent: 499, as nginx logs a client that closed the connection; a stream cut short keeps the status it
    // began with.
    const status = refused?.status ?? (clientClosed && !reply.raw.headersSent ? CLIENT_CLOSED : reply.statusCode);
    const ms = reply.elapsedTime;
    // Only endpoints that exist get series: ids in requests are anyone's to choose, and one deleted
    // while its request was out (answered 404) must not come back after its series were dropped.
    if (trace?.taskType && inferenceId !== undefined && status !== 404)
      opts.telemetry.inferenceRequest(inferenceId, trace.taskType, status, ms / 1000);
    // The line's fields are built only when it will be written (at warn and above it is not).
    if (lines.isLevelEnabled('info')) {
      // Read once: request.routeOptions builds a new object on every read.
      const options = request.routeOptions;
      const route = options.url;
      lines.info(
        {
          reqId: request.id,
          method: request.method,
          route,
          door: options.config?.door,
          // The path itself only when no route matched (a route plus its ids says it otherwise).
          url: route === undefined ? redactUrl(request.url.split('?')[0]!) : undefined,
          inference_id: safe(inferenceId),
          task_type: trace?.taskType ?? safe(params?.task_type),
          status,
          duration_ms: Math.round(ms * 10) / 10,
          upstream_requests: trace?.lifetime?.upstreamRequests,
          cache_hits: trace?.lifetime?.cacheHits,
          error: refused?.type ?? trace?.error,
          client_closed: (clientClosed && !refused) || undefined,
        },
        'request completed',
      );
    }
  };
  // Callback hooks: they run on every request and need no promise. fastify's onResponse follows
  // an answer that was written to its end; a connection that closed before the answer was ended
  // (a client that left while its request waited, a stream cut short) gets its line here.
  app.addHook('onRequest', (request, reply, done) => {
    reply.raw.once('close', () => {
      if (!reply.raw.writableEnded) finished(request, reply, true);
    });
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    finished(request, reply, false);
    done();
  });
}
