// What a new user hits first: the first API key, the switch out of open mode, answers that say what is wrong, `npm run
// keys` without a rebuild.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { mapNetworkError } from '../../src/services/hugging-face/hugging-face-errors.js';
import type { Resolver } from '../../src/services/upstream/upstream-guard.js';
import { API_KEY, envelope, hfBody, startApp } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const KEYS_CLI = fileURLToPath(new URL('../../src/cli/keys.js', import.meta.url));
const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 50 };

function keys(dataDir: string, ...args: string[]): { status: number; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [KEYS_CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir },
    encoding: 'utf8',
  });
  return { status: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
}

const LOCKOUT =
  'no active key would have manage_inference: once a key exists the service asks every request for one, ' +
  'and with only monitor_inference keys nothing can create, update or delete endpoints. ';

t.test('the keys command will not make a first key that cannot manage endpoints, unless told to', async (t) => {
  const dataDir = t.testdir();
  let run = keys(dataDir, 'create', '--name', 'ingest', '--privilege', 'monitor_inference');
  t.equal(run.status, 2);
  t.equal(
    run.stderr.split('\n')[0],
    `keys: refusing to create [ingest]: ${LOCKOUT}Create a manage_inference key first, or pass --force to do it anyway`,
  );
  t.equal(keys(dataDir, 'list').stdout, 'no API keys\n', 'nothing was created');

  t.equal(keys(dataDir, 'create', '--name', 'admin', '--privilege', 'manage_inference').status, 0);
  t.equal(
    keys(dataDir, 'create', '--name', 'ingest', '--privilege', 'monitor_inference').status,
    0,
    'beside a manage_inference key it is fine',
  );
  run = keys(dataDir, 'revoke', '--name', 'admin');
  t.equal(run.status, 2, 'revoking the last manage_inference key while others remain is the same lock-out');
  t.equal(
    run.stderr.split('\n')[0],
    `keys: refusing to revoke [admin]: ${LOCKOUT}Create another manage_inference key first, or pass --force to do it anyway`,
  );
  t.equal(keys(dataDir, 'revoke', '--name', 'admin', '--force').status, 0, '--force does it');
  t.equal(
    keys(dataDir, 'revoke', '--name', 'ingest').status,
    0,
    'revoking the last key of all locks nobody out on loopback',
  );

  const other = t.testdir();
  t.equal(
    keys(other, 'create', '--name', 'ingest', '--privilege', 'monitor_inference', '--force').status,
    0,
    'a monitor-only set-up on purpose',
  );
});

t.test('leaving open mode (and coming back to it) is logged once, with the reason', async (t) => {
  const dataDir = t.testdir();
  const s = await startApp(t, {}, dataDir);
  t.equal((await s.request('GET', '/_inference')).status, 200, 'open: loopback, no key');
  t.equal(keys(dataDir, 'create', '--name', 'ingest', '--privilege', 'monitor_inference', '--force').status, 0);
  // The service reads whether a key exists at most once a second.
  await new Promise((r) => setTimeout(r, 1100));
  t.equal((await s.request('GET', '/_inference')).status, 401);
  t.equal((await s.request('GET', '/_inference')).status, 401);
  await new Promise((r) => setTimeout(r, 50));
  const switches = () =>
    s.logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.level === 40 && !String(l.msg).startsWith('request'));
  t.strictSame(
    switches().map((l) => [l.msg, l.active_keys, l.manage_inference_keys]),
    [
      [
        'an API key now exists: requests without one get 401 from now on; no key has manage_inference, so no key can create, update or delete endpoints',
        1,
        0,
      ],
    ],
    'once, naming the lock-out',
  );
  t.equal(keys(dataDir, 'revoke', '--name', 'ingest').status, 0);
  await new Promise((r) => setTimeout(r, 1100));
  t.equal((await s.request('GET', '/_inference')).status, 200, 'open again');
  t.strictSame(
    switches()
      .map((l) => l.msg)
      .slice(1),
    ['no active API key exists any more: the service runs open again (it listens on loopback only)'],
  );
});

