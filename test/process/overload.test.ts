// Overload and shutdown: far over capacity only 200s and 429s, nothing leaks; SIGTERM lets in-flight work finish.
import t from 'tap';
import { Agent } from 'undici';
import { API_KEY, startApp } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';
import { startServer } from '../helpers/process.js';

/** Creates endpoint `e` on a service started as a process, pointing at the test upstream. */
async function createEndpoint(serverUrl: string, hf: FakeHuggingFace): Promise<void> {
  const res = await fetch(`${serverUrl}/_inference/text_embedding/e`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ service: 'hugging_face', service_settings: { api_key: API_KEY, url: `${hf.url}/embed` } }),
  });
  if (res.status !== 200) throw new Error(`creating the endpoint: ${res.status}`);
}

const resources = () => {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
};

t.test(
  '1200 requests against a queue of 5 batches: only 200s and 429s, then no leaked sockets or timers',
  async (t) => {
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    hf.delayMs = 50;
    const s = await startApp(t, { SKIP_VALIDATION: 'true' }, undefined, { queueCapacity: 5 });
    await s.request('PUT', '/_inference/text_embedding/busy', {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: `${hf.url}/embed`, rate_limit: { requests_per_minute: 1200 } },
    });
    const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
    const before = resources();
    const client = new Agent({ connections: 300 });
    const statuses = new Map<number, number>();
    const started = performance.now();
    const one = async (i: number) => {
      const res = await fetch(`${base}/_inference/text_embedding/busy`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: Array.from({ length: 20 }, (_, k) => `r${i} t${k}`) }),
        // @ts-expect-error undici's dispatcher option on Node's fetch
        dispatcher: client,
      });
      await res.text();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    };
    // Bounded: 1200 requests, 300 at a time, over in seconds.
    for (let wave = 0; wave < 4; wave++) await Promise.all(Array.from({ length: 300 }, (_, i) => one(wave * 300 + i)));
    await client.close();
    t.ok(performance.now() - started < 60_000);
    t.strictSame([...statuses.keys()].sort(), [200, 429], `statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    t.ok((statuses.get(429) ?? 0) > 600, 'most of the flood was turned away at once');
    t.ok((statuses.get(200) ?? 0) >= 20, 'and the queue kept serving');
    // Let keep-alive sockets and retry timers run out, then compare with before the flood.
    await new Promise((r) => setTimeout(r, 300));
    const after = resources();
    // Left open: a few idle keep-alive connections to the upstream (both ends live in this process).
    // A leak would leave one per client connection: hundreds.
    t.ok(
      (after.TCPSocketWrap ?? 0) <= (before.TCPSocketWrap ?? 0) + 10,
      `sockets ${JSON.stringify(before)} -> ${JSON.stringify(after)}`,
    );
    t.ok((after.Timeout ?? 0) <= (before.Timeout ?? 0) + 2, 'timers');
    t.equal((await s.request('POST', '/_inference/text_embedding/busy', { input: 'after' })).status, 200);
  },
);

t.test(
  'memory stays bounded: 1000 clients of 20 texts each against a slow upstream, peak RSS under 300 MB',
  async (t) => {
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    // 100 ms an upstream request, 8 in flight (the default max_concurrent_requests): 80 batches a
    // second, so 1000 one-batch requests need about 12.5 s; the timeout leaves room for a loaded machine.
    hf.delayMs = 100;
    const server = await startServer(t, { DATA_DIR: t.testdir() });
    await createEndpoint(server.url, hf);
    const client = new Agent({ connections: 1000 });
    const answers = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        fetch(`${server.url}/_inference/text_embedding/e?timeout=20s`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input: Array.from({ length: 20 }, (_, k) => `client ${i} text ${k} `.repeat(20)) }),
          // @ts-expect-error undici's dispatcher option on Node's fetch
          dispatcher: client,
        }).then(async (r) => (await r.text(), r.status)),
      ),
    );
    await client.close();
    // The process's own high-water mark of resident memory, from the kernel.
    const status = await import('node:fs').then((fs) => fs.readFileSync(`/proc/${server.child.pid}/status`, 'utf8'));
    const peakMb = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
    server.child.kill('SIGTERM');
    await server.exited;
    t.ok(
      answers.every((s) => s === 200 || s === 408 || s === 429),
      `answers ${JSON.stringify([...new Set(answers)])}`,
    );
    t.ok(
      answers.filter((s) => s === 200).length > 100,
      `work got done: ${answers.filter((s) => s === 200).length} answers 200`,
    );
    t.ok(peakMb < 300, `peak RSS ${peakMb.toFixed(0)} MB`);
  },
);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal} under load: in-flight requests finish, new connections are refused, exit code 0`, async (t) => {
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    hf.delayMs = 300;
    const server = await startServer(t, { DATA_DIR: t.testdir() });
    await createEndpoint(server.url, hf);
    const client = new Agent({ connections: 100 });
    const inflight = Array.from({ length: 60 }, (_, i) =>
      fetch(`${server.url}/_inference/text_embedding/e`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: `request ${i}` }),
        // @ts-expect-error undici's dispatcher option on Node's fetch
        dispatcher: client,
      }).then(async (r) => ({ status: r.status, body: await r.text() })),
    );
    // In flight for certain: the upstream (which answers after 300 ms) has every text. Until a
    // request has reached the service it is not in flight, and a shutdown may close its connection.
    const deadline = Date.now() + 10_000;
    while (hf.texts.filter((x) => x.startsWith('request ')).length < 60 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    t.equal(hf.texts.filter((x) => x.startsWith('request ')).length, 60, 'all 60 requests are in flight');
    server.child.kill(signal);
    // Once the signal is handled the listener closes: a new connection is then refused. Asked
    // until then (a loaded machine may take a while to deliver the signal), never past 10 s.
    while (!server.stdout.some((l) => l.includes('shutting down')) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    let late: number | string = 'not asked';
    while (late !== 'refused' && Date.now() < deadline) {
      late = await fetch(`${server.url}/_inference`).then(
        (r) => r.status,
        () => 'refused',
      );
    }
    const answers = await Promise.all(inflight);
    await client.close();
    t.strictSame(
      answers.map((a) => a.status),
      answers.map(() => 200),
      'every request in flight at the signal was answered',
    );
    t.ok(
      answers.every(
        (a, i) => a.body === JSON.stringify({ text_embedding: [{ embedding: hf.vector(`request ${i}`) }] }),
      ),
    );
    t.equal(late, 'refused', 'a new connection after the signal is refused');
    t.strictSame(await server.exited, { code: 0, signal: null }, 'exit code 0');
  });
}
