// The OpenAI door at /v1 (docs/doors.md#the-openai-door): embeddings, chat completions, completions and models over
// the endpoints of this service, for OpenAI's SDKs and the frameworks built on them.
import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RouteAccess } from '../plugins/authentication.js';
import { sendError, type ErrorWriter } from '../plugins/elasticsearch-http.js';
import type { DoorAnswer, DoorRequest } from '../src/doors/door-call.js';
import { openAiError } from '../src/doors/door-errors.js';
import type { OpenAiProtocol } from '../src/doors/openai-protocol.js';
import { errors } from '../src/errors.js';
import { DEFAULT_TIMEOUT } from '../src/request-params.js';
import {
  OpenAiChatRequest,
  OpenAiChatResponse,
  OpenAiCompletionRequest,
  OpenAiCompletionResponse,
  OpenAiEmbeddingRequest,
  OpenAiEmbeddingResponse,
  OpenAiErrorResponses,
  OpenAiModel,
  OpenAiModelDeleted,
  OpenAiModelList,
  OpenAiModelParams,
  OpenAiStream,
} from '../schemas/openai-door.js';
import { lifetimeOf } from './inference.js';

const INFER: RouteAccess = { action: 'cluster:monitor/xpack/inference/post', privilege: 'monitor_inference' };
const GET: RouteAccess = { action: 'cluster:monitor/xpack/inference/get', privilege: 'monitor_inference' };
const DELETE: RouteAccess = { action: 'cluster:admin/xpack/inference/delete', privilege: 'manage_inference' };

const writeError: ErrorWriter = openAiError;
const config = (access: RouteAccess) => ({ access, door: 'openai', errorWriter: writeError });
const tags = ['OpenAI door'];

/**
 * Runs a door's inference with the request's lifetime (the same `timeout` default as `_inference`), and sends its
 * answer: whole JSON, or server-sent events once the upstream's answer has begun.
 */
export async function serveDoor(
  request: FastifyRequest,
  reply: FastifyReply,
  run: (door: DoorRequest) => Promise<DoorAnswer | string>,
): Promise<FastifyReply> {
  if (request.body === undefined) throw errors.requestBodyRequired();
  const { lifetime, end, started } = lifetimeOf(reply, DEFAULT_TIMEOUT);
  const trace = (request.trace ??= {});
  trace.lifetime = lifetime;
  let events: AsyncIterable<string>;
  try {
    const answer = await run({ lifetime, trace, path: request.url.split('?')[0] ?? request.url });
    if (typeof answer === 'string' || 'json' in answer) {
      end();
      return reply.type('application/json').send(typeof answer === 'string' ? answer : answer.json);
    }
    // The deadline may have passed as the stream began: it then ended the upstream request.
    if (lifetime.cancelled) throw lifetime.reason;
    events = answer.events;
  } catch (err) {
    end();
    throw err;
  }
  // The timeout bounded the wait for the first byte; from here the client leaving is what ends the stream.
  started();
  return reply.header('Cache-Control', 'no-cache').type('text/event-stream').send(Readable.from(events));
}

const openAiDoor: FastifyPluginAsyncTypebox<{ protocol: OpenAiProtocol }> = async (app, { protocol }) => {
  // Any other path under /v1 answers in OpenAI's shape too.
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, errors.noHandler(request.method, request.url.split('?')[0] ?? request.url), writeError),
  );

  app.post(
    '/embeddings',
    {
      config: config(INFER),
      schema: {
        summary: 'Embed texts with a text_embedding endpoint (OpenAI embeddings)',
        tags,
        body: OpenAiEmbeddingRequest,
        response: { 200: OpenAiEmbeddingResponse, ...OpenAiErrorResponses },
      },
    },
    async (req, reply) => serveDoor(req, reply, (door) => protocol.embeddings(req.body, door)),
  );

  app.post(
    '/chat/completions',
    {
      config: config(INFER),
      schema: {
        summary: 'Chat with a chat_completion endpoint (OpenAI chat completions, whole or streamed)',
        tags,
        body: OpenAiChatRequest,
        response: {
          200: {
            description: 'application/json, or text/event-stream with `stream: true`',
            content: { 'application/json': { schema: OpenAiChatResponse }, ...OpenAiStream.content },
          },
          ...OpenAiErrorResponses,
        },
      },
    },
    async (req, reply) => serveDoor(req, reply, (door) => protocol.chat(req.body, door)),
  );

  app.post(
    '/completions',
    {
      config: config(INFER),
      schema: {
        summary: 'Complete prompts with a completion endpoint (OpenAI completions, whole or streamed)',
        tags,
        body: OpenAiCompletionRequest,
        response: {
          200: {
            description: 'application/json, or text/event-stream with `stream: true`',
            content: { 'application/json': { schema: OpenAiCompletionResponse }, ...OpenAiStream.content },
          },
          ...OpenAiErrorResponses,
        },
      },
    },
    async (req, reply) => serveDoor(req, reply, (door) => protocol.completions(req.body, door)),
  );

  app.get(
    '/models',
    {
      config: config(GET),
      schema: {
        summary: 'Every endpoint, as OpenAI models',
        tags,
        response: { 200: OpenAiModelList, ...OpenAiErrorResponses },
      },
    },
    async (_req, reply) => reply.type('application/json').send(await protocol.models()),
  );

  app.get(
    '/models/:model',
    {
      config: config(GET),
      schema: {
        summary: 'One endpoint, as an OpenAI model',
        tags,
        params: OpenAiModelParams,
        response: { 200: OpenAiModel, ...OpenAiErrorResponses },
      },
    },
    async (req, reply) => reply.type('application/json').send(await protocol.model(req.params.model)),
  );

  app.delete(
    '/models/:model',
    {
      config: config(DELETE),
      schema: {
        summary: 'Delete an endpoint (manage_inference)',
        tags,
        params: OpenAiModelParams,
        response: { 200: OpenAiModelDeleted, ...OpenAiErrorResponses },
      },
    },
    async (req, reply) => reply.type('application/json').send(await protocol.deleteModel(req.params.model)),
  );
};

export default openAiDoor;