t.test('a request whose texts can never fit the queue is a 400 naming the limit, not a 429', async (t) => {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, {}, undefined, { queueCapacity: 2 });
  await s.request('PUT', '/_inference/text_embedding/e', {
    ...hfBody({ url: `${hf.url}/embed` }),
    chunking_settings: { strategy: 'none' },
  });
  const texts = (n: number) => Array.from({ length: n }, (_, i) => `text ${i}`);
  const res = await s.request('POST', '/_inference/text_embedding/e', { input: texts(41) });
  t.strictSame(
    res.json,
    envelope(
      400,
      'status_exception',
      "The request for inference id [e] makes [41] texts (inputs after chunking), more than the [40] the endpoint's queue can ever hold ([2] upstream requests of [20]); send at most [40] per request",
    ),
  );
  t.equal(hf.received.length, 0, 'nothing was sent');
  const fits = await s.request('POST', '/_inference/text_embedding/e', { input: texts(40) });
  t.equal(fits.status, 200, 'the whole queue is still usable');
  t.equal(fits.json.text_embedding.length, 40);
});

t.test('a name that does not resolve says so, naming the host', async (t) => {
  const lookups = new Map<string, number>();
  const resolver = (async (hostname: string) => {
    lookups.set(hostname, (lookups.get(hostname) ?? 0) + 1);
    if (hostname === 'flaky.test')
      throw Object.assign(new Error(`getaddrinfo EAI_AGAIN ${hostname}`), { code: 'EAI_AGAIN' });
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  }) as unknown as Resolver;
  const s = await startApp(t, {}, undefined, { retry: FAST_RETRY, resolver });
  // No such name is a 400 (as Elasticsearch answers a DNS failure: asking again will not help); a name server that did
  // not answer, a 502.
  for (const [id, host, answer, status] of [
    ['gone', 'no-such-model.test', 'ENOTFOUND: no such name', 400],
    ['flaky', 'flaky.test', 'EAI_AGAIN: temporary failure, the name server may be unreachable', 502],
  ] as const) {
    t.equal(
      (await s.request('PUT', `/_inference/text_embedding/${id}`, hfBody({ url: `https://${host}/embed?v=1` }))).status,
      200,
    );
    lookups.delete(host); // counted from the POST on
    const res = await s.request('POST', `/_inference/text_embedding/${id}`, { input: 'x' });
    t.strictSame(
      res.json,
      envelope(
        status,
        'status_exception',
        `Failed to send request from inference entity id [${id}]: the host name [${host}] could not be resolved (DNS answered ${answer})`,
      ),
    );
  }
  // The mapping itself, for errors as undici wraps them (the code on the cause).
  const wrapped = Object.assign(new Error('fetch failed'), { cause: { code: 'ENOTFOUND' } });
  t.strictSame(
    mapNetworkError(wrapped, 'http://h.example:81/x', 'i').error.reason,
    'Failed to send request from inference entity id [i]: the host name [h.example:81] could not be resolved (DNS answered ENOTFOUND: no such name)',
  );
  // Asking again cannot make a name exist: no retry. A name server that did not answer may answer the next time
  // (FAST_RETRY: 3 attempts).
  t.equal(lookups.get('no-such-model.test'), 1, 'no such name: asked once');
  t.equal(lookups.get('flaky.test'), 3, 'no answer: asked on each of the 3 attempts');
  t.equal(mapNetworkError(wrapped, 'http://h.example/x', 'i').retry, 'none');
  t.equal(mapNetworkError({ code: 'EAI_AGAIN' }, 'http://h.example/x', 'i').retry, 'backoff');
});

t.test('unknown keys are reported with the other problems, numbered in one validation_exception', async (t) => {
  const s = await startApp(t);
  let res = await s.request('PUT', '/_inference/text_embedding/typo', {
    service: 'hugging_face',
    service_settings: {
      api_key: API_KEY,
      ulr: 'https://xyz.endpoints.huggingface.cloud',
      rate_limit: { requests_per_minute: 0, burst: 2 },
    },
    foo: 1,
  });
  t.strictSame(
    res.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [service_settings] does not contain the required setting [url];' +
        '2: [rate_limit] Invalid value [0]. [requests_per_minute] must be a positive long;' +
        '3: Model configuration contains settings [{foo=1}] unknown to the [hugging_face] service;' +
        '4: Model configuration contains settings [{ulr=https://xyz.endpoints.huggingface.cloud}] unknown to the [hugging_face] service;' +
        '5: Model configuration contains settings [{burst=2}] unknown to the [hugging_face] service;',
    ),
  );
  res = await s.request('PUT', '/_inference/text_embedding/typo', hfBody({ extra: 1 }, { foo: 2 }));
  t.strictSame(
    res.json,
    envelope(
      400,
      'status_exception',
      'Model configuration contains settings [{foo=2}, {extra=1}] unknown to the [hugging_face] service',
    ),
    'unknown keys alone: every map, in the Elasticsearch error',
  );
  t.equal((await s.request('PUT', '/_inference/text_embedding/e', hfBody())).status, 200);
  res = await s.request('PUT', '/_inference/e/_update', {
    service_settings: { rate_limit: { requests_per_minute: -1 }, api_kee: 'x' },
  });
  t.strictSame(
    res.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [rate_limit] Invalid value [-1]. [requests_per_minute] must be a positive long;2: Model configuration contains settings [{api_kee=x}] unknown to the [hugging_face] service;',
    ),
    'the same on _update',
  );
});

