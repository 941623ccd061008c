// Secret hygiene: a real process at LOG_LEVEL=trace, every kind of traffic, and no credential in logs, answers or the
// database file.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { FakeHuggingFace } from '../helpers/fake-hf.js';
import { startServer } from '../helpers/process.js';

const KEYS_CLI = fileURLToPath(new URL('../../src/cli/keys.js', import.meta.url));
const HF_KEY = 'hf_SecretHuggingFaceKey0987654321';
const ROTATED = 'hf_RotatedHuggingFaceKey1234567890';

t.test('no api key or credential appears anywhere, even at trace level', async (t) => {
  const dataDir = t.testdir();
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const key = JSON.parse(
    execFileSync(
      process.execPath,
      [KEYS_CLI, 'create', '--name', 'admin', '--privilege', 'manage_inference', '--json'],
      {
        env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir },
        encoding: 'utf8',
        timeout: 30_000,
        killSignal: 'SIGKILL',
      },
    ),
  ) as { id: string; api_key: string; encoded: string };
  const server = await startServer(t, { DATA_DIR: dataDir, LOG_LEVEL: 'trace', SKIP_VALIDATION: 'false' });
  const answers: string[] = [];
  const call = async (method: string, url: string, body?: string, auth = `ApiKey ${key.encoded}`) => {
    const res = await fetch(`${server.url}${url}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: auth },
      body,
    });
    answers.push(JSON.stringify([...res.headers]) + (await res.text()));
    return res.status;
  };
  const config = (extra = {}) =>
    JSON.stringify({
      service: 'hugging_face',
      service_settings: { api_key: HF_KEY, url: `${hf.url}/embed`, ...extra },
    });

  t.equal(
    await call('PUT', '/_inference/text_embedding/e', config()),
    200,
    'created, with the validation call upstream',
  );
  t.equal(await call('POST', '/_inference/text_embedding/e', JSON.stringify({ input: ['one', 'two'] })), 200);
  t.equal(await call('GET', '/_inference/e'), 200);
  t.equal(await call('PUT', '/_inference/e/_update', JSON.stringify({ service_settings: { api_key: ROTATED } })), 200);
  t.equal(await call('POST', '/_inference/e', JSON.stringify({ input: 'three' })), 200);
  hf.next({ status: 401, json: { error: 'Invalid credentials in Authorization header' } });
  t.equal(await call('POST', '/_inference/e', JSON.stringify({ input: 'denied' })), 401, 'an upstream error');
  t.equal(
    await call(
      'PUT',
      '/_inference/text_embedding/x',
      `{"service":"hugging_face","service_settings":{"api_key": ${HF_KEY}}}`,
    ),
    400,
    'malformed JSON',
  );
  t.equal(
    await call('PUT', '/_inference/text_embedding/y', config({ extra: HF_KEY, nested: { api_key: HF_KEY } })),
    400,
    'unknown settings',
  );
  t.equal(
    await call(
      'PUT',
      '/_inference/text_embedding/z',
      JSON.stringify({ service: 'hugging_face', api_key: HF_KEY, service_settings: { api_key: HF_KEY } }),
    ),
    400,
  );
  t.equal(
    await call('GET', '/_inference', undefined, `ApiKey ${Buffer.from(`${key.id}:wrong`).toString('base64')}`),
    401,
    'bad credentials',
  );
  t.equal(await call('GET', '/_inference', undefined, `Bearer ${key.id}:${key.api_key}`), 200);
  t.equal(await call('DELETE', '/_inference/e'), 200);
  server.child.kill('SIGTERM');
  await server.exited;

  t.ok(
    hf.received.every(
      (r) => r.headers.authorization === `Bearer ${HF_KEY}` || r.headers.authorization === `Bearer ${ROTATED}`,
    ),
    'the upstream did get the key',
  );
  const logs = [...server.stdout, ...server.stderr].join('\n');
  // One line per request now (there were two); every request has its line, and trace adds the debug ones.
  const completed = server.stdout.filter((l) => l.includes('"msg":"request completed"'));
  t.equal(completed.length, 12, 'one log line per request');
  t.ok(server.stdout.length > completed.length + 2, `${server.stdout.length} log lines at trace`);
  const database = fs
    .readdirSync(dataDir)
    .filter((f) => f.startsWith('inference.db'))
    .map((f) => fs.readFileSync(path.join(dataDir, f)).toString('latin1'))
    .join('');
  for (const secret of [HF_KEY, ROTATED, key.api_key, key.encoded]) {
    t.notMatch(logs, secret, 'not in the logs');
    t.notMatch(answers.join('\n'), secret, 'not in any answer');
    t.notMatch(database, secret, 'not in the database file');
  }
});

t.test('a key anywhere a request can carry one never reaches a log line or an answer, at trace level', async (t) => {
  const dataDir = t.testdir();
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  // Shaped like a Hugging Face token: recognised wherever it appears.
  const TOKEN = 'hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567';
  // Not shaped like anything: recognised because the same body carries it as an api_key.
  const PLAIN = 'sk-PlainSecret-0123456789abcdef';
  // An endpoint's own key, shaped like nothing (a local TEI server's, say), that its upstream echoes back.
  const ENDPOINT_KEY = 'tei-local-key-0123456789abc';
  const key = JSON.parse(
    execFileSync(
      process.execPath,
      [KEYS_CLI, 'create', '--name', 'admin', '--privilege', 'manage_inference', '--json'],
      {
        env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir },
        encoding: 'utf8',
        timeout: 30_000,
        killSignal: 'SIGKILL',
      },
    ),
  ) as { encoded: string };
  const server = await startServer(t, {
    DATA_DIR: dataDir,
    LOG_LEVEL: 'trace',
    SKIP_VALIDATION: 'true',
    BODY_LIMIT: '64kb',
  });
  const answers: string[] = [];
  const call = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server.url}${url}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `ApiKey ${key.encoded}`, ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    answers.push(JSON.stringify([...res.headers]) + (await res.text()));
    return res.status;
  };
  const url = `${hf.url}/embed`;
  const settings = (extra: Record<string, unknown> = {}) => ({ api_key: PLAIN, url, ...extra });
  const put = (id: string, body: Record<string, unknown>) =>
    call('PUT', `/_inference/text_embedding/${id}`, { service: 'hugging_face', ...body });

  t.equal(await put('e', { service_settings: { api_key: TOKEN, url } }), 200);
  // In the body, at any depth, in fields that are not secrets, in failing requests.
  t.equal(
    await put('a', {
      service_settings: settings({ deep: { a: { b: { c: { d: { api_key: PLAIN, token: TOKEN } } } } } }),
    }),
    400,
    'nested five levels deep',
  );
  t.equal(
    await put('b', { service_settings: settings({ other: PLAIN, note: `my key is ${TOKEN}` }) }),
    400,
    'in unknown settings',
  );
  t.equal(
    await put('c', { service_settings: settings({ similarity: PLAIN }) }),
    400,
    'in a field whose value is echoed',
  );
  t.equal(await put('d', { service_settings: settings({ url: PLAIN }) }), 400, 'as the url');
  t.equal(
    await put('f', { service_settings: settings(), chunking_settings: { strategy: PLAIN } }),
    400,
    'as the chunking strategy',
  );
  t.equal(await put('g', { task_type: PLAIN, service_settings: settings() }), 400, 'as the task type');
  t.equal(
    await call('PUT', '/_inference/text_embedding/h', { service: PLAIN, service_settings: settings() }),
    400,
    'as the service',
  );
  t.equal(
    await put('i', {
      service_settings: settings(),
      task_settings: { x: { y: { z: [{ api_key: PLAIN, k: TOKEN }] } } },
    }),
    400,
    'in task settings, in an array',
  );
  t.equal(
    await put('j', { service_settings: settings({ rate_limit: { requests_per_minute: PLAIN } }) }),
    400,
    'as a number',
  );
  t.equal(
    await call(
      'PUT',
      '/_inference/text_embedding/k',
      `{"service":"hugging_face","service_settings":{"api_key":"${PLAIN}","url": ${TOKEN}}}`,
    ),
    400,
    'in malformed JSON',
  );
  t.equal(
    await call('PUT', '/_inference/text_embedding/l', {
      service: 'hugging_face',
      service_settings: settings({ padding: 'x'.repeat(70_000) }),
    }),
    413,
    'in a body over the limit',
  );
  t.equal(
    await call('PUT', '/_inference/e/_update', { service_settings: { api_key: PLAIN, x: { api_key: PLAIN } } }),
    400,
    'in an update',
  );
  t.equal(
    await call('POST', '/_inference/text_embedding/e', { input: 'x', input_type: TOKEN }),
    400,
    'in an inference request',
  );
  t.equal(await call('POST', '/_inference/text_embedding/e', { input: 'x', task_settings: { api_key: PLAIN } }), 400);
  // In the URL and in headers.
  t.equal(await call('GET', `/_inference?api_key=${TOKEN}`), 400, 'in the query string, named api_key');
  t.equal(await call('GET', `/_inference?token=${PLAIN}&pretty`), 400, 'in the query string, named token');
  t.equal(await call('GET', `/_inference/${TOKEN}`), 404, 'as an inference id');
  t.equal(await call('GET', `/${TOKEN}/x`), 404, 'in an unknown path');
  t.equal(
    await call('GET', '/_inference', undefined, {
      'x-api-key': TOKEN,
      'proxy-authorization': `Bearer ${TOKEN}`,
      cookie: `token=${TOKEN}`,
      'hf-token': PLAIN,
    }),
    200,
    'in headers',
  );
  t.equal(await call('GET', '/_inference', undefined, { authorization: `Bearer ${TOKEN}` }), 401, 'as the credentials');
  // An upstream that echoes the key it was sent.
  hf.next({ status: 401, json: { error: `Invalid token ${TOKEN}` } });
  t.equal(await call('POST', '/_inference/text_embedding/e', { input: 'denied' }), 401, 'echoed by the upstream');
  t.equal(await put('local', { service_settings: { api_key: ENDPOINT_KEY, url } }), 200);
  hf.next({ status: 403, json: { error: `key ${ENDPOINT_KEY} may not call this model` } });
  t.equal(
    await call('POST', '/_inference/text_embedding/local', { input: 'denied' }),
    401,
    'a key of any shape echoed by the upstream',
  );
  server.child.kill('SIGTERM');
  await server.exited;

  const logs = [...server.stdout, ...server.stderr];
  t.ok(logs.length > 40, `${logs.length} log lines at trace`);
  t.ok(
    hf.received.some((r) => r.headers.authorization === `Bearer ${TOKEN}`),
    'the upstream did get the key',
  );
  t.ok(hf.received.some((r) => r.headers.authorization === `Bearer ${ENDPOINT_KEY}`));
  for (const [name, secret] of [
    ['token', TOKEN],
    ['plain key', PLAIN],
    ['endpoint key', ENDPOINT_KEY],
  ] as const) {
    t.strictSame(
      logs.filter((l) => l.includes(secret)),
      [],
      `the ${name} is in no log line`,
    );
    t.strictSame(
      answers.filter((a) => a.includes(secret)),
      [],
      `the ${name} is in no answer`,
    );
  }
  t.ok(
    answers.some((a) => a.includes('[REDACTED]')),
    'answers that would have echoed a key say [REDACTED]',
  );
});
