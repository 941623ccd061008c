// The OpenAI door at /v1 (docs/doors.md#the-openai-door): embeddings, chat completions, completions and models over
// the endpoints of this service, for OpenAI's SDKs and the frameworks built on them.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RouteAccess } from '../plugins/authentication.js';
import { sendError, type ErrorWriter } from '../plugins/elasticsearch-http.js';
import { openAiError } from '../src/doors/door-errors.js';
import type { OpenAiProtocol } from '../src/doors/openai-protocol.js';
import { errors } from '../src/errors.js';
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
import { serveDoor } from './door-serving.js';

const INFER: RouteAccess = { action: 'cluster:monitor/xpack/inference/post', privilege: 'monitor_inference' };
const GET: RouteAccess = { action: 'cluster:monitor/xpack/inference/get', privilege: 'monitor_inference' };
const DELETE: RouteAccess = { action: 'cluster:admin/xpack/inference/delete', privilege: 'manage_inference' };

const writeError: ErrorWriter = openAiError;
const config = (access: RouteAccess) => ({ access, door: 'openai', errorWriter: writeError });
const tags = ['OpenAI door'];

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
