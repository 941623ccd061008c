// buildApp(config) → a ready-to-listen fastify instance; the composition root, the only file that wires parts together.
import fs from 'node:fs';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifySchemaCompiler,
} from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type, { type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { DestinationStream, Logger } from 'pino';
import { authentication } from '../plugins/authentication.js';
import { answerClientError, elasticsearchHttp, sendError } from '../plugins/elasticsearch-http.js';
import { managementUi, UI_PREFIX } from '../plugins/management-ui.js';
import { DOCS_PREFIX, openApi, OPENAPI_PATH } from '../plugins/openapi.js';
import { requestLog } from '../plugins/request-log.js';
import endpointRoutes from '../routes/endpoints.js';
import inferenceRoutes from '../routes/inference.js';
import cacheRoutes from '../routes/cache.js';
import hfDoor from '../routes/hf-door.js';
import metricsRoutes from '../routes/metrics.js';
import openAiDoor from '../routes/openai-door.js';
import rootRoutes from '../routes/root.js';
import servicesRoutes from '../routes/services.js';
import trafficRoutes from '../routes/traffic.js';
import { ApiKeys } from './auth/api-keys.js';
import { EmbeddingCache } from './cache/embedding-cache.js';
import { ConfigError, isLoopback, type Config } from './config.js';
import { localRateLimiters, type RateLimiterFactory } from './dispatch/rate-limiter.js';
import { DEFAULT_RETRY, type RetryPolicy } from './dispatch/retry.js';
import { EndpointChanges } from './endpoints/changes.js';
import { followClusterChanges } from './endpoints/cluster-changes.js';
import { HfProtocol } from './doors/hf-protocol.js';
import { OpenAiProtocol } from './doors/openai-protocol.js';
import { EndpointRegistry } from './endpoints/registry.js';
import { errors } from './errors.js';
import { loggerOptions, RequestLogger } from './logger.js';
import { Metrics } from './metrics-telemetry.js';
import { KEY_CHECK_META, SecretBox } from './secrets.js';
import { createHuggingFaceService } from './services/hugging-face/hugging-face-service.js';
import { SendError } from './services/send-error.js';
import type { InferenceService, ModelDetails } from './services/inference-service.js';
import { HttpTransport } from './services/upstream/http-transport.js';
import { BlockedHostError, UpstreamGuard, type Resolver } from './services/upstream/upstream-guard.js';
import type { EndpointStore } from './store/endpoint-store.js';
import { connectStore } from './store/open-store.js';
import { taskFor } from './tasks/task-catalog.js';
import { InferenceRunner } from './tasks/runner.js';
import { bothTelemetries } from './telemetry.js';
import { TrafficHistory } from './traffic-history.js';

const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export interface BuildOptions {
  /** Where log lines go (tests capture them); stdout by default. */
  logStream?: DestinationStream;
  /**
   * Retry timing (tests shorten it); 3 attempts, as docs/rate-limiting.md#retries says, 1 s to 5 s apart by default.
   */
  retry?: RetryPolicy;
  /** Waiting batches per endpoint before 429 (tests shrink it); 2000 by default. */
  queueCapacity?: number;
  /** How upstream host names resolve (tests map names to addresses); the system resolver by default. */
  resolver?: Resolver;
  /** Each endpoint's rate limiter; local to this process by default. */
  limiters?: RateLimiterFactory;
  /** Milliseconds per sample of the traffic history (tests shorten it); 5 s by default, 120 samples kept. */
  trafficIntervalMs?: number;
  /** How long an endpoint stays live with nothing to do (tests and the scale bench shorten it); 60 s by default. */
  liveIdleMs?: number;
}

/** What the start-up line says about this instance. */
interface Deployment {
  /** The store and where its data lives (never a password). */
  store: string;
  dataDir: string;
  /** How requests are authenticated right now. */
  auth(): Promise<string>;
}

declare module 'fastify' {
  interface FastifyInstance {
    deployment: Deployment;
  }
}

/**
 * Batched upstream requests (embeddings, sparse, rerank) in flight at once across all endpoints, and
 * connections per upstream origin for them: bounds sockets and memory under overload. Generations hold
 * their connection while they stream: they are bounded per endpoint by max_concurrent_streams instead.
 */
const MAX_INFLIGHT = 64;

/** The traffic history the page charts (docs/operations.md#traffic-history): a sample every 5 s for 10 minutes. */
const TRAFFIC_INTERVAL_MS = 5000;
const TRAFFIC_SAMPLES = 120;

/**
 * TypeBox checks every request part. Unlike the type provider's own compiler, values are not
 * converted first: every path and query parameter here is a string, and conversion costs ~2%
 * of a request.
 */
const typeboxValidator: FastifySchemaCompiler<TSchema> = ({ schema }) => {
  const check = Compile(schema);
  return (value: unknown) => (check.Check(value) ? { value } : { error: check.Errors(value) as never });
};

/**
 * Opens the store (PostgreSQL with DATABASE_URL, else SQLite in DATA_DIR) and checks the secrets
 * key against it: a wrong key fails here, before any request.
 */
async function openStore(
  config: Config,
  onWarning?: (message: string, err?: unknown) => void,
): Promise<{ store: EndpointStore; secretBox: SecretBox }> {
  const store = await connectStore(config, onWarning);
  try {
    const keyCheck = await store.getMeta(KEY_CHECK_META);
    const secretBox = SecretBox.open({
      configuredKey: config.secretsKey,
      dataDir: config.dataDir,
      storeHasSecrets: keyCheck !== undefined,
      databasePath: store.location,
    });
    // Instances starting together on an empty database: the first check written is the one all must pass.
    secretBox.verifyKeyCheck(
      keyCheck ?? (await store.initMeta(KEY_CHECK_META, secretBox.sealKeyCheck())),
      store.location,
    );
    return { store, secretBox };
  } catch (err) {
    await store.close();
    throw err;
  }
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  // What assemble() has opened so far (the store, the upstream pool, Redis, the queues): a step
  // that throws after them would otherwise leave them open, the process held up by their
  // sockets and timers. Closed in reverse order; a close that fails does not stop the others.
  const opened: Array<() => Promise<void>> = [];
  try {
    return await assemble(config, options, opened);
  } catch (err) {
    for (const close of opened.reverse()) await close().catch(() => undefined);
    throw err;
  }
}

async function assemble(
  config: Config,
  options: BuildOptions,
  opened: Array<() => Promise<void>>,
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: loggerOptions(config.logLevel, options.logStream),
    // One line per request instead of two (plugins/request-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
    // Each request's logger made only when it writes a line (src/logger.ts).
    childLoggerFactory: (logger, bindings, options) =>
      new RequestLogger(logger as Logger, bindings, options) as unknown as FastifyBaseLogger,
    bodyLimit: config.bodyLimit,
    // Reading a request (headers and body) has a deadline: fastify turns node's off unless set,
    // and a client that sends a few bytes and then nothing would hold its connection for ever.
    // Node checks the deadline every connectionsCheckingInterval (30 s by default: the cut could
    // come up to twice as late); headersTimeout follows it (node takes the lesser of it and 60 s).
    // No idle timeout on the socket (connectionTimeout stays 0): once read, a request is bounded
    // by its ?timeout and a stream by UPSTREAM_TIMEOUT; between requests keepAliveTimeout applies.
    requestTimeout: config.requestReadTimeoutMs,
    http: {
      requestTimeout: config.requestReadTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, config.requestReadTimeoutMs),
    },
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 65536 },
    frameworkErrors: (err, _request, reply) => {
      sendError(reply, errors.badRequest(err.message));
    },
    // Requests node's parser refused, answered without logging the bytes the client sent.
    clientErrorHandler(this: FastifyInstance, err, socket) {
      answerClientError(err, socket, this.log, config.requestReadTimeoutMs);
    },
  })
    .setValidatorCompiler(typeboxValidator)
    // Response schemas document answers (and tests check real answers against them); bodies are
    // written as before, never re-shaped, re-ordered or coerced by a schema serializer.
    .setSerializerCompiler(() => (data) => JSON.stringify(data))
    .withTypeProvider<TypeBoxTypeProvider>();

  const metrics = new Metrics(app.log, {
    maxEndpoints: config.metricsEndpoints,
    idleMs: config.metricsIdleTimeoutMs,
  });
  const history = new TrafficHistory({
    intervalMs: options.trafficIntervalMs ?? TRAFFIC_INTERVAL_MS,
    samples: TRAFFIC_SAMPLES,
    maxEndpoints: config.metricsEndpoints,
    // Declared below: read only when a sample is taken, once both exist.
    rateLimit: (inferenceId) => runner.requestsPerMinute(inferenceId),
  });
  opened.push(async () => history.close());
  /** What the dispatch reports goes to both. */
  const telemetry = bothTelemetries(metrics, history);
  const { store, secretBox } = await openStore(config, (message, err) => app.log.warn({ err }, message));
  opened.push(() => store.close());
  const keys = new ApiKeys(store.apiKeys);
  const loopback = isLoopback(config.host);
  if (config.auth === 'keys' && !loopback && !(await keys.hasActive())) {
    throw new ConfigError(
      `refusing to listen on HOST [${config.host}] without authentication: no API key exists. ` +
        'Create one with `npm run keys -- create --name NAME --privilege manage_inference`, or set AUTH=none to run open on purpose',
    );
  }

  elasticsearchHttp(app, { bodyLimit: config.bodyLimit });
  requestLog(app, { telemetry });
  const openMode = openModeWatch(app, keys);
  // Open only with AUTH=none, or on loopback while no key exists; off loopback, revoking the last key closes the door.
  const isOpen = (): boolean | Promise<boolean> => {
    if (config.auth === 'none') return true;
    if (!loopback) return false;
    const active = keys.hasActiveCached();
    return active === undefined ? keys.hasActive().then((a) => openMode.seen(!a)) : openMode.seen(!active);
  };
  authentication(app, { keys, open: isOpen, publicPrefixes: ['/_health', UI_PREFIX, DOCS_PREFIX, OPENAPI_PATH] });
  app.decorate('deployment', {
    store: `${store.kind} ${store.location}`,
    dataDir: config.dataDir,
    auth: async () =>
      config.auth === 'none'
        ? 'none (AUTH=none: open on purpose)'
        : (await isOpen())
          ? 'open until an API key exists (loopback only)'
          : 'api keys',
  });
  await openApi(app, { version: pkg.version });

  const guard = new UpstreamGuard(config.upstreamAllowedHosts, options.resolver);
  const transport = new HttpTransport({
    connectionsPerOrigin: MAX_INFLIGHT,
    maxResponseBytes: config.upstreamBodyLimit,
    connectTimeoutMs: 10_000,
    callTimeoutMs: config.upstreamTimeoutMs,
    guard,
  });
  opened.push(() => transport.close());
  const services = new Map<string, InferenceService>(
    [
      createHuggingFaceService({
        transport,
        hfApiBase: config.hfApiBase,
        hfRouterBase: config.hfRouterBase,
        upstreamTimeoutMs: config.upstreamTimeoutMs,
        telemetry,
      }),
    ].map((service) => [service.name, service]),
  );
  const changes = new EndpointChanges();
  const registry: EndpointRegistry = new EndpointRegistry({
    store,
    secretBox,
    changes,
    findService: (name) => services.get(name),
    isChunked: (taskType) => taskFor(taskType)?.chunked ?? false,
    checkUpstream: async (url) => {
      try {
        await guard.checkResolved(url);
      } catch (err) {
        if (err instanceof BlockedHostError)
          throw errors.validation([
            `[service_settings] Invalid url [${url}] received for field [url]. Error: ${err.message}`,
          ]);
        throw err;
      }
    },
    validate: config.skipValidation
      ? undefined
      : async (endpoint, signal, creating): Promise<ModelDetails | undefined> => {
          try {
            const task = taskFor(endpoint.taskType);
            if (!task) return undefined;
            // Declared below: the check runs only on a request, once both exist.
            return await runner.withCheckGrant(endpoint, signal, (acquire) => task.validate(endpoint, signal, acquire));
          } catch (err) {
            if (err instanceof SendError)
              metrics
                .endpoint(endpoint.inferenceId, endpoint.taskType)
                .upstreamFault(err.failure.error.reason, { during: 'creation' });
            // A new endpoint is not stored: its id gets no series (an updated one keeps its own).
            if (creating) telemetry.forget(endpoint.inferenceId);
            throw err;
          }
        },
  });
  // With REDIS_URL every endpoint's limit is shared by all instances (a local share while Redis is away).
  // ioredis and the Redis modules are loaded only then: they are a good part of what a start spends loading modules.
  const redisModules = config.redisUrl
    ? await Promise.all([import('./dispatch/redis-rate-limiter.js'), import('./cache/redis-cache-tier.js')])
    : undefined;
  const shared =
    config.redisUrl && redisModules
      ? new redisModules[0].RedisRateLimiters({
          url: config.redisUrl,
          clusterSize: config.clusterSize,
          log: app.log.child({ component: 'rate-limit' }),
        })
      : undefined;
  if (shared) opened.push(() => shared.close());
  if (shared && !(await shared.whenReady(2000)))
    app.log.warn(`Redis at ${shared.location} is not reachable yet: rate limits start in fallback`);
  // Vectors already computed answer again without an upstream call (docs/embedding-cache.md); with Redis, shared.
  const sharedCache =
    shared && redisModules && config.embeddingCacheBytes > 0
      ? new redisModules[1].RedisCacheTier(shared.redis)
      : undefined;
  const cache =
    config.embeddingCacheBytes > 0
      ? new EmbeddingCache({
          maxBytes: config.embeddingCacheBytes,
          ttlMs: config.embeddingCacheTtlMs,
          shared: sharedCache,
        })
      : undefined;
  if (sharedCache) opened.push(async () => sharedCache.close());
  if (cache) {
    metrics.watchCache(() => cache.stats());
    history.watchCache(() => cache.stats());
  }
  const runner: InferenceRunner = new InferenceRunner({
    registry,
    changes,
    limiters: options.limiters ?? shared?.factory ?? localRateLimiters,
    retry: options.retry ?? DEFAULT_RETRY,
    queueCapacity: options.queueCapacity,
    maxInflight: MAX_INFLIGHT,
    telemetry,
    cache,
    idleMs: options.liveIdleMs,
  });
  opened.push(() => runner.close());
  // Requests have finished when onClose runs; then the queues, the upstream pool and the database close.
  app.addHook('onClose', async () => {
    history.close();
    await runner.close();
    sharedCache?.close();
    await shared?.close();
    await transport.close();
    await store.close();
  });
  // Another instance's writes reach this one's live endpoints and key caches (a shared store only).
  await followClusterChanges({ store, changes, forgetApiKeys: () => keys.forget() });
  await app.register(rootRoutes, { version: pkg.version, elasticsearchVersion: config.elasticsearchVersion });
  await app.register(servicesRoutes, { services: [...services.values()] });
  await app.register(metricsRoutes, { scrape: () => metrics.scrape(), contentType: metrics.contentType });
  await app.register(trafficRoutes, { view: (since) => history.view(since) });
  const views = [...services.values()].map((service) => service.settingsView);
  await app.register(endpointRoutes, {
    registry,
    serviceSettingsView: views.length === 1 ? views[0]! : Type.Union(views),
  });
  await app.register(inferenceRoutes, { runner });
  await app.register(cacheRoutes, {
    clear: async (inferenceId) => {
      const { cache: own, taskType } = await registry.resolve(inferenceId);
      if (!own)
        throw errors.badRequest(
          `inference endpoint [${inferenceId}] is a [${taskType}] endpoint: only text_embedding and sparse_embedding results are cached`,
        );
      return cache ? cache.clear(own.scope) : 0;
    },
  });
  // The doors (docs/doors.md): the same runner, in OpenAI's protocol and in Hugging Face's servers'.
  const openAiProtocol = new OpenAiProtocol(runner, registry);
  await app.register(openAiDoor, { prefix: '/v1', protocol: openAiProtocol });
  await app.register(hfDoor, {
    prefix: '/hf',
    protocol: new HfProtocol(runner, registry, openAiProtocol, pkg.version),
  });
  await managementUi(app);
  return app;
}

/**
 * Logs when a loopback service without keys starts or stops requiring them, and why: a first
 * key silently closing an open service is how a new user locks themselves out.
 */
function openModeWatch(app: FastifyInstance, keys: ApiKeys): { seen(open: boolean): boolean } {
  let last: boolean | undefined;
  return {
    seen(open) {
      if (last !== undefined && open !== last) {
        if (open) {
          app.log.warn('no active API key exists any more: the service runs open again (it listens on loopback only)');
        } else {
          const line = 'an API key now exists: requests without one get 401 from now on';
          keys.list().then(
            (list) => {
              const active = list.filter((k) => k.revokedAt === null);
              const managers = active.filter((k) => k.privilege === 'manage_inference').length;
              app.log.warn(
                { active_keys: active.length, manage_inference_keys: managers },
                `${line}${managers === 0 ? '; no key has manage_inference, so no key can create, update or delete endpoints' : ''}`,
              );
            },
            // The store is away (PostgreSQL down): the switch is still worth its line, without the counts.
            () => app.log.warn(line),
          );
        }
      }
      last = open;
      return open;
    },
  };
}
