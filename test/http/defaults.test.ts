// The defaults a user gets, as shipped: the configuration table of docs/configuration.md, the retry policy, the queue
// bound, the request timeout, the rate limit and the token cache.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { BuildOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { DEFAULT_RETRY, retryDelay } from '../../src/dispatch/retry.js';
import { DEFAULT_TIMEOUT } from '../../src/request-params.js';
import { TOKEN_CACHE_SIZE, TokenCache } from '../../src/services/hugging-face/sparse-embedding-wire.js';
import { API_KEY, envelope, startApp, type Tap } from '../helpers/app-harness.js';
import { ENDPOINT_NOT_RUNNING, FakeHuggingFace } from '../helpers/fake-hf.js';
import { countingLimiters } from '../helpers/limiter.js';
import { measureTiming, pacedBurst } from '../helpers/timing.js';

const ROOT = new URL('../../../', import.meta.url);
const CONFIGURATION = fs.readFileSync(new URL('docs/configuration.md', ROOT), 'utf8');

/** The service as a user starts it: no retry, queue or limiter option replaced. */
async function shipped(t: Tap, build: BuildOptions = {}) {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, { SKIP_VALIDATION: 'true' }, undefined, build);
  const put = (id: string, serviceSettings: Record<string, unknown> = {}) =>
    s.request('PUT', `/_inference/text_embedding/${id}`, {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: `${hf.url}/embed`, dimensions: 16, ...serviceSettings },
    });
  return { s, hf, put };
}

const upstreamReason = (prefix: string, status: number, message: string) =>
  `${prefix} for request from inference entity id [e] status [${status}]. Error message: [${message}]`;

t.test("docs/configuration.md's table: each default is what loadConfig gives with nothing set", async (t) => {
  const config = loadConfig({});
  const pkg = JSON.parse(fs.readFileSync(new URL('package.json', ROOT), 'utf8')) as { scripts: Record<string, string> };
  const dockerfile = fs.readFileSync(new URL('Dockerfile', ROOT), 'utf8');
  // variable → [the default cell as docs/configuration.md writes it, a check of the shipped value]
  const expected: Record<string, [string, () => void]> = {
    PORT: ['`9200`', () => t.strictSame(config.port, 9200)],
    HOST: ['`127.0.0.1`', () => t.strictSame(config.host, '127.0.0.1')],
    DATA_DIR: ['`./data`', () => t.strictSame(config.dataDir, path.resolve('./data'))],
    LOG_LEVEL: ['`info`', () => t.strictSame(config.logLevel, 'info')],
    SECRETS_KEY: ['(unset)', () => t.strictSame(config.secretsKey, undefined)],
    HF_API_BASE: [
      '`https://router.huggingface.co/hf-inference`',
      () => t.strictSame(config.hfApiBase, 'https://router.huggingface.co/hf-inference'),
    ],
    HF_ROUTER_BASE: [
      '`https://router.huggingface.co`',
      () => t.strictSame(config.hfRouterBase, 'https://router.huggingface.co'),
    ],
    ELASTICSEARCH_VERSION: ['`9.4.0`', () => t.strictSame(config.elasticsearchVersion, '9.4.0')],
    DATABASE_URL: ['(unset: SQLite in `DATA_DIR`)', () => t.strictSame(config.databaseUrl, undefined)],
    REDIS_URL: ['(unset: a limiter per process)', () => t.strictSame(config.redisUrl, undefined)],
    CLUSTER_SIZE: ['`1`', () => t.strictSame(config.clusterSize, 1)],
    BODY_LIMIT: ['`10mb`', () => t.strictSame(config.bodyLimit, 10 * 1024 * 1024)],
    REQUEST_READ_TIMEOUT: ['`30s`', () => t.strictSame(config.requestReadTimeoutMs, 30_000)],
    SKIP_VALIDATION: ['`false`', () => t.strictSame(config.skipValidation, false)],
    UPSTREAM_ALLOWED_HOSTS: ['(unset: any host not blocked)', () => t.strictSame(config.upstreamAllowedHosts, [])],
    UPSTREAM_TIMEOUT: ['`120s`', () => t.strictSame(config.upstreamTimeoutMs, 120_000)],
    UPSTREAM_BODY_LIMIT: ['`64mb`', () => t.strictSame(config.upstreamBodyLimit, 64 * 1024 * 1024)],
    AUTH: ['`keys`', () => t.strictSame(config.auth, 'keys')],
    METRICS_ENDPOINTS: ['`200`', () => t.strictSame(config.metricsEndpoints, 200)],
    METRICS_IDLE_TIMEOUT: ['`10m`', () => t.strictSame(config.metricsIdleTimeoutMs, 600_000)],
    EMBEDDING_CACHE_SIZE: ['`256mb`', () => t.strictSame(config.embeddingCacheBytes, 256 * 1024 * 1024)],
    EMBEDDING_CACHE_TTL: ['`24h`', () => t.strictSame(config.embeddingCacheTtlMs, 86_400_000)],
    MALLOC_ARENA_MAX: [
      '`2` (set by `npm start` and the image)',
      () => {
        t.match(
          pkg.scripts.start,
          /^MALLOC_ARENA_MAX=\$\{MALLOC_ARENA_MAX:-2\} node /,
          'npm start sets it unless it is set',
        );
        t.match(dockerfile, /^ENV .*\bMALLOC_ARENA_MAX=2\b/m, 'the image sets it');
      },
    ],
  };
  const table = CONFIGURATION.slice(CONFIGURATION.indexOf('## Variables'));
  const rows = [...table.matchAll(/^\| `([A-Z_]+)` \| (.*?) \| .* \|$/gm)].map((m) => [m[1]!, m[2]!] as const);
  t.ok(rows.length >= 13, `${rows.length} rows read from docs/configuration.md`);
  for (const [variable, cell] of rows) {
    const check = expected[variable];
    if (!check) {
      t.fail(`docs/configuration.md's row ${variable} has no test of its default here`);
      continue;
    }
    t.equal(cell, check[0], `${variable}: docs/configuration.md says ${check[0]}`);
    check[1]();
  }
  t.strictSame(
    Object.keys(expected).filter((v) => !rows.some(([r]) => r === v)),
    [],
    'every default checked here is in docs/configuration.md',
  );
});

