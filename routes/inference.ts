// Routes that run inference: POST /_inference/{task_type}/{inference_id}, /_inference/{inference_id}, _stream and
// _unified.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SwaggerTransform } from '@fastify/swagger';
import type { FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import Type from 'typebox';
import type { RouteAccess } from '../plugins/authentication.js';
import { sendEvents } from '../plugins/elasticsearch-http.js';
import { Cancellation } from '../src/cancellation.js';
import { errors } from '../src/errors.js';
import { DEFAULT_TIMEOUT, parseTimeValue } from '../src/request-params.js';
import { allTasks } from '../src/tasks/task-catalog.js';
import type { InferenceCall, InferenceRunner } from '../src/tasks/runner.js';
import type { EventStream } from '../src/tasks/task-module.js';
import { parseTaskType } from '../src/inference-task-type.js';
import { InferenceIdParams, TaskTypeAndIdParams } from '../schemas/endpoints.js';
import { ErrorResponses } from '../schemas/error-envelope.js';
import { InferenceQuery, StreamAnswer } from '../schemas/inference.js';
import { ChatCompletionRequest } from '../schemas/chat-completion.js';

interface InferenceRoutesOptions {
  runner: InferenceRunner;
}

/** Task types answered by a plain POST (chat_completion answers only on `_stream`). */
const postable = () => allTasks().filter((t) => t.run !== undefined);

/** For the document: any task's answer (POST /_inference/{task_type}/{id} answers the task's own). */
const InferenceResult = Type.Union(
  postable().map((t) => t.resultSchema),
  { description: "The task type's result: text_embedding, sparse_embedding, rerank…" },
);

/** For the document: any task's request body (the route checks the body of the endpoint's task itself). */
const InferenceRequestDoc: SwaggerTransform<FastifySchema> = ({ schema, url }) => ({
  schema: {
    ...schema,
    body: Type.Union(
      postable().map((t) => t.requestSchema),
      { description: "The task type's request body." },
    ),
  },
  url,
});

/** For the document: `_unified`'s body is always the chat body. */
const ChatRequestDoc: SwaggerTransform<FastifySchema> = ({ schema, url }) => ({
  schema: { ...schema, body: ChatCompletionRequest },
  url,
});

const INFER: RouteAccess = { action: 'cluster:monitor/xpack/inference/post', privilege: 'monitor_inference' };

/**
 * The request's lifetime, its deadline counted from arrival: cancelled with 408 when the
 * deadline passes, or when the client goes away first. `started()` lifts the deadline (a stream
 * has begun) but keeps watching the client.
 */
export function lifetimeOf(
  reply: FastifyReply,
  timeout: string,
): { lifetime: Cancellation; end(): void; started(): void } {
  const ms = parseTimeValue('timeout', timeout);
  // reply.elapsedTime runs from when the headers were read: the time spent reading the body counts.
  const lifetime = new Cancellation(Date.now() - reply.elapsedTime + ms);
  // Past already (the body took longer to arrive than the timeout): nothing of it is started.
  if (lifetime.deadline <= Date.now()) lifetime.cancel(errors.timeout(timeout));
  const timer =
    Number.isFinite(ms) && !lifetime.cancelled
      ? setTimeout(
          () => lifetime.cancel(errors.timeout(timeout)),
          // Whole milliseconds: node keeps one list per duration, and requests with the same timeout then share one.
          Math.max(0, Math.min(Math.ceil(lifetime.deadline - Date.now()), 2 ** 31 - 1)),
        )
      : undefined;
  const onClose = () => {
    if (!reply.raw.writableEnded) lifetime.cancel(errors.clientGone());
  };
  reply.raw.once('close', onClose);
  // A client that left before the handler ran (say, while its key was checked) is gone already.
  if (reply.raw.closed || reply.raw.destroyed) onClose();
  return {
    lifetime,
    end() {
      clearTimeout(timer);
      reply.raw.off('close', onClose);
    },
    started() {
      clearTimeout(timer);
    },
  };
}

/** What an inference answer says it cost upstream (docs/api.md#what-a-request-cost). */
const UPSTREAM_REQUESTS_HEADER = 'x-inference-upstream-requests';
const CACHE_HITS_HEADER = 'x-inference-cache-hits';

/** The request's cost as it stands: upstream requests made, and texts the embedding cache answered (when it was asked). */
function costHeaders(lifetime: Cancellation): Record<string, string> {
  return lifetime.cacheHits === undefined
    ? { [UPSTREAM_REQUESTS_HEADER]: String(lifetime.upstreamRequests) }
    : {
        [UPSTREAM_REQUESTS_HEADER]: String(lifetime.upstreamRequests),
        [CACHE_HITS_HEADER]: String(lifetime.cacheHits),
      };
}

const inferenceRoutes: FastifyPluginAsyncTypebox<InferenceRoutesOptions> = async (app, { runner }) => {
  // Every answer of these routes, errors included, once the request's lifetime exists: the count as it stands when the
  // headers leave (a stream's when it begins). A callback hook, scoped to this plugin's routes.
  app.addHook('onSend', (request, reply, _payload, done) => {
    const lifetime = request.trace?.lifetime;
    if (lifetime) reply.headers(costHeaders(lifetime));
    done();
  });
  /**
   * The runner's call for this request (the task type the path names parsed, a body required), and the request's
   * lifetime.
   */
  const callOf = (
    request: FastifyRequest,
    reply: FastifyReply,
    inferenceId: string,
    pathTaskType: string | undefined,
  ) => {
    const query = request.query as Record<string, string | undefined>;
    const taskType = pathTaskType === undefined ? undefined : parseTaskType(pathTaskType);
    if (request.body === undefined) throw errors.requestBodyRequired();
    const life = lifetimeOf(reply, query.timeout ?? DEFAULT_TIMEOUT);
    const trace = (request.trace ??= {});
    trace.lifetime = life.lifetime;
    const call: InferenceCall = {
      inferenceId,
      taskType,
      body: request.body,
      query,
      path: request.url.split('?')[0] ?? request.url,
      lifetime: life.lifetime,
      trace,
    };
    return { call, ...life };
  };

  const run = async (
    request: FastifyRequest,
    reply: FastifyReply,
    inferenceId: string,
    pathTaskType: string | undefined,
  ) => {
    const { call, end } = callOf(request, reply, inferenceId, pathTaskType);
    try {
      const json = await runner.infer(call);
      return reply.type('application/json; charset=utf-8').send(json);
    } finally {
      end();
    }
  };

  /**
   * Server-sent events once the upstream's answer has begun; until then, errors are ordinary answers. `unified`: the
   * `_unified` route (a chat_completion stream whatever the path says).
   */
  const stream = async (
    request: FastifyRequest,
    reply: FastifyReply,
    inferenceId: string,
    pathTaskType: string | undefined,
    unified = false,
  ) => {
    const { call, lifetime, end, started } = callOf(request, reply, inferenceId, pathTaskType);
    let events: EventStream | undefined;
    try {
      events = await (unified ? runner.unified(call) : runner.stream(call));
      // The deadline may have passed as the stream began: it then ended the upstream request.
      if (lifetime.cancelled) throw lifetime.reason;
    } catch (err) {
      events?.close();
      end();
      throw err;
    }
    // The timeout bounded the wait for the first byte; from here the client leaving is what ends the stream.
    started();
    // text/event-stream whatever the Accept header says (the clients ask for their JSON type).
    return sendEvents(reply, events, costHeaders(lifetime));
  };

  // The body's shape depends on the task type, which the one-segment form learns from the endpoint: each task checks
  // its own.
  // The document shows every task's body (swaggerTransform), which fastify itself does not check here.
  // `/_inference/{inference_id}/_stream` (Elasticsearch's stream of any task type) and `/_inference/{inference_id}/_unified`
  // land here too: neither `_stream` nor `_unified` is ever an id.
  const response = { 200: InferenceResult, ...ErrorResponses };
  const documented = { swaggerTransform: InferenceRequestDoc };
  app.post(
    '/_inference/:task_type/:inference_id',
    {
      config: { access: INFER, ...documented },
      schema: {
        summary: 'Run inference on an endpoint of this task type',
        params: TaskTypeAndIdParams,
        querystring: InferenceQuery,
        response,
      },
    },
    async (req, reply) =>
      req.params.inference_id === '_stream' || req.params.inference_id === '_unified'
        ? stream(req, reply, req.params.task_type, undefined, req.params.inference_id === '_unified')
        : run(req, reply, req.params.inference_id, req.params.task_type),
  );
  app.post(
    '/_inference/:inference_id',
    {
      config: { access: INFER, ...documented },
      schema: {
        summary: "Run inference (the task type is the endpoint's)",
        params: InferenceIdParams,
        querystring: InferenceQuery,
        response,
      },
    },
    async (req, reply) => run(req, reply, req.params.inference_id, undefined),
  );

  app.post(
    '/_inference/:task_type/:inference_id/_stream',
    {
      config: { access: INFER },
      schema: {
        summary: 'Streamed inference (server-sent events)',
        params: TaskTypeAndIdParams,
        querystring: InferenceQuery,
        response: { 200: StreamAnswer, ...ErrorResponses },
      },
    },
    async (req, reply) => stream(req, reply, req.params.inference_id, req.params.task_type),
  );

  // Elasticsearch still registers `_unified` (RestUnifiedCompletionInferenceAction): the chat API's first route, now
  // `_stream` on chat_completion. It answers as that does.
  app.post(
    '/_inference/:task_type/:inference_id/_unified',
    {
      // The document shows the chat body, which the chat_completion task checks itself (not fastify).
      config: { access: INFER, swaggerTransform: ChatRequestDoc },
      schema: {
        summary: 'Chat completion stream, as _stream on chat_completion (server-sent events)',
        params: TaskTypeAndIdParams,
        querystring: InferenceQuery,
        response: { 200: StreamAnswer, ...ErrorResponses },
      },
    },
    async (req, reply) => stream(req, reply, req.params.inference_id, req.params.task_type, true),
  );
};

export default inferenceRoutes;
