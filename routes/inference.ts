// Routes that run inference: POST /_inference/{task_type}/{inference_id}, /_inference/{inference_id}, and _stream.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import type { RouteAccess } from '../plugins/authentication.js';
import { Cancellation } from '../src/cancellation.js';
import { errors } from '../src/errors.js';
import { textEmbeddingJson, type InferencePipeline } from '../src/inference.js';
import { DEFAULT_TIMEOUT, parseTimeValue } from '../src/request-params.js';
import { parseTaskType } from '../src/task-types.js';
import { InferenceIdParams, TaskTypeAndIdParams } from '../schemas/endpoints.js';
import { InferenceBody, InferenceQuery } from '../schemas/inference.js';

export interface InferenceRoutesOptions {
  pipeline: InferencePipeline;
}

const INFER: RouteAccess = { action: 'cluster:monitor/xpack/inference/post', privilege: 'monitor_inference' };

const INPUT_TYPES = ['ingest', 'search', 'classification', 'clustering', 'internal_ingest', 'internal_search'];

/** Given to work whose client has gone: nobody reads it. */
const CLIENT_GONE = { reason: 'the client closed the connection' };

/**
 * The request's lifetime, its deadline counted from arrival: cancelled with 408 when the
 * deadline passes, or when the client goes away first.
 */
function lifetimeOf(reply: FastifyReply, timeout: string): { lifetime: Cancellation; end(): void } {
  const ms = parseTimeValue('timeout', timeout);
  const lifetime = new Cancellation(Date.now() - reply.elapsedTime + ms);
  const timer = Number.isFinite(ms)
    ? setTimeout(() => lifetime.cancel(errors.timeout(timeout)), Math.max(0, Math.min(lifetime.deadline - Date.now(), 2 ** 31 - 1)))
    : undefined;
  const onClose = () => {
    if (!reply.raw.writableEnded) lifetime.cancel(CLIENT_GONE);
  };
  reply.raw.once('close', onClose);
  return {
    lifetime,
    end() {
      clearTimeout(timer);
      reply.raw.off('close', onClose);
    },
  };
}

const inferenceRoutes: FastifyPluginAsyncTypebox<InferenceRoutesOptions> = async (app, { pipeline }) => {
  const run = async (
    reply: FastifyReply,
    inferenceId: string,
    pathTaskType: string | undefined,
    body: { input?: unknown; input_type?: string | null; task_settings?: Record<string, unknown> | null } | undefined,
    timeout = DEFAULT_TIMEOUT,
  ) => {
    if (pathTaskType !== undefined) parseTaskType(pathTaskType);
    if (body === undefined) throw errors.requestBodyRequired();
    if (body.input_type != null && !INPUT_TYPES.includes(body.input_type.toLowerCase())) {
      throw errors.validation([`Field [input_type] must be one of [${INPUT_TYPES.join(', ')}], got [${body.input_type}]`]);
    }
    const { lifetime, end } = lifetimeOf(reply, timeout);
    try {
      const entries = await pipeline.textEmbedding({ inferenceId, pathTaskType, input: body.input, taskSettings: body.task_settings, lifetime });
      return reply.type('application/json; charset=utf-8').send(textEmbeddingJson(entries));
    } finally {
      end();
    }
  };

  app.post(
    '/_inference/:task_type/:inference_id',
    { config: { access: INFER }, schema: { params: TaskTypeAndIdParams, querystring: InferenceQuery, body: InferenceBody } },
    async (req, reply) => run(reply, req.params.inference_id, req.params.task_type, req.body, req.query.timeout),
  );
  app.post(
    '/_inference/:inference_id',
    { config: { access: INFER }, schema: { params: InferenceIdParams, querystring: InferenceQuery, body: InferenceBody } },
    async (req, reply) => run(reply, req.params.inference_id, undefined, req.body, req.query.timeout),
  );

  // Streaming exists for completion task types, which this build does not serve yet.
  app.post(
    '/_inference/:task_type/:inference_id/_stream',
    { config: { access: INFER }, schema: { params: TaskTypeAndIdParams, querystring: InferenceQuery } },
    async (req) => {
      throw errors.streamingNotAllowed('hugging_face', parseTaskType(req.params.task_type));
    },
  );
};

export default inferenceRoutes;
