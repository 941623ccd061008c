// The environment turned into one typed, validated configuration object.
import path from 'node:path';
import { hideUrlPassword } from './redaction.js';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** 32 raw bytes from SECRETS_KEY, or undefined to use (or create) `$DATA_DIR/secret.key`. */
  secretsKey: Buffer | undefined;
  hfApiBase: string;
  /** Base of Hugging Face's router: hosted chat goes to `{hfRouterBase}/v1/chat/completions`. */
  hfRouterBase: string;
  /** The Elasticsearch version `GET /` reports in `version.number`, for clients that choose a protocol by it. */
  elasticsearchVersion: string;
  bodyLimit: number;
  /** Store endpoints without the create-time call to the upstream (offline set-ups). */
  skipValidation: boolean;
  /** Hosts the service may call (lower case; `*.example.com` for subdomains); empty: any host not blocked. */
  upstreamAllowedHosts: string[];
  /** Longest one upstream request may take, whatever the request's own timeout (ms). */
  upstreamTimeoutMs: number;
  /** Largest upstream answer read (bytes). */
  upstreamBodyLimit: number;
  /**
   * Longest a client may take to send a whole request, headers and body (ms); then 408 and the connection is closed.
   */
  requestReadTimeoutMs: number;
  /** `keys`: API keys when any exist (required off loopback); `none`: no authentication, on purpose. */
  auth: 'keys' | 'none';
  /** PostgreSQL connection URL: the shared store for several instances; undefined: embedded SQLite in DATA_DIR. */
  databaseUrl: string | undefined;
  /** Redis connection URL: every endpoint's rate limit shared by all instances; undefined: a limiter per process. */
  redisUrl: string | undefined;
  /** How many instances share the limits: each takes requests_per_minute / CLUSTER_SIZE while Redis is unreachable. */
  clusterSize: number;
  /** Endpoints with Prometheus series of their own at once; the others are added up under `_other`. */
  metricsEndpoints: number;
  /** An endpoint idle this long (ms) loses its own series. */
  metricsIdleTimeoutMs: number;
  /** Bytes of embeddings each instance keeps in memory (docs/embedding-cache.md); 0: no embedding cache at all. */
  embeddingCacheBytes: number;
  /** Longest an embedding stays cached (ms), in memory and in Redis. */
  embeddingCacheTtlMs: number;
}

/** A configuration problem, reported at start-up as one line naming the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/**
 * Connections the kernel holds for the service before it accepts them. Node's default (511) is
 * overrun when a few thousand clients connect while the service is busy refusing a flood; the
 * kernel caps it at net.core.somaxconn.
 */
export const LISTEN_BACKLOG = 4096;

const DEFAULTS = {
  upstreamTimeout: '120s',
  upstreamBodyLimit: '64mb',
  // Below nginx's 60 s client_body_timeout, so a proxy in front never waits on a request the service still reads.
  requestReadTimeout: '30s',
  port: 9200,
  host: '127.0.0.1',
  dataDir: './data',
  logLevel: 'info',
  hfApiBase: 'https://router.huggingface.co/hf-inference',
  hfRouterBase: 'https://router.huggingface.co',
  // The Elasticsearch release whose inference API the service follows, and the newest official
  // client it is tested with (@elastic/elasticsearch 9.4; 8.x clients accept a 9.x server too).
  elasticsearchVersion: '9.4.0',
  bodyLimit: '10mb',
  // About 64 series each: the endpoints' part of a scrape stays under about 1.4 MB (docs/operations.md#metrics).
  metricsEndpoints: '200',
  metricsIdleTimeout: '10m',
  // About 25,000 vectors of 1,024 floats, or 65,000 of 384 (docs/embedding-cache.md#memory).
  embeddingCacheSize: '256mb',
  embeddingCacheTtl: '24h',
} as const;