t.test(
  'the set-up the README and docs/operations.md promise: npm start builds first; the compose file runs open on loopback only',
  async (t) => {
    const pkg = JSON.parse(fs.readFileSync(new URL('package.json', ROOT), 'utf8')) as {
      scripts: Record<string, string>;
    };
    t.equal(pkg.scripts.prestart, 'npm run build', 'npm start builds first');
    t.match(pkg.scripts.start, /node dist\/src\/server\.js$/);
    t.match(pkg.scripts.test, /^npm run build && tap /, 'npm test builds, then runs the suite');
    const compose = fs.readFileSync(new URL('docker-compose.yml', ROOT), 'utf8');
    t.match(compose, /^\s+AUTH: none$/m, 'the compose file sets AUTH=none');
    // Both the single service and the cluster profile's balancer: published on loopback only.
    t.strictSame(
      compose.match(/^\s+- "[^"]*:9200"$/gm)?.map((l) => l.trim()),
      ['- "127.0.0.1:9200:9200"', '- "127.0.0.1:9201:9200"'],
      'and publishes its ports on loopback only',
    );
  },
);

t.test('BODY_LIMIT as shipped: a body over 10 MB is refused with 413, one under it is read', async (t) => {
  const s = await startApp(t);
  const over = JSON.stringify({ input: 'x'.repeat(10 * 1024 * 1024) });
  let res = await s.request('POST', '/_inference/text_embedding/none', over);
  t.strictSame(
    res.json,
    envelope(413, 'content_too_long_exception', 'Request body is too large: the limit is [10485760] bytes'),
  );
  const under = JSON.stringify({ input: 'x'.repeat(10 * 1024 * 1024 - 100) });
  res = await s.request('POST', '/_inference/text_embedding/none', under);
  t.strictSame(
    res.json,
    envelope(404, 'resource_not_found_exception', 'Inference endpoint not found [none]'),
    'read and parsed; the endpoint does not exist',
  );
});

t.test('REQUEST_READ_TIMEOUT as shipped: the server reads a request for at most 30 s, headers included', async (t) => {
  const s = await startApp(t);
  t.equal(s.app.server.requestTimeout, 30_000);
  t.equal(s.app.server.headersTimeout, 30_000, 'the headers within the same deadline');
  t.equal(s.app.initialConfig.connectionTimeout, 0, 'no idle timeout cuts a request being answered');
});

