// The operator surface: GET /_inference/_services, GET /_health, Prometheus metrics, one log line per request, faults
// at warn, the start-up line.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { TASK_TYPES } from '../../src/inference-task-type.js';
import { API_KEY, envelope, hfBody, startApp, type Tap } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';
import { closedPort } from '../helpers/network.js';
import { startServer } from '../helpers/process.js';

const KEYS_CLI = fileURLToPath(new URL('../../src/cli/keys.js', import.meta.url));
const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 50 };

function createKey(dataDir: string, name: string, privilege: string): { encoded: string } {
  return JSON.parse(
    execFileSync(process.execPath, [KEYS_CLI, 'create', '--name', name, '--privilege', privilege, '--json'], {
      env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir },
      encoding: 'utf8',
    }),
  ) as { encoded: string };
}

async function withUpstream(t: Tap, env: Record<string, string> = {}) {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, { SKIP_VALIDATION: 'false', ...env }, undefined, { retry: FAST_RETRY });
  const put = (id: string, settings: Record<string, unknown> = {}) =>
    s.request('PUT', `/_inference/text_embedding/${id}`, {
      ...hfBody({ url: `${hf.url}/embed`, ...settings }),
      chunking_settings: { strategy: 'none' },
    });
  return { hf, s, put };
}

