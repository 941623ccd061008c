// The Hugging Face door at /hf/<inference_id> (docs/doors.md#the-hugging-face-door): each endpoint answers as a
// text-embeddings-inference or text-generation-inference server, for clients of Inference Endpoints, TEI and TGI
// (Elasticsearch's hugging_face service, Dify, huggingface_hub, @huggingface/inference).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type, { type TSchema } from 'typebox';
import type { RouteAccess } from '../plugins/authentication.js';
import { sendError, type ErrorWriter } from '../plugins/elasticsearch-http.js';
import { hfError, type HfServer } from '../src/doors/door-errors.js';
import type { HfProtocol } from '../src/doors/hf-protocol.js';
import { errors } from '../src/errors.js';
import { bodyChecker } from '../src/request-body.js';
import {
  HfDoorParams,
  HfErrorResponses,
  HfInfo,
  HfSparseResponse,
  TeiEmbedRequest,
  TeiEmbedResponse,
  TeiRerankRequest,
  TeiRerankResponse,
  TgiChatRequest,
  TgiCompatResponse,
  TgiCompletionRequest,
  TgiGenerateRequest,
  TgiGenerateResponse,
} from '../schemas/hf-door.js';
import { OpenAiChatResponse, OpenAiCompletionResponse, OpenAiStream } from '../schemas/openai-door.js';
import { serveDoor } from './door-serving.js';

const INFER: RouteAccess = { action: 'cluster:monitor/xpack/inference/post', privilege: 'monitor_inference' };
const GET: RouteAccess = { action: 'cluster:monitor/xpack/inference/get', privilege: 'monitor_inference' };

const writerOf =
  (server: HfServer): ErrorWriter =>
  (error) =>
    hfError(error, server);
/** Routes every task type shares answer as the server of the endpoint's kind, once it is known (TEI before). */
const byEndpoint: ErrorWriter = (error, request: FastifyRequest) =>
  hfError(
    error,
    request.trace?.taskType === 'completion' || request.trace?.taskType === 'chat_completion' ? 'tgi' : 'tei',
  );

const config = (access: RouteAccess, errorWriter: ErrorWriter) => ({ access, door: 'hf', errorWriter });
const tags = ['Hugging Face door'];
const params = HfDoorParams;

const checkEmbed = bodyChecker(TeiEmbedRequest);
const checkRerank = bodyChecker(TeiRerankRequest);
const checkGenerate = bodyChecker(TgiGenerateRequest);

const streamOr = (json: TSchema) => ({
  description: 'application/json, or text/event-stream when streamed',
  content: { 'application/json': { schema: json }, ...OpenAiStream.content },
});