t.test('the retry policy as shipped: 3 attempts, 1 s then 2 s apart, capped at 5 s', async (t) => {
  // The policy a service gets by default, asserted as docs/rate-limiting.md states it.
  t.strictSame({ ...DEFAULT_RETRY }, { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 5000 });
  t.strictSame(
    [1, 2, 3, 4, 5].map((attempts) =>
      retryDelay(DEFAULT_RETRY, attempts, { error: undefined as never, retry: 'backoff' }),
    ),
    [1000, 2000, 4000, 5000, 5000],
    'back-off doubles from 1 s and never exceeds 5 s',
  );
  // And through the running service, with nothing shortened: three 503s are three attempts.
  const { s, hf, put } = await shipped(t);
  await put('e');
  hf.next(...Array.from({ length: 3 }, () => ENDPOINT_NOT_RUNNING.waking));
  const res = await s.request('POST', '/_inference/text_embedding/e', { input: 'retried' });
  // An endpoint scaled to zero: the reason says it is waking, and for how long it was retried (1 s + 2 s).
  const waking =
    'The Hugging Face endpoint is not ready: an Inference Endpoint scaled to zero answers 503 while it wakes up, which can take a few minutes. ' +
    'Inference requests are retried for up to 3 s; try again shortly, or keep at least one replica running.';
  t.strictSame(
    res.json,
    envelope(
      400,
      'status_exception',
      `${upstreamReason('Received a rate limit status code', 503, 'Service Unavailable')}. ${waking}`,
    ),
  );
  const at = hf.received.map((r) => r.at);
  t.equal(at.length, 3, 'three attempts, then the error');
  const gaps = [at[1]! - at[0]!, at[2]! - at[1]!];
  // Lower bounds hold however loaded the machine is (a timer never fires early by more than its
  // millisecond rounding). The upper bounds only tell 1 s from 2 s and 2 s from 4 s, so they
  // leave almost a second of scheduling delay before they could fail.
  t.ok(gaps[0]! >= 995 && gaps[0]! < 1950, `first back-off ${gaps[0]!.toFixed(0)} ms (1 s)`);
  t.ok(gaps[1]! >= 1995 && gaps[1]! < 3950, `second back-off ${gaps[1]!.toFixed(0)} ms (2 s)`);
});

t.test('the queue bound as shipped: 2000 batches of the batch size wait per endpoint, past that 429', async (t) => {
  // The service's own limiter, counted, to know when the queue holds the texts (not a test double of the queue).
  const limiters = countingLimiters();
  const { s, put } = await shipped(t, { limiters: limiters.factory });
  const texts = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const full = envelope(
    429,
    'es_rejected_execution_exception',
    'Failed to execute task for inference id [e] because the request service queue is full',
  );
  for (const [batchSize, label] of [
    [undefined, 'the default batch size of 20'],
    [1, 'batch_size 1'],
  ] as const) {
    await s.request('DELETE', '/_inference/e');
    await put('e', batchSize === undefined ? {} : { batch_size: batchSize });
    const capacity = 2000 * (batchSize ?? 20);
    // A request that alone exceeds the whole queue could never fit: a 400 naming the limit.
    let res = await s.request('POST', '/_inference/text_embedding/e?timeout=1s', { input: texts('a', capacity + 1) });
    t.strictSame(
      res.json,
      envelope(
        400,
        'status_exception',
        `The request for inference id [e] makes [${capacity + 1}] texts (inputs after chunking), more than the [${capacity}] the endpoint's queue can ever hold ` +
          `([2000] upstream requests of [${batchSize ?? 20}]); send at most [${capacity}] per request`,
      ),
      `${label}: ${capacity + 1} texts in one request are a 400`,
    );
    // Exactly the bound waits, and one more text is refused. At 1/min the idle limiter's grant
    // goes to a first text; the next is a minute away, so nothing else leaves meanwhile.
    await s.request('PUT', '/_inference/e/_update', { service_settings: { rate_limit: { requests_per_minute: 1 } } });
    t.equal((await s.request('POST', '/_inference/text_embedding/e', { input: 'takes the idle grant' })).status, 200);
    const asked = limiters.acquires;
    // No timeout (-1): at 1/min these texts could never all be sent within one, and would be refused at once.
    const filling = s.request('POST', '/_inference/text_embedding/e?timeout=-1', { input: texts('b', capacity) });
    await limiters.waitForAcquires(asked + 1);
    res = await s.request('POST', '/_inference/text_embedding/e?timeout=1s', { input: 'one more' });
    t.strictSame(res.json, full, `${label}: with ${capacity} texts waiting, one more is refused`);
    await s.request('DELETE', '/_inference/e');
    t.strictSame(
      (await filling).json,
      envelope(404, 'resource_not_found_exception', 'Inference endpoint not found [e]'),
      `${label}: the ${capacity} texts were queued`,
    );
  }
});

