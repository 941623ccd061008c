// Routes for the endpoint registry: PUT, GET, DELETE and _update under /_inference (docs/api.md#routes).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import type { TSchema } from 'typebox';
import type { RouteAccess } from '../plugins/authentication.js';
import type { EndpointRegistry } from '../src/endpoints/registry.js';
import { DEFAULT_TIMEOUT, parseBooleanParam, parseTimeValue } from '../src/request-params.js';
import type { SettingsMap } from '../src/store/endpoint-store.js';
import { ErrorResponses } from '../schemas/error-envelope.js';
import {
  DeleteAnswer,
  DeleteQuery,
  endpointListSchema,
  endpointViewSchema,
  GetQuery,
  InferenceIdParams,
  PutEndpointBody,
  PutQuery,
  TaskTypeAndIdParams,
  TaskTypeParams,
} from '../schemas/endpoints.js';

interface EndpointRoutesOptions {
  registry: EndpointRegistry;
  /** The service settings as the services show them, for the API document. */
  serviceSettingsView: TSchema;
}

/** Elasticsearch's action names, and the privilege each needs. */
const PUT: RouteAccess = { action: 'cluster:admin/xpack/inference/put', privilege: 'manage_inference' };
const GET: RouteAccess = { action: 'cluster:monitor/xpack/inference/get', privilege: 'monitor_inference' };
const DELETE: RouteAccess = { action: 'cluster:admin/xpack/inference/delete', privilege: 'manage_inference' };
const UPDATE: RouteAccess = { action: 'cluster:admin/xpack/inference/update', privilege: 'manage_inference' };

/** Each route's answers: its own on success, the error envelope otherwise. */
const DELETED = { 200: DeleteAnswer, ...ErrorResponses };

const endpointRoutes: FastifyPluginAsyncTypebox<EndpointRoutesOptions> = async (
  app,
  { registry, serviceSettingsView },
) => {
  const view = endpointViewSchema(serviceSettingsView);
  const VIEW = { 200: view, ...ErrorResponses };
  const LIST = { 200: endpointListSchema(view), ...ErrorResponses };
  // PUT: create. The task type comes from the path, or from the body's `task_type`.
  const create = (pathTaskType: string | undefined, inferenceId: string, body: unknown, timeout = DEFAULT_TIMEOUT) =>
    registry.create({
      pathTaskType,
      inferenceId,
      body: body as SettingsMap,
      timeout: { ms: parseTimeValue('timeout', timeout), text: timeout },
    });
  app.put(
    '/_inference/:task_type/:inference_id',
    {
      config: { access: PUT },
      schema: {
        summary: 'Create an inference endpoint',
        params: TaskTypeAndIdParams,
        querystring: PutQuery,
        body: PutEndpointBody,
        response: VIEW,
      },
    },
    async (req) => create(req.params.task_type, req.params.inference_id, req.body, req.query.timeout),
  );
  app.put(
    '/_inference/:inference_id',
    {
      config: { access: PUT },
      schema: {
        summary: 'Create an inference endpoint (task_type in the body)',
        params: InferenceIdParams,
        querystring: PutQuery,
        body: PutEndpointBody,
        response: VIEW,
      },
    },
    async (req) => create(undefined, req.params.inference_id, req.body, req.query.timeout),
  );

  // GET: a listing answers {"endpoints": [...]}, sorted; a named id that does not exist is a 404.
  // Sent as the registry writes it: 100,000 endpoints are too many for one JSON.stringify on the event loop.
  const listing = async (reply: FastifyReply, taskType?: string) =>
    reply.type('application/json; charset=utf-8').send(await registry.listJson(taskType));
  const listAll = async (_req: unknown, reply: FastifyReply) => listing(reply);
  const listSchema = (summary: string) => ({ summary, querystring: GetQuery, response: LIST });
  app.get('/_inference', { config: { access: GET }, schema: listSchema('List every endpoint') }, listAll);
  app.get('/_inference/_all', { config: { access: GET }, schema: listSchema('List every endpoint') }, listAll);
  app.get(
    '/_inference/:inference_id',
    { config: { access: GET }, schema: { ...listSchema('Read one endpoint'), params: InferenceIdParams } },
    async (req) => ({
      endpoints: [await registry.get(req.params.inference_id)],
    }),
  );
  app.get(
    '/_inference/:task_type/_all',
    { config: { access: GET }, schema: { ...listSchema('List the endpoints of a task type'), params: TaskTypeParams } },
    async (req, reply) => listing(reply, req.params.task_type),
  );
  app.get(
    '/_inference/:task_type/:inference_id',
    {
      config: { access: GET },
      schema: { ...listSchema('Read one endpoint of a task type'), params: TaskTypeAndIdParams },
    },
    async (req) => ({ endpoints: [await registry.get(req.params.inference_id, req.params.task_type)] }),
  );

  // DELETE: `dry_run` answers without deleting; `force` is accepted (nothing here can hold a reference).
  const remove = (inferenceId: string, taskType: string | undefined, query: { dry_run?: string; force?: string }) => {
    parseBooleanParam(query.force);
    return registry.delete(inferenceId, taskType, { dryRun: parseBooleanParam(query.dry_run) });
  };
  const deletion = { summary: 'Delete an endpoint', querystring: DeleteQuery, response: DELETED };
  app.delete(
    '/_inference/:inference_id',
    { config: { access: DELETE }, schema: { ...deletion, params: InferenceIdParams } },
    async (req) => remove(req.params.inference_id, undefined, req.query),
  );
  app.delete(
    '/_inference/:task_type/:inference_id',
    { config: { access: DELETE }, schema: { ...deletion, params: TaskTypeAndIdParams } },
    async (req) => remove(req.params.inference_id, req.params.task_type, req.query),
  );

  // _update: secrets, rate limit, task settings, chunking settings.
  const update = (inferenceId: string, taskType: string | undefined, body: unknown) =>
    registry.update(inferenceId, taskType, (body ?? {}) as SettingsMap);
  app.put(
    '/_inference/:inference_id/_update',
    {
      config: { access: UPDATE },
      schema: {
        summary: 'Update secrets, rate limit, task or chunking settings',
        params: InferenceIdParams,
        querystring: GetQuery,
        body: PutEndpointBody,
        response: VIEW,
      },
    },
    async (req) => update(req.params.inference_id, undefined, req.body),
  );
  app.put(
    '/_inference/:task_type/:inference_id/_update',
    {
      config: { access: UPDATE },
      schema: {
        summary: 'Update secrets, rate limit, task or chunking settings',
        params: TaskTypeAndIdParams,
        querystring: GetQuery,
        body: PutEndpointBody,
        response: VIEW,
      },
    },
    async (req) => update(req.params.inference_id, req.params.task_type, req.body),
  );
};

export default endpointRoutes;
