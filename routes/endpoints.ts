// Routes for the endpoint registry: PUT, GET, DELETE and _update under /_inference (SPEC §1).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RouteAccess } from '../plugins/authentication.js';
import type { EndpointRegistry } from '../src/endpoints.js';
import { DEFAULT_TIMEOUT, parseBooleanParam, parseTimeValue } from '../src/request-params.js';
import type { SettingsMap } from '../src/store/types.js';
import {
  DeleteQuery,
  GetQuery,
  InferenceIdParams,
  PutEndpointBody,
  PutQuery,
  TaskTypeAndIdParams,
  TaskTypeParams,
  UpdateEndpointBody,
} from '../schemas/endpoints.js';

export interface EndpointRoutesOptions {
  registry: EndpointRegistry;
}

/** Elasticsearch's action names, and the privilege each needs. */
const PUT: RouteAccess = { action: 'cluster:admin/xpack/inference/put', privilege: 'manage_inference' };
const GET: RouteAccess = { action: 'cluster:monitor/xpack/inference/get', privilege: 'monitor_inference' };
const DELETE: RouteAccess = { action: 'cluster:admin/xpack/inference/delete', privilege: 'manage_inference' };
const UPDATE: RouteAccess = { action: 'cluster:admin/xpack/inference/update', privilege: 'manage_inference' };

const endpointRoutes: FastifyPluginAsyncTypebox<EndpointRoutesOptions> = async (app, { registry }) => {
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
    { config: { access: PUT }, schema: { params: TaskTypeAndIdParams, querystring: PutQuery, body: PutEndpointBody } },
    async (req) => create(req.params.task_type, req.params.inference_id, req.body, req.query.timeout),
  );
  app.put(
    '/_inference/:inference_id',
    { config: { access: PUT }, schema: { params: InferenceIdParams, querystring: PutQuery, body: PutEndpointBody } },
    async (req) => create(undefined, req.params.inference_id, req.body, req.query.timeout),
  );

  // GET: a listing answers {"endpoints": [...]}, sorted; a named id that does not exist is a 404.
  const listAll = async () => ({ endpoints: await registry.list() });
  app.get('/_inference', { config: { access: GET }, schema: { querystring: GetQuery } }, listAll);
  app.get('/_inference/_all', { config: { access: GET }, schema: { querystring: GetQuery } }, listAll);
  app.get('/_inference/:inference_id', { config: { access: GET }, schema: { params: InferenceIdParams, querystring: GetQuery } }, async (req) => ({
    endpoints: [await registry.get(req.params.inference_id)],
  }));
  app.get('/_inference/:task_type/_all', { config: { access: GET }, schema: { params: TaskTypeParams, querystring: GetQuery } }, async (req) => ({
    endpoints: await registry.list(req.params.task_type),
  }));
  app.get('/_inference/:task_type/:inference_id', { config: { access: GET }, schema: { params: TaskTypeAndIdParams, querystring: GetQuery } }, async (req) => ({
    endpoints: [await registry.get(req.params.inference_id, req.params.task_type)],
  }));

  // DELETE: `dry_run` answers without deleting; `force` is accepted (nothing here can hold a reference).
  const remove = (inferenceId: string, taskType: string | undefined, query: { dry_run?: string; force?: string }) => {
    parseBooleanParam(query.force);
    return registry.delete(inferenceId, taskType, { dryRun: parseBooleanParam(query.dry_run) });
  };
  app.delete('/_inference/:inference_id', { config: { access: DELETE }, schema: { params: InferenceIdParams, querystring: DeleteQuery } }, async (req) =>
    remove(req.params.inference_id, undefined, req.query),
  );
  app.delete('/_inference/:task_type/:inference_id', { config: { access: DELETE }, schema: { params: TaskTypeAndIdParams, querystring: DeleteQuery } }, async (req) =>
    remove(req.params.inference_id, req.params.task_type, req.query),
  );

  // _update: secrets, rate limit, task settings, chunking settings.
  const update = (inferenceId: string, taskType: string | undefined, body: unknown) =>
    registry.update(inferenceId, taskType, (body ?? {}) as SettingsMap);
  app.put(
    '/_inference/:inference_id/_update',
    { config: { access: UPDATE }, schema: { params: InferenceIdParams, querystring: GetQuery, body: UpdateEndpointBody } },
    async (req) => update(req.params.inference_id, undefined, req.body),
  );
  app.put(
    '/_inference/:task_type/:inference_id/_update',
    { config: { access: UPDATE }, schema: { params: TaskTypeAndIdParams, querystring: GetQuery, body: UpdateEndpointBody } },
    async (req) => update(req.params.inference_id, req.params.task_type, req.body),
  );
};

export default endpointRoutes;
