// buildApp(config) → a ready-to-listen fastify instance; tests build it and use inject() or listen().
import fs from 'node:fs';
import Fastify, { type FastifyInstance, type FastifySchemaCompiler } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { DestinationStream } from 'pino';
import { authentication } from '../plugins/authentication.js';
import { elasticsearchHttp, sendError } from '../plugins/elasticsearch-http.js';
import endpointRoutes from '../routes/endpoints.js';
import inferenceRoutes from '../routes/inference.js';
import rootRoutes from '../routes/root.js';
import { ApiKeys } from './auth/api-keys.js';
import { ConfigError, isLoopback, type Config } from './config.js';
import { EndpointRegistry } from './endpoints.js';
import { errors } from './errors.js';
import { InferencePipeline } from './inference.js';
import type { RetryPolicy } from './limiter/batch-queue.js';
import { loggerOptions } from './logger.js';
import { KEY_CHECK_META, SecretBox } from './secrets.js';
import { HttpTransport } from './services/http-transport.js';
import { BlockedHostError, UpstreamGuard, type Resolver } from './services/upstream-guard.js';
import { SqliteEndpointStore } from './store/sqlite.js';

const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export interface BuildOptions {
  /** Where log lines go (tests capture them); stdout by default. */
  logStream?: DestinationStream;
  /** Retry timing (tests shorten it); SPEC §3's 3 attempts, 1 s to 5 s, by default. */
  retry?: RetryPolicy;
  /** Waiting batches per endpoint before 429 (tests shrink it); 2000 by default. */
  queueCapacity?: number;
  /** How upstream host names resolve (tests map names to addresses); the system resolver by default. */
  resolver?: Resolver;
}

/** Upstream requests in flight at once across all endpoints: bounds sockets and memory under overload. */
const MAX_INFLIGHT = 64;

/**
 * TypeBox checks every request part. Unlike the type provider's own compiler, values are not
 * converted first: every path and query parameter here is a string, and conversion costs ~2%
 * of a request.
 */
const typeboxValidator: FastifySchemaCompiler<TSchema> = ({ schema }) => {
  const check = Compile(schema);
  return (value: unknown) => (check.Check(value) ? { value } : { error: check.Errors(value) as never });
};

/** Opens the store and checks the secrets key against it: a wrong key fails here, before any request. */
function openStore(config: Config): { store: SqliteEndpointStore; secretBox: SecretBox } {
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
  const keys = new ApiKeys(store.apiKeys);
  const loopback = isLoopback(config.host);
  if (config.auth === 'keys' && !loopback && !keys.hasActive()) {
    store.close();
    throw new ConfigError(
      `refusing to listen on HOST [${config.host}] without authentication: no API key exists. ` +
        'Create one with `npm run keys -- create --name NAME --privilege manage_inference`, or set AUTH=none to run open on purpose',
    );
  }
  const app = Fastify({
    logger: loggerOptions(config.logLevel, options.logStream),
    bodyLimit: config.bodyLimit,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 65536 },
    frameworkErrors: (err, _request, reply) => {
      sendError(reply, errors.badRequest(err.message));
    },
  })
    .setValidatorCompiler(typeboxValidator)
    .withTypeProvider<TypeBoxTypeProvider>();

  elasticsearchHttp(app, { bodyLimit: config.bodyLimit });
  // Open only with AUTH=none, or on loopback while no key exists; off loopback, revoking the last key closes the door.
  authentication(app, { keys, open: () => config.auth === 'none' || (loopback && !keys.hasActive()) });
  const registry = new EndpointRegistry(store, secretBox);
  const guard = new UpstreamGuard(config.upstreamAllowedHosts, options.resolver);
  const transport = new HttpTransport({
    connectionsPerOrigin: MAX_INFLIGHT,
    maxResponseBytes: config.upstreamBodyLimit,
    connectTimeoutMs: 10_000,
    callTimeoutMs: config.upstreamTimeoutMs,
    guard,
  });
  // At PUT too, so an endpoint that may never be called is not stored (even with SKIP_VALIDATION).
  registry.upstreamCheck = async (record) => {
    const url = registry.serviceFor(record).upstreamUrl(record.serviceSettings, config);
    try {
      await guard.checkResolved(url);
    } catch (err) {
      if (err instanceof BlockedHostError) throw errors.validation([`[service_settings] Invalid url [${url}] received for field [url]. Error: ${err.message}`]);
      throw err;
    }
  };
  const pipeline = new InferencePipeline(registry, {
    deps: { transport, hfApiBase: config.hfApiBase },
    maxInflight: MAX_INFLIGHT,
    retry: options.retry,
    queueCapacity: options.queueCapacity,
  });
  if (!config.skipValidation) registry.probe = (endpoint, timeout) => pipeline.probe(endpoint, timeout);
  // Requests have finished when onClose runs; then the queues, the upstream pool and the database close.
  app.addHook('onClose', async () => {
    await pipeline.close();
    store.close();
  });
  await app.register(rootRoutes, { version: pkg.version });
  await app.register(endpointRoutes, { registry });
  await app.register(inferenceRoutes, { pipeline });
  return app;
}
