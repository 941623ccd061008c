// Secret hygiene: a real process at LOG_LEVEL=trace, every kind of traffic, and no credential in logs, answers or the database file.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { FakeHuggingFace } from './helpers/fake-hf.js';
import { startServer } from './helpers/process.js';

const KEYS_CLI = fileURLToPath(new URL('../src/cli/keys.js', import.meta.url));
const HF_KEY = 'hf_SecretHuggingFaceKey0987654321';
const ROTATED = 'hf_RotatedHuggingFaceKey1234567890';

t.test('no api key or credential appears anywhere, even at trace level', async (t) => {
  const dataDir = t.testdir();
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const key = JSON.parse(
    execFileSync(process.execPath, [KEYS_CLI, 'create', '--name', 'admin', '--privilege', 'manage_inference', '--json'], {
      env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir },
      encoding: 'utf8',
    }),
  ) as { id: string; api_key: string; encoded: string };
  const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'trace', SKIP_VALIDATION: 'false' });
  const answers: string[] = [];
  const call = async (method: string, url: string, body?: string, auth = `ApiKey ${key.encoded}`) => {
    const res = await fetch(`${server.url}${url}`, { method, headers: { 'content-type': 'application/json', authorization: auth }, body });
    answers.push(JSON.stringify([...res.headers]) + (await res.text()));
    return res.status;
  };
  const config = (extra = {}) => JSON.stringify({ service: 'hugging_face', service_settings: { api_key: HF_KEY, url: `${hf.url}/embed`, ...extra } });

  t.equal(await call('PUT', '/_inference/text_embedding/e', config()), 200, 'created, with the validation call upstream');
  t.equal(await call('POST', '/_inference/text_embedding/e', JSON.stringify({ input: ['one', 'two'] })), 200);
  t.equal(await call('GET', '/_inference/e'), 200);
  t.equal(await call('PUT', '/_inference/e/_update', JSON.stringify({ service_settings: { api_key: ROTATED } })), 200);
  t.equal(await call('POST', '/_inference/e', JSON.stringify({ input: 'three' })), 200);
  hf.next({ status: 401, json: { error: 'Invalid credentials in Authorization header' } });
  t.equal(await call('POST', '/_inference/e', JSON.stringify({ input: 'denied' })), 401, 'an upstream error');
  t.equal(await call('PUT', '/_inference/text_embedding/x', `{"service":"hugging_face","service_settings":{"api_key": ${HF_KEY}}}`), 400, 'malformed JSON');
  t.equal(await call('PUT', '/_inference/text_embedding/y', config({ extra: HF_KEY, nested: { api_key: HF_KEY } })), 400, 'unknown settings');
  t.equal(await call('PUT', '/_inference/text_embedding/z', JSON.stringify({ service: 'hugging_face', api_key: HF_KEY, service_settings: { api_key: HF_KEY } })), 400);
  t.equal(await call('GET', '/_inference', undefined, `ApiKey ${Buffer.from(`${key.id}:wrong`).toString('base64')}`), 401, 'bad credentials');
  t.equal(await call('GET', '/_inference', undefined, `Bearer ${key.id}:${key.api_key}`), 200);
  t.equal(await call('DELETE', '/_inference/e'), 200);
  server.child.kill('SIGTERM');
  await server.exited;

  t.ok(hf.received.every((r) => r.headers.authorization === `Bearer ${HF_KEY}` || r.headers.authorization === `Bearer ${ROTATED}`), 'the upstream did get the key');
  const logs = [...server.stdout, ...server.stderr].join('\n');
  t.ok(server.stdout.length > 20, `${server.stdout.length} log lines at trace`);
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