/** Parses `10485760`, `512kb`, `10mb`, `1gb` (case-insensitive) into bytes. */
function parseByteSize(name: string, raw: string): number {
  const m = /^\s*(\d+)\s*(b|kb|mb|gb)?\s*$/i.exec(raw);
  const unit = SIZE_UNITS[(m?.[2] ?? 'b').toLowerCase()];
  const bytes = m && unit ? Number(m[1]) * unit : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new ConfigError(`${name} must be a positive size such as 10mb, 512kb or 1048576, got [${raw}]`);
  }
  return bytes;
}

/** A byte size as parseByteSize reads it, or 0 (the feature off). */
function parseByteSizeOrZero(name: string, raw: string): number {
  return /^\s*0+\s*(b|kb|mb|gb)?\s*$/i.test(raw) ? 0 : parseByteSize(name, raw);
}

function parseBoolean(name: string, raw: string): boolean {
  const value = raw.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  throw new ConfigError(`${name} must be true or false, got [${raw}]`);
}

/** `120s`, `2m`, `500ms` → milliseconds. */
function parseDuration(name: string, raw: string): number {
  const m = /^\s*(\d+)\s*(ms|s|m|h)\s*$/i.exec(raw);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m?.[2] ?? '').toLowerCase() as 'ms'];
  const ms = m && unit ? Number(m[1]) * unit : NaN;
  if (!(ms > 0 && ms <= 2 ** 31 - 1))
    throw new ConfigError(`${name} must be a duration such as 120s, 2m or 500ms, got [${raw}]`);
  return ms;
}

function parseAuth(raw: string | undefined): Config['auth'] {
  if (raw === undefined || raw.toLowerCase() === 'keys') return 'keys';
  if (raw.toLowerCase() === 'none') return 'none';
  throw new ConfigError(`AUTH must be keys or none, got [${raw}]`);
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\./.test(h);
}

function parsePort(raw: string): number {
  const port = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 0 && port <= 65535)) throw new ConfigError(`PORT must be an integer from 0 to 65535, got [${raw}]`);
  return port;
}

function parseSecretsKey(raw: string): Buffer {
  const key = Buffer.from(raw.trim(), 'base64');
  if (key.length !== 32 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(raw.trim())) {
    throw new ConfigError(
      `SECRETS_KEY must be 32 bytes encoded as base64 (44 characters, e.g. from \`openssl rand -base64 32\`), got ${key.length} bytes`,
    );
  }
  return key;
}

function parseServiceUrl(name: string, raw: string, protocols: readonly string[]): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || !protocols.includes(url.protocol) || !url.hostname) {
    throw new ConfigError(`${name} must be a URL such as ${protocols[0]}//host:port/…, got [${hideUrlPassword(raw)}]`);
  }
  return raw;
}

function parseClusterSize(raw: string): number {
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(Number.isSafeInteger(n) && n >= 1 && n <= 1000))
    throw new ConfigError(`CLUSTER_SIZE must be an integer from 1 to 1000, got [${raw}]`);
  return n;
}

function parseMetricsEndpoints(raw: string): number {
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(Number.isSafeInteger(n) && n >= 0 && n <= 100_000))
    throw new ConfigError(`METRICS_ENDPOINTS must be an integer from 0 to 100000, got [${raw}]`);
  return n;
}

function parseElasticsearchVersion(raw: string): string {
  const version = raw.trim();
  if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(version)) {
    throw new ConfigError(`ELASTICSEARCH_VERSION must be a version such as 9.4.0 or 8.19.0, got [${raw}]`);
  }
  return version;
}

