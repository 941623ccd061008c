// buildApp(config) → a ready-to-listen fastify instance; tests build it and use inject() or listen().
import fs from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { DestinationStream } from 'pino';
import { elasticsearchHttp, sendError } from '../plugins/elasticsearch-http.js';
import endpointRoutes from '../routes/endpoints.js';
import rootRoutes from '../routes/root.js';
import type { Config } from './config.js';
import { EndpointRegistry } from './endpoints.js';
import { errors } from './errors.js';
import { loggerOptions } from './logger.js';
import { KEY_CHECK_META, SecretBox } from './secrets.js';
import { SqliteEndpointStore } from './store/sqlite.js';
import type { EndpointStore } from './store/types.js';

const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export interface BuildOptions {
  /** Where log lines go (tests capture them); stdout by default. */
  logStream?: DestinationStream;
}

/** Opens the store and checks the secrets key against it: a wrong key fails here, before any request. */
function openStore(config: Config): { store: EndpointStore; secretBox: SecretBox } {
  const store = new SqliteEndpointStore(config.dataDir);
  try {
    const keyCheck = store.getMeta(KEY_CHECK_META);
    const secretBox = SecretBox.open({
      configuredKey: config.secretsKey,
      dataDir: config.dataDir,
      storeHasSecrets: keyCheck !== undefined,
      databasePath: store.location,
    });
    if (keyCheck === undefined) store.setMeta(KEY_CHECK_META, secretBox.sealKeyCheck());
    else secretBox.verifyKeyCheck(keyCheck, store.location);
    return { store, secretBox };
  } catch (err) {
    store.close();
    throw err;
  }
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const { store, secretBox } = openStore(config);
  const app = Fastify({
    logger: loggerOptions(config.logLevel, options.logStream),
    bodyLimit: config.bodyLimit,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 65536 },
    frameworkErrors: (err, _request, reply) => {
      sendError(reply, errors.badRequest(err.message));
    },
  })
    .setValidatorCompiler(TypeBoxValidatorCompiler)
    .withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onClose', async () => store.close());
  elasticsearchHttp(app, { bodyLimit: config.bodyLimit });
  const registry = new EndpointRegistry(store, secretBox);
  await app.register(rootRoutes, { version: pkg.version });
  await app.register(endpointRoutes, { registry });
  return app;
}
