// The OpenAPI 3.1 document, generated from every route's TypeBox schemas (@fastify/swagger), at /_openapi.json, with
// Swagger UI at /_docs.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

export const OPENAPI_PATH = '/_openapi.json';
export const DOCS_PREFIX = '/_docs';

/** Registered before any route: the document collects routes as they are added. */
export async function openApi(app: FastifyInstance, opts: { version: string }): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'hf-inference-gateway',
        version: opts.version,
        description:
          "Elasticsearch's `_inference` API for Hugging Face models. Every error answer is Elasticsearch's envelope, with `status` equal to the HTTP status, except on the doors: `/v1` answers OpenAI's error shape, `/hf` that of TEI and TGI (docs/doors.md).",
      },
      components: {
        securitySchemes: {
          apiKey: {
            type: 'apiKey',
            in: 'header',
            name: 'Authorization',
            description:
              '`ApiKey <base64 of id:secret>` from `npm run keys -- create` (`Bearer` works too). Not needed while the service runs open.',
          },
        },
      },
      security: [{ apiKey: [] }],
    },
    // Schemas with an $id keep their name in components instead of `def-N`.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX, uiConfig: { docExpansion: 'list', deepLinking: true } });
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async (_req, reply) =>
    reply.type('application/json; charset=utf-8').send(JSON.stringify(app.swagger())),
  );
}