const logLines = (lines: readonly string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

t.test('GET /_inference/_services lists the service, its task types and every setting, with flags', async (t) => {
  const s = await startApp(t);
  const res = await s.request('GET', '/_inference/_services');
  t.equal(res.status, 200);
  t.equal(res.json.length, 1);
  const [hf] = res.json;
  t.strictSame(
    Object.keys(hf),
    ['service', 'name', 'task_types', 'configurations'],
    "Elasticsearch's fields, in its order",
  );
  t.equal(hf.service, 'hugging_face');
  t.equal(hf.name, 'Hugging Face');
  // The task types listed are exactly those a PUT accepts.
  const accepted: string[] = [];
  for (const taskType of TASK_TYPES) {
    const put = await s.request('PUT', `/_inference/${taskType}/probe-${taskType.replace('_', '-')}`, hfBody());
    if (put.json?.error?.reason !== `The [hugging_face] service does not support task type [${taskType}]`)
      accepted.push(taskType);
  }
  t.strictSame(hf.task_types, accepted);
  t.strictSame(hf.configurations.api_key, {
    description: 'The Hugging Face access token, sent as a Bearer token. Stored encrypted, never shown.',
    label: 'API key',
    required: true,
    sensitive: true,
    updatable: true,
    type: 'str',
    supported_task_types: hf.task_types,
  });
  t.strictSame(hf.configurations['rate_limit.requests_per_minute'], {
    description: 'requests_per_minute: upstream requests per minute, evenly spaced (default 3000).',
    label: 'Rate limit',
    required: false,
    sensitive: false,
    updatable: true,
    type: 'int',
    supported_task_types: hf.task_types,
  });
  const flags = Object.fromEntries(
    Object.entries(hf.configurations as Record<string, Record<string, unknown>>).map(([k, v]) => [
      k,
      [v.required, v.sensitive, v.updatable, v.type, v.supported_task_types],
    ]),
  );
  const all = ['text_embedding', 'sparse_embedding', 'completion', 'chat_completion', 'rerank'];
  t.strictSame(flags, {
    url: [true, false, false, 'str', all],
    model_id: [false, false, false, 'str', ['text_embedding', 'completion', 'chat_completion']],
    protocol: [false, false, false, 'str', ['completion', 'chat_completion']],
    similarity: [false, false, false, 'str', ['text_embedding']],
    dimensions: [false, false, false, 'int', ['text_embedding']],
    max_input_tokens: [false, false, false, 'int', ['text_embedding', 'sparse_embedding']],
    prefix_strings: [false, false, true, 'map', ['text_embedding']],
    batch_size: [false, false, true, 'int', ['text_embedding', 'sparse_embedding', 'rerank']],
    max_concurrent_requests: [false, false, true, 'int', ['text_embedding', 'sparse_embedding', 'rerank']],
    max_concurrent_streams: [false, false, true, 'int', ['completion', 'chat_completion']],
    cache: [false, false, true, 'bool', ['text_embedding', 'sparse_embedding']],
    'rate_limit.requests_per_minute': [false, false, true, 'int', all],
    api_key: [true, true, true, 'str', all],
  });

  const rerank = await s.request('GET', '/_inference/_services/rerank');
  t.strictSame(rerank.json, res.json, 'filtered by task type');
  t.strictSame(
    (await s.request('GET', '/_inference/_services/chat_completion')).json,
    res.json,
    'the service serves chat_completion too',
  );
  t.strictSame(
    (await s.request('GET', '/_inference/_services/bogus')).json,
    envelope(400, 'status_exception', 'Unknown task_type [bogus]'),
  );
  t.equal(
    (await s.request('PUT', '/_inference/_services', hfBody())).json.error.type,
    'action_request_validation_exception',
    '_services is never an inference id',
  );
});

t.test('GET /_health answers without credentials and reveals nothing; everything else still asks', async (t) => {
  const dataDir = t.testdir();
  const admin = createKey(dataDir, 'admin', 'manage_inference');
  const s = await startApp(t, {}, dataDir);
  const health = await s.request('GET', '/_health');
  t.equal(health.status, 200);
  t.equal(health.body, '{"status":"ok"}');
  t.equal(
    (await s.request('GET', '/_health', undefined, { authorization: `ApiKey ${admin.encoded}` })).body,
    '{"status":"ok"}',
    'the same with a key',
  );
  t.equal((await s.request('GET', '/')).status, 401, 'GET / is not a health check: it asks for a key');
  t.equal((await s.request('GET', '/_prometheus/metrics')).status, 401, 'metrics name endpoints: they ask for a key');
  t.equal((await s.request('GET', '/_inference/_services')).status, 401);
  t.equal((await s.request('GET', '/_ui/')).status, 200, 'the page itself holds no data');
  for (const path of ['/_ui/%2e%2e/package.json', '/_ui/..%2fpackage.json', '/_ui/%2e%2e%2fsrc%2fapp.ts']) {
    const outside = await s.request('GET', path);
    t.ok(
      outside.status >= 400 && outside.status < 500 && !outside.body.includes('"dependencies"'),
      `nothing outside its folder: ${path} ${outside.status}`,
    );
  }
  t.equal((await s.request('GET', '/_openapi.json')).status, 200, 'nor does the API document');
});

t.test('metrics: per endpoint and task type, no secret or input text, series gone with the endpoint', async (t) => {
  const { hf, s, put } = await withUpstream(t);
  t.equal((await put('e')).status, 200);
  t.equal(
    (await s.request('POST', '/_inference/text_embedding/e', { input: ['first secret text', 'second secret text'] }))
      .status,
    200,
  );
  hf.next({ status: 503, json: { error: 'Model is currently loading', estimated_time: 0.01 } });
  t.equal((await s.request('POST', '/_inference/e', { input: 'third' })).status, 200, 'retried after a 503');
  t.equal((await s.request('POST', '/_inference/text_embedding/nobody', { input: 'x' })).status, 404);
  const scrape = await s.request('GET', '/_prometheus/metrics');
  t.equal(scrape.status, 200);
  t.equal(scrape.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const series = (name: string) =>
    scrape.body
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
      .sort();
  const e = 'inference_id="e",task_type="text_embedding"';
  t.strictSame(
    series('hf_gateway_inference_requests_total'),
    [`hf_gateway_inference_requests_total{${e},status="200"} 2`],
    'no series for an id that does not exist',
  );
  t.strictSame(
    series('hf_gateway_upstream_requests_total'),
    [
      `hf_gateway_upstream_requests_total{${e},status="200"} 3`,
      `hf_gateway_upstream_requests_total{${e},status="503"} 1`,
    ],
    'the creation call, two batches, one 503',
  );
  t.strictSame(series('hf_gateway_upstream_request_duration_seconds_count'), [
    `hf_gateway_upstream_request_duration_seconds_count{${e}} 4`,
  ]);
  t.strictSame(series('hf_gateway_upstream_retries_total'), [
    `hf_gateway_upstream_retries_total{${e},kind="backoff"} 1`,
  ]);
  t.strictSame(series('hf_gateway_texts_embedded_total'), [`hf_gateway_texts_embedded_total{${e}} 3`]);
  t.strictSame(
    series('hf_gateway_batch_size_sum'),
    [`hf_gateway_batch_size_sum{${e}} 4`],
    '2 texts, then 1 sent twice',
  );
  t.strictSame(series('hf_gateway_batch_size_count'), [`hf_gateway_batch_size_count{${e}} 3`]);
  t.strictSame(series('hf_gateway_limiter_wait_seconds_count'), [`hf_gateway_limiter_wait_seconds_count{${e}} 3`]);
  t.strictSame(series('hf_gateway_queue_depth'), [`hf_gateway_queue_depth{${e}} 0`]);
  t.strictSame(series('hf_gateway_inference_request_duration_seconds_count'), [
    `hf_gateway_inference_request_duration_seconds_count{${e}} 2`,
  ]);
  t.match(scrape.body, /^# TYPE hf_gateway_streams_open gauge$/m, 'stream instruments exist before any stream');
  t.match(scrape.body, /^# TYPE hf_gateway_tokens_streamed_total counter$/m);
  t.match(scrape.body, /^process_cpu_user_seconds_total \d/m, "the process's own figures");
  t.match(scrape.body, /^nodejs_eventloop_lag_seconds \d/m);
  for (const secret of [API_KEY, 'secret text', 'third'])
    t.notMatch(scrape.body, secret, 'no secret and no input text');

  t.equal((await s.request('DELETE', '/_inference/e')).status, 200);
  await new Promise((r) => setTimeout(r, 50));
  const after = await s.request('GET', '/_prometheus/metrics');
  t.notMatch(after.body, 'inference_id="e"', 'a deleted endpoint leaves no series behind');

  const other = await startApp(t);
  t.equal(
    (await other.request('GET', '/_prometheus/metrics')).status,
    200,
    'a second app in the same process has its own registry',
  );
});

t.test('a scrape sent again unchanged still shows every request and DELETE made since', async (t) => {
  const { s, put } = await withUpstream(t);
  t.equal((await put('kept')).status, 200);
  const requests = async () =>
    (await s.request('GET', '/_prometheus/metrics')).body
      .split('\n')
      .filter((l) => l.startsWith('hf_gateway_inference_requests_total{inference_id="kept"'));
  const line = (n: number) => [
    `hf_gateway_inference_requests_total{inference_id="kept",task_type="text_embedding",status="200"} ${n}`,
  ];
  t.equal((await s.request('POST', '/_inference/text_embedding/kept', { input: 'a' })).status, 200);
  t.strictSame(await requests(), line(1));
  t.strictSame(await requests(), line(1), 'nothing recorded between two scrapes');
  t.equal((await s.request('POST', '/_inference/text_embedding/kept', { input: 'b' })).status, 200);
  t.strictSame(await requests(), line(2), 'the request made after the last scrape is counted');
  t.strictSame(await requests(), line(2));
  t.equal((await s.request('DELETE', '/_inference/kept')).status, 200);
  await new Promise((r) => setTimeout(r, 50));
  t.strictSame(await requests(), [], 'the deleted endpoint is gone from the next scrape');
});

t.test('one log line per request: route, inference id, task type, status, duration, upstream requests', async (t) => {
  const { s, put } = await withUpstream(t);
  await put('e');
  await s.request('POST', '/_inference/e', { input: ['a', 'b'] });
  await s.request('GET', '/_inference/nobody');
  await s.request('GET', '/nowhere?pretty');
  await new Promise((r) => setImmediate(r));
  const lines = logLines(s.logs.lines);
  const post = lines.find((l) => l.method === 'POST')!;
  t.strictSame(
    lines.filter((l) => l.reqId === post.reqId),
    [post],
    'exactly one line for the request',
  );
  t.strictSame(Object.keys(post), [
    'level',
    'time',
    'pid',
    'hostname',
    'reqId',
    'method',
    'route',
    'inference_id',
    'task_type',
    'status',
    'duration_ms',
    'upstream_requests',
    'msg',
  ]);
  t.match(post, {
    level: 30,
    reqId: /^req-/,
    method: 'POST',
    route: '/_inference/:inference_id',
    inference_id: 'e',
    task_type: 'text_embedding',
    status: 200,
    duration_ms: Number,
    upstream_requests: 1,
    msg: 'request completed',
  });
  t.ok(JSON.stringify(post).length < 300, `${JSON.stringify(post).length} bytes`);
  t.notOk(
    lines.some((l) => l.msg === 'incoming request'),
    "no fastify 'incoming request' lines",
  );
  const missing = lines.find((l) => l.inference_id === 'nobody')!;
  t.match(missing, {
    method: 'GET',
    route: '/_inference/:inference_id',
    status: 404,
    error: 'resource_not_found_exception',
  });
  t.notOk('task_type' in missing, 'no task type for an endpoint that does not exist');
  t.match(
    lines.find((l) => l.url === '/nowhere'),
    { status: 404, error: 'resource_not_found_exception' },
    'an unknown route logs its path, without the query',
  );
});

t.test('an unreachable upstream: a warn line per failed attempt, no stack trace, nothing at error', async (t) => {
  const s = await startApp(t, { SKIP_VALIDATION: 'true' }, undefined, { retry: FAST_RETRY });
  await s.request(
    'PUT',
    '/_inference/text_embedding/down',
    hfBody({ url: `http://127.0.0.1:${await closedPort()}/embed` }),
  );
  s.logs.lines.length = 0;
  const res = await s.request('POST', '/_inference/text_embedding/down', { input: 'x' });
  t.equal(res.status, 502);
  const lines = logLines(s.logs.lines);
  const faults = lines.filter((l) => l.msg === 'upstream request failed');
  t.equal(faults.length, 3, 'one per attempt');
  t.strictSame(faults[0], {
    ...faults[0],
    level: 40,
    inference_id: 'down',
    task_type: 'text_embedding',
    answer_status: 502,
    retry: 'backoff',
    texts: 1,
    reason: 'Failed to send request from inference entity id [down]: the connection was refused',
  });
  t.notMatch(s.logs.text, /stack|"err"| {4}at /, 'no stack trace');
  t.notOk(
    lines.some((l) => (l.level as number) >= 50),
    'nothing at error',
  );
  t.match(lines.at(-1), { msg: 'request completed', status: 502, upstream_requests: 3, error: 'status_exception' });
});

t.test('the start-up line names the store, the auth mode, the data directory and the address', async (t) => {
  const dataDir = t.testdir();
  const server = await startServer(t, { DATA_DIR: dataDir });
  t.teardown(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
  });
  const started = logLines(server.stdout).filter(
    (l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at'),
  );
  t.equal(started.length, 1);
  t.match(started[0], {
    level: 30,
    msg: `Server listening at ${server.url}`,
    address: server.url,
    store: `sqlite ${dataDir}/inference.db`,
    auth: 'open until an API key exists (loopback only)',
    data_dir: dataDir,
  });
});

t.test('a creation that fails leaves no series for the id it would have had', async (t) => {
  const s = await startApp(t, { SKIP_VALIDATION: 'false' }, undefined, { retry: FAST_RETRY });
  const res = await s.request(
    'PUT',
    '/_inference/text_embedding/never',
    hfBody({ url: `http://127.0.0.1:${await closedPort()}/embed` }),
  );
  t.equal(res.status, 400);
  await new Promise((r) => setTimeout(r, 50));
  t.notMatch((await s.request('GET', '/_prometheus/metrics')).body, 'inference_id="never"');
  t.match(
    s.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'upstream request failed'),
    {
      level: 40,
      inference_id: 'never',
      during: 'creation',
      reason: 'Failed to send request from inference entity id [never]: the connection was refused',
    },
    'the failed creation call is logged at warn',
  );
});
