// 500 streams at once through the real server process: every one answered whole, the upstream sees them all open
// together, memory stays bounded.
import fs from 'node:fs';
import t from 'tap';
import { Agent, request } from 'undici';
import { API_KEY } from '../helpers/app-harness.js';
import { FakeLlm } from '../helpers/fake-llm.js';
import { startServer } from '../helpers/process.js';

const STREAMS = 500;
const TOKENS = 60;

t.test(`${STREAMS} concurrent streams: all complete, all open upstream at once, peak RSS under 300 MB`, async (t) => {
  const llm = await new FakeLlm().start();
  t.teardown(() => llm.close());
  llm.record = false;
  // Each stream sends its first token, then waits until all are open together, then the rest 20 ms apart.
  llm.openTogether = STREAMS;
  llm.tokenDelayMs = 20;
  llm.reply = (prompt) => Array.from({ length: TOKENS }, (_, i) => ` ${prompt}-${i}`);
  const server = await startServer(t, { DATA_DIR: t.testdir() });
  t.teardown(async () => {
    if (server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
  });
  const put = await fetch(`${server.url}/_inference/completion/many`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      service: 'hugging_face',
      service_settings: {
        api_key: API_KEY,
        url: `${llm.url}/v1/chat/completions`,
        max_concurrent_streams: STREAMS,
        rate_limit: { requests_per_minute: 6_000_000 },
      },
    }),
  });
  t.equal(put.status, 200);

  const client = new Agent({ connections: STREAMS });
  const one = async (i: number) => {
    const res = await request(`${server.url}/_inference/completion/many/_stream?timeout=60s`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: `s${i}` }),
      dispatcher: client,
    });
    return { status: res.statusCode, body: await res.body.text() };
  };
  const answers = await Promise.all(Array.from({ length: STREAMS }, (_, i) => one(i)));
  await client.close();
  const status = fs.readFileSync(`/proc/${server.child.pid}/status`, 'utf8');
  const peakMb = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
  server.child.kill('SIGTERM');
  await server.exited;

  t.strictSame([...new Set(answers.map((a) => a.status))], [200], 'every stream answered 200');
  const expected = (i: number) =>
    Array.from({ length: TOKENS }, (_, k) => `event: message\ndata: {"completion":[{"delta":" s${i}-${k}"}]}\n\n`).join(
      '',
    ) + 'event: message\ndata: [DONE]\n\n';
  t.equal(answers.filter((a, i) => a.body === expected(i)).length, STREAMS, 'every stream whole and its own');
  t.equal(llm.peakOpen, STREAMS, `the upstream had every stream open at once (${llm.peakOpen})`);
  t.ok(peakMb < 300, `peak RSS ${peakMb.toFixed(0)} MB`);
  t.comment(`peak RSS of the service with ${STREAMS} concurrent streams: ${peakMb.toFixed(0)} MB`);
});

t.test(
  'SIGTERM with a stream that never ends: the stream is cut after the grace, its upstream request with it, and the process exits 0',
  async (t) => {
    const llm = await new FakeLlm().start();
    t.teardown(() => llm.close());
    llm.next({ stallAfterTokens: 2 });
    const server = await startServer(t, { DATA_DIR: t.testdir() });
    const put = await fetch(`${server.url}/_inference/completion/endless`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        service: 'hugging_face',
        service_settings: { api_key: API_KEY, url: `${llm.url}/v1/chat/completions` },
      }),
    });
    t.equal(put.status, 200);
    const res = await request(`${server.url}/_inference/completion/endless/_stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'never ends' }),
    });
    t.equal(res.statusCode, 200);
    const read = (async () => {
      let text = '';
      try {
        for await (const chunk of res.body) text += (chunk as Buffer).toString();
      } catch {
        // the connection is cut
      }
      return text;
    })();
    while (llm.received.length < 1) await new Promise((r) => setTimeout(r, 10));
    const stopped = performance.now();
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    const took = performance.now() - stopped;
    t.strictSame(exit, { code: 0, signal: null }, 'exit code 0');
    // The grace is 8 s; the process must be gone before an orchestrator's 10 s kill.
    t.ok(took >= 7000 && took < 10_000, `exited ${(took / 1000).toFixed(1)} s after the signal`);
    t.match(await read, /"delta":/, 'the stream had begun');
    t.equal(llm.received[0]!.closedEarly, true, 'the upstream request was ended with the stream');
    t.ok(
      server.stdout.some((l) => l.includes('connections still open after 8 s are closed')),
      'and the cut was logged',
    );
  },
);
