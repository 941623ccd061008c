// The management page's static files (public/), served at /_ui by the service itself; the page calls the public API
// with the user's key.
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { fileURLToPath } from 'node:url';

export const UI_PREFIX = '/_ui';

/** public/ beside dist/ (this file runs as dist/plugins/management-ui.js). */
const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

/** The page loads only its own files and talks only to this service. */
const HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export async function managementUi(app: FastifyInstance): Promise<void> {
  // Encapsulated: reply.sendFile stays inside (Swagger UI registers its own copy of @fastify/static).
  await app.register(async (ui) => {
    await ui.register(fastifyStatic, {
      root: PUBLIC_DIR,
      prefix: `${UI_PREFIX}/`,
      index: false,
      setHeaders: (reply) => {
        reply.headers(HEADERS);
      },
    });
    // `/_ui` and `/_ui/` (trailing slashes are ignored by the router, so the wildcard never sees the bare folder).
    ui.get(UI_PREFIX, { schema: { hide: true } }, (_req, reply) => reply.headers(HEADERS).sendFile('index.html'));
  });
}