t.test('declaring response schemas changes no byte of an answer', async (t) => {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t);
  await s.request('PUT', '/_inference/text_embedding/e', {
    ...hfBody({ url: `${hf.url}/embed` }),
    chunking_settings: { strategy: 'none' },
  });
  // Floats as the upstream wrote them, not as JavaScript would print them.
  hf.next({ status: 200, text: '[[0.10, 1e-7,-0.0,1.5E+2]]', headers: { 'content-type': 'application/json' } });
  const embedded = await s.request('POST', '/_inference/text_embedding/e', { input: 'x' });
  t.equal(embedded.body, '{"text_embedding":[{"embedding":[0.10, 1e-7,-0.0,1.5E+2]}]}');
  const listed = await s.request('GET', '/_inference/e');
  t.equal(
    listed.body,
    `{"endpoints":[{"inference_id":"e","task_type":"text_embedding","service":"hugging_face","service_settings":{"url":"${hf.url}/embed","similarity":"cosine","rate_limit":{"requests_per_minute":3000}},"chunking_settings":{"strategy":"none"}}]}`,
  );
  t.equal(
    (await s.request('GET', '/_inference/x')).body,
    '{"error":{"root_cause":[{"type":"resource_not_found_exception","reason":"Inference endpoint not found [x]"}],"type":"resource_not_found_exception","reason":"Inference endpoint not found [x]"},"status":404}',
  );
  t.equal(
    (await s.request('DELETE', '/_inference/e?dry_run=true')).body,
    '{"acknowledged":false,"pipelines":[],"indexes":[],"error_message":""}',
  );
});

t.test('npm run keys compiles only what changed: a current build is used as it is', async (t) => {
  const { staleSources } = (await import(path.join(ROOT, 'scripts', 'build-if-stale.mjs'))) as {
    staleSources(root: string): Array<{ source: string; output: string }>;
  };
  // A small project: tsconfig includes src/, compiled into dist/.
  const root = t.testdir({
    'tsconfig.json': JSON.stringify({ compilerOptions: { outDir: 'dist', rootDir: '.' }, include: ['src'] }),
    src: {
      'a.ts': 'export const a = 1;',
      'types.d.ts': 'declare const x: number;',
      nested: { 'b.ts': 'export const b = 2;' },
    },
    dist: { src: { 'a.js': 'export const a = 1;', nested: { 'b.js': 'export const b = 2;' } } },
  });
  const at = (file: string, seconds: number) => fs.utimesSync(path.join(root, file), seconds, seconds);
  at('src/a.ts', 1000);
  at('src/nested/b.ts', 1000);
  at('dist/src/a.js', 2000);
  at('dist/src/nested/b.js', 2000);
  t.strictSame(staleSources(root), [], 'every output newer than its source: current (a .d.ts has no output)');
  at('src/nested/b.ts', 3000);
  t.strictSame(
    staleSources(root).map((s) => path.relative(root, s.source)),
    ['src/nested/b.ts'],
    'a changed source',
  );
  fs.writeFileSync(path.join(root, 'src', 'c.ts'), 'export const c = 3;');
  t.strictSame(
    staleSources(root)
      .map((s) => path.relative(root, s.source))
      .sort(),
    ['src/c.ts', 'src/nested/b.ts'],
    'a new source',
  );

  // This repository, built by `npm test`: two calls, neither compiles, no compiled file is touched.
  const dataDir = t.testdir();
  const mtimes = () =>
    fs
      .readdirSync(path.join(ROOT, 'dist', 'src'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => fs.statSync(path.join(e.parentPath, e.name)).mtimeMs);
  const npmKeys = () =>
    spawnSync('npm', ['run', '--silent', 'keys', '--', 'list'], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: dataDir },
      encoding: 'utf8',
    });
  npmKeys();
  const before = mtimes();
  const second = npmKeys();
  t.equal(second.status, 0);
  t.equal(second.stdout, 'no API keys\n');
  t.notMatch(second.stderr, 'compiling');
  t.strictSame(mtimes(), before, 'no compiled file was written');
});
