// Routes that run inference: POST /_inference/{task_type}/{inference_id}, /_inference/{inference_id}, and _stream.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { errors } from '../src/errors.js';
import type { InferencePipeline } from '../src/inference.js';
import { DEFAULT_TIMEOUT, parseTimeValue } from '../src/request-params.js';
import { parseTaskType } from '../src/task-types.js';
import { InferenceIdParams, TaskTypeAndIdParams } from '../schemas/endpoints.js';
import { InferenceBody, InferenceQuery } from '../schemas/inference.js';

export interface InferenceRoutesOptions {
  pipeline: InferencePipeline;
}

const INPUT_TYPES = ['ingest', 'search', 'classification', 'clustering', 'internal_ingest', 'internal_search'];

/**
 * The request's deadline, counted from its arrival, and a signal that aborts with the error to
 * answer: 408 when the deadline passes, or a cancellation when the client goes away first.
 */
function deadlineFor(reply: FastifyReply, timeout: string): { signal: AbortSignal; deadline: number; clear(): void } {
  const ms = parseTimeValue('timeout', timeout);
  const deadline = Date.now() - reply.elapsedTime + ms;
  const controller = new AbortController();
  const timer = Number.isFinite(ms)
    ? setTimeout(() => controller.abort(errors.timeout(timeout)), Math.max(0, Math.min(deadline - Date.now(), 2 ** 31 - 1)))
    : undefined;
  const onClose = () => {
    if (!reply.raw.writableEnded) controller.abort(errors.internal());
  };
  reply.raw.once('close', onClose);
  return {
    signal: controller.signal,
    deadline,
    clear() {
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
    const limit = deadlineFor(reply, timeout);
    try {
      return await pipeline.textEmbedding({
        inferenceId,
        pathTaskType,
        input: body.input,
        taskSettings: body.task_settings,
        signal: limit.signal,
        deadline: limit.deadline,
      });
    } finally {
      limit.clear();
    }
  };

  app.post(
    '/_inference/:task_type/:inference_id',
    { schema: { params: TaskTypeAndIdParams, querystring: InferenceQuery, body: InferenceBody } },
    async (req, reply) => run(reply, req.params.inference_id, req.params.task_type, req.body, req.query.timeout),
  );
  app.post(
    '/_inference/:inference_id',
    { schema: { params: InferenceIdParams, querystring: InferenceQuery, body: InferenceBody } },
    async (req, reply) => run(reply, req.params.inference_id, undefined, req.body, req.query.timeout),
  );

  // Streaming exists for completion task types, which this build does not serve yet.
  app.post(
    '/_inference/:task_type/:inference_id/_stream',
    { schema: { params: TaskTypeAndIdParams, querystring: InferenceQuery } },
    async (req) => {
      throw errors.streamingNotAllowed('hugging_face', parseTaskType(req.params.task_type));
    },
  );
};

export default inferenceRoutes;