const hfDoor: FastifyPluginAsyncTypebox<{ protocol: HfProtocol }> = async (app, { protocol }) => {
  const tei = config(INFER, writerOf('tei'));
  const tgi = config(INFER, writerOf('tgi'));
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, errors.noHandler(request.method, request.url.split('?')[0] ?? request.url), writerOf('tei')),
  );

  // The endpoint's url itself, as an Inference Endpoint (TEI or TGI behind it) answers it.
  app.post(
    '/:inference_id',
    {
      config: config(INFER, byEndpoint),
      schema: {
        summary:
          "The endpoint's own url: TEI's /embed or /rerank, a sparse handler's token weights, or TGI's / (generate, `stream` to stream)",
        tags,
        params,
        body: Type.Union([TeiEmbedRequest, TeiRerankRequest, TgiGenerateRequest]),
        response: {
          200: streamOr(Type.Union([TeiEmbedResponse, HfSparseResponse, TeiRerankResponse, TgiCompatResponse])),
          ...HfErrorResponses,
        },
      },
    },
    async (req, reply) => {
      const id = req.params.inference_id;
      const taskType = await protocol.taskType(id);
      (req.trace ??= {}).taskType = taskType;
      return serveDoor(req, reply, async (door) => {
        switch (taskType) {
          case 'text_embedding':
            return protocol.embed(id, checkEmbed(req.body), door);
          case 'sparse_embedding':
            return protocol.embedSparse(id, checkEmbed(req.body), door);
          case 'rerank':
            return protocol.rerank(id, checkRerank(req.body), door);
          case 'completion': {
            const body = checkGenerate(req.body);
            const answer = await protocol.generate(id, body, door, body.stream === true);
            return 'json' in answer ? { json: `[${answer.json}]` } : answer;
          }
          default:
            throw errors.badRequest(
              `inference endpoint [${id}] is a [${taskType}] endpoint, which its url does not serve here: use /hf/${id}/v1/chat/completions for chat_completion`,
            );
        }
      });
    },
  );

  app.post(
    '/:inference_id/embed',
    {
      config: tei,
      schema: {
        summary: "TEI's /embed on a text_embedding endpoint",
        tags,
        params,
        body: TeiEmbedRequest,
        response: { 200: TeiEmbedResponse, ...HfErrorResponses },
      },
    },
    async (req, reply) => serveDoor(req, reply, (door) => protocol.embed(req.params.inference_id, req.body, door)),
  );

  app.post(
    '/:inference_id/embed_sparse',
    {
      config: tei,
      schema: {
        summary:
          "TEI's /embed_sparse: not served (it answers vocabulary ids); the url of a sparse_embedding endpoint answers token weights",
        tags,
        params,
        body: TeiEmbedRequest,
        response: { ...HfErrorResponses },
      },
    },
    async (req) => protocol.refuseSparseIds(req.params.inference_id),
  );

  app.post(
    '/:inference_id/rerank',
    {
      config: tei,
      schema: {
        summary: "TEI's /rerank on a rerank endpoint",
        tags,
        params,
        body: TeiRerankRequest,
        response: { 200: TeiRerankResponse, ...HfErrorResponses },
      },
    },
    async (req, reply) => serveDoor(req, reply, (door) => protocol.rerank(req.params.inference_id, req.body, door)),
  );

  app.post(
    '/:inference_id/generate',
    {
      config: tgi,
      schema: {
        summary: "TGI's /generate on a completion endpoint",
        tags,
        params,
        body: TgiGenerateRequest,
        response: { 200: TgiGenerateResponse, ...HfErrorResponses },
      },
    },
    async (req, reply) =>
      serveDoor(req, reply, (door) => protocol.generate(req.params.inference_id, req.body, door, false)),
  );

  app.post(
    '/:inference_id/generate_stream',
    {
      config: tgi,
      schema: {
        summary: "TGI's /generate_stream on a completion endpoint (server-sent token events)",
        tags,
        params,
        body: TgiGenerateRequest,
        response: { 200: OpenAiStream, ...HfErrorResponses },
      },
    },
    async (req, reply) =>
      serveDoor(req, reply, (door) => protocol.generate(req.params.inference_id, req.body, door, true)),
  );

  app.post(
    '/:inference_id/v1/chat/completions',
    {
      config: tgi,
      schema: {
        summary: "TGI's OpenAI-compatible chat on a chat_completion endpoint",
        tags,
        params,
        body: TgiChatRequest,
        response: { 200: streamOr(OpenAiChatResponse), ...HfErrorResponses },
      },
    },
    async (req, reply) => serveDoor(req, reply, (door) => protocol.chat(req.params.inference_id, req.body, door)),
  );

  app.post(
    '/:inference_id/v1/completions',
    {
      config: tgi,
      schema: {
        summary: "TGI's OpenAI-compatible completions on a completion endpoint",
        tags,
        params,
        body: TgiCompletionRequest,
        response: { 200: streamOr(OpenAiCompletionResponse), ...HfErrorResponses },
      },
    },
    async (req, reply) =>
      serveDoor(req, reply, (door) => protocol.completions(req.params.inference_id, req.body, door)),
  );

  app.get(
    '/:inference_id/info',
    {
      config: config(GET, byEndpoint),
      schema: {
        summary: 'What the endpoint knows of its model and server, as TEI or TGI says it',
        tags,
        params,
        response: { 200: HfInfo, ...HfErrorResponses },
      },
    },
    async (req, reply) => reply.type('application/json').send(await protocol.info(req.params.inference_id)),
  );
};

export default hfDoor;
