// GET /_inference/_services (Elasticsearch 8.16+): the services this build serves, their task types and the settings
// each reads.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RouteAccess } from '../plugins/authentication.js';
import type { InferenceService } from '../src/services/inference-service.js';
import { parseTaskType } from '../src/inference-task-type.js';
import { GetQuery, TaskTypeParams } from '../schemas/endpoints.js';
import { ErrorResponses } from '../schemas/error-envelope.js';
import { ServicesList } from '../schemas/services.js';

interface ServicesRoutesOptions {
  services: readonly InferenceService[];
}

const GET_SERVICES: RouteAccess = {
  action: 'cluster:monitor/xpack/inference/services/get',
  privilege: 'monitor_inference',
};

const servicesRoutes: FastifyPluginAsyncTypebox<ServicesRoutesOptions> = async (app, { services }) => {
  const response = { 200: ServicesList, ...ErrorResponses };
  // A static segment: `_services` is never taken for an inference id (ids cannot start with `_`).
  app.get(
    '/_inference/_services',
    {
      config: { access: GET_SERVICES },
      schema: { summary: 'The services, their task types and settings', querystring: GetQuery, response },
    },
    async () => services.map((s) => s.describe()),
  );
  app.get(
    '/_inference/_services/:task_type',
    {
      config: { access: GET_SERVICES },
      schema: {
        summary: 'The services that serve a task type',
        params: TaskTypeParams,
        querystring: GetQuery,
        response,
      },
    },
    async (req) => {
      const taskType = parseTaskType(req.params.task_type);
      return services.map((s) => s.describe()).filter((d) => d.task_types.includes(taskType));
    },
  );
};

export default servicesRoutes;