function parseApiBase(name: string, raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(`${name} must be an http(s) URL, got [${hideUrlPassword(raw)}]`);
  }
  return raw.replace(/\/+$/, '');
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const value = (name: string) => {
    const v = env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const logLevel = (value('LOG_LEVEL') ?? DEFAULTS.logLevel).toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got [${value('LOG_LEVEL')}]`);
  }
  const secretsKey = value('SECRETS_KEY');
  const databaseUrl = value('DATABASE_URL');
  // Instances sharing a database must encrypt with one key; a key file per instance would disagree.
  if (databaseUrl !== undefined && secretsKey === undefined) {
    throw new ConfigError(
      'DATABASE_URL needs SECRETS_KEY: every instance on the database must use the same key (openssl rand -base64 32)',
    );
  }
  const redisUrl = value('REDIS_URL');
  return {
    port: parsePort(value('PORT') ?? String(DEFAULTS.port)),
    host: value('HOST') ?? DEFAULTS.host,
    dataDir: path.resolve(value('DATA_DIR') ?? DEFAULTS.dataDir),
    logLevel: logLevel as Config['logLevel'],
    secretsKey: secretsKey === undefined ? undefined : parseSecretsKey(secretsKey),
    hfApiBase: parseApiBase('HF_API_BASE', value('HF_API_BASE') ?? DEFAULTS.hfApiBase),
    hfRouterBase: parseApiBase('HF_ROUTER_BASE', value('HF_ROUTER_BASE') ?? DEFAULTS.hfRouterBase),
    elasticsearchVersion: parseElasticsearchVersion(value('ELASTICSEARCH_VERSION') ?? DEFAULTS.elasticsearchVersion),
    bodyLimit: parseByteSize('BODY_LIMIT', value('BODY_LIMIT') ?? DEFAULTS.bodyLimit),
    skipValidation: parseBoolean('SKIP_VALIDATION', value('SKIP_VALIDATION') ?? 'false'),
    upstreamAllowedHosts: (value('UPSTREAM_ALLOWED_HOSTS') ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
    upstreamTimeoutMs: parseDuration('UPSTREAM_TIMEOUT', value('UPSTREAM_TIMEOUT') ?? DEFAULTS.upstreamTimeout),
    upstreamBodyLimit: parseByteSize('UPSTREAM_BODY_LIMIT', value('UPSTREAM_BODY_LIMIT') ?? DEFAULTS.upstreamBodyLimit),
    requestReadTimeoutMs: parseDuration(
      'REQUEST_READ_TIMEOUT',
      value('REQUEST_READ_TIMEOUT') ?? DEFAULTS.requestReadTimeout,
    ),
    auth: parseAuth(value('AUTH')),
    databaseUrl:
      databaseUrl === undefined
        ? undefined
        : parseServiceUrl('DATABASE_URL', databaseUrl, ['postgres:', 'postgresql:']),
    redisUrl: redisUrl === undefined ? undefined : parseServiceUrl('REDIS_URL', redisUrl, ['redis:', 'rediss:']),
    clusterSize: parseClusterSize(value('CLUSTER_SIZE') ?? '1'),
    metricsEndpoints: parseMetricsEndpoints(value('METRICS_ENDPOINTS') ?? DEFAULTS.metricsEndpoints),
    metricsIdleTimeoutMs: parseDuration(
      'METRICS_IDLE_TIMEOUT',
      value('METRICS_IDLE_TIMEOUT') ?? DEFAULTS.metricsIdleTimeout,
    ),
    embeddingCacheBytes: parseByteSizeOrZero(
      'EMBEDDING_CACHE_SIZE',
      value('EMBEDDING_CACHE_SIZE') ?? DEFAULTS.embeddingCacheSize,
    ),
    embeddingCacheTtlMs: parseDuration(
      'EMBEDDING_CACHE_TTL',
      value('EMBEDDING_CACHE_TTL') ?? DEFAULTS.embeddingCacheTtl,
    ),
  };
}

/** What the start-up line says of the rate limiter (the store says what it is itself). Never a password. */
export function describeRateLimiter(config: Config): string {
  return config.redisUrl
    ? `redis ${hideUrlPassword(config.redisUrl)} (shared by every instance; requests_per_minute / ${config.clusterSize} each while Redis is away)`
    : 'local (one per endpoint in this process)';
}