t.test('the request timeout as shipped: 30 s from arrival when ?timeout is not given', async (t) => {
  t.equal(DEFAULT_TIMEOUT, '30s');
  const { s, hf, put } = await shipped(t);
  await put('e');
  const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
  const post = (signal?: AbortSignal) =>
    fetch(`${base}/_inference/text_embedding/e`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"input":"x"}',
      signal,
    });
  // A retry the upstream asks to start 30 s after arrival would end past the deadline: the
  // service fails at once with the upstream's answer rather than start waiting.
  hf.next({ status: 429, json: { error: 'slow down' }, headers: { 'retry-after': '30' } });
  const refused = await post();
  t.strictSame(
    await refused.json(),
    envelope(429, 'status_exception', upstreamReason('Received a rate limit status code', 429, 'slow down')),
  );
  t.equal(hf.received.length, 1, 'no second attempt');
  // One asked to start 29 s after arrival fits before the deadline: the service waits for it.
  hf.next({ status: 429, json: { error: 'slow down' }, headers: { 'retry-after': '29' } });
  const client = new AbortController();
  let answered = false;
  const waiting = post(client.signal).then(
    () => (answered = true),
    () => undefined,
  );
  const deadline = Date.now() + 10_000;
  while (hf.received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 300));
  t.equal(answered, false, 'still waiting to retry: the deadline is more than 29 s away');
  t.equal(hf.received.length, 2, 'and the retry has not been sent yet');
  client.abort();
  await waiting;
});

t.test('the rate limit as shipped: 3000/min, one upstream request every 20 ms', async (t) => {
  const { s, hf, put } = await shipped(t);
  const res = await put('e');
  t.strictSame(res.json.service_settings.rate_limit, { requests_per_minute: 3000 });
  // Eleven requests of one batch each, all at once: ten gaps of at least 20 ms at the limiter, so at least 200 ms on
  // this process's clock. On arrival in the same process a stall can shorten the span a little (150 ms is still half
  // again what 6000/min, 100 ms, would give), so a miss is measured again.
  let round = 0;
  await measureTiming(t, 'eleven requests at 3000/min', 50, async () => {
    await new Promise((r) => setTimeout(r, 40));
    const before = hf.received.length;
    const started = performance.now();
    const r = round++;
    await Promise.all(
      Array.from({ length: 11 }, (_, i) =>
        s.request('POST', '/_inference/text_embedding/e', {
          input: Array.from({ length: 20 }, (_, k) => `r${r}-${i}-${k}`),
        }),
      ),
    );
    const elapsedMs = performance.now() - started;
    return pacedBurst(t, {
      what: 'requests',
      count: 11,
      intervalMs: 20,
      times: hf.received.slice(before).map((x) => x.at),
      elapsedMs,
      minElapsedMs: 195,
      minSpanMs: 150,
    });
  });
});

t.test('the sparse token cache as shipped: 65,536 tokens per endpoint, the oldest forgotten first', async (t) => {
  t.equal(TOKEN_CACHE_SIZE, 65_536);
  const cache = new TokenCache();
  const decoded: number[][] = [];
  const decode = async (ids: number[]) => {
    decoded.push(ids);
    return ids.map((id) => `tok${id}`);
  };
  const ids = Array.from({ length: 65_536 }, (_, i) => i);
  await cache.lookup(ids, decode);
  t.equal(cache.size, 65_536);
  await cache.lookup([0, 65_535], decode);
  t.equal(decoded.length, 1, 'all 65,536 are remembered');
  await cache.lookup([65_536], decode);
  t.equal(cache.size, 65_536, 'one more makes room by forgetting one');
  const [found] = [await cache.lookup([1, 65_536], decode)];
  t.equal(decoded.length, 2, 'the second id and the newest are still there');
  t.strictSame(
    [...found].sort((a, b) => a[0] - b[0]),
    [
      [1, 'tok1'],
      [65_536, 'tok65536'],
    ],
  );
  await cache.lookup([0], decode);
  t.strictSame(decoded[2], [0], 'the oldest (id 0) was forgotten and is decoded again');
});
