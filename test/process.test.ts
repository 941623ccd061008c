// The real process: kill -9 after acknowledged writes, graceful SIGTERM, start-up errors.
import net from 'node:net';
import t from 'tap';
import { hfBody } from './helpers/app.js';
import { runServerToExit, startServer } from './helpers/process.js';

const put = (url: string, id: string, body: unknown = hfBody()) =>
  fetch(`${url}/_inference/text_embedding/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

t.test('every acknowledged PUT survives SIGKILL right after its acknowledgement', async (t) => {
  const dataDir = t.testdir();
  const ids: string[] = [];
  for (let round = 0; round < 3; round++) {
    const server = await startServer({ DATA_DIR: dataDir });
    const batch = Array.from({ length: 20 }, (_, i) => `r${round}-e${i}`);
    // Concurrent writes; the kill follows the last acknowledgement with no pause.
    const answers = await Promise.all(batch.map((id) => put(server.url, id)));
    t.same(answers.map((a) => a.status), batch.map(() => 200), `round ${round}: all acknowledged`);
    server.child.kill('SIGKILL');
    t.equal((await server.exited).signal, 'SIGKILL');
    ids.push(...batch);
  }
  const server = await startServer({ DATA_DIR: dataDir });
  const listed = (await (await fetch(`${server.url}/_inference`)).json()) as { endpoints: Array<{ inference_id: string }> };
  t.same(listed.endpoints.map((e) => e.inference_id), [...ids].sort());
  server.child.kill('SIGTERM');
  t.equal((await server.exited).code, 0);
});

t.test('it logs one line saying where it listens', async (t) => {
  const server = await startServer({ DATA_DIR: t.testdir() });
  const listening = server.stdout.filter((l) => l.includes('listening'));
  t.equal(listening.length, 1);
  t.match(JSON.parse(listening[0]!).msg, /^Server listening at http:\/\/127\.0\.0\.1:\d+$/);
  server.child.kill('SIGTERM');
  await server.exited;
});

t.test('SIGTERM lets an in-flight request finish, refuses new connections, and exits 0', async (t) => {
  const server = await startServer({ DATA_DIR: t.testdir() });
  const { port } = new URL(server.url);
  const body = JSON.stringify(hfBody());
  const half = Math.floor(body.length / 2);
  // A request whose body is still arriving when the signal comes.
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let response = '';
  socket.on('data', (d) => (response += d.toString()));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(
    `PUT /_inference/text_embedding/inflight HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n` +
      body.slice(0, half),
  );
  await new Promise((r) => setTimeout(r, 200));
  server.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  const refused = await fetch(`${server.url}/_inference`).then(
    () => false,
    () => true,
  );
  t.ok(refused, 'new connections are refused while shutting down');
  socket.write(body.slice(half));
  await closed;
  t.match(response, /^HTTP\/1\.1 200 OK/);
  t.match(response, /"inference_id":"inflight"/);
  const exit = await server.exited;
  t.equal(exit.code, 0);
  t.ok(server.stdout.some((l) => l.includes('shutting down')));
});

t.test('a configuration error is one clear line on stderr and exit code 1', async (t) => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ PORT: 'http' }, 'configuration error: PORT must be an integer from 0 to 65535, got [http]\n'],
    [{ SECRETS_KEY: 'short' }, 'configuration error: SECRETS_KEY must be 32 bytes encoded as base64 (44 characters, e.g. from `openssl rand -base64 32`), got 3 bytes\n'],
  ];
  for (const [env, stderr] of cases) {
    const result = await runServerToExit({ DATA_DIR: t.testdir(), ...env });
    t.equal(result.code, 1);
    t.equal(result.stderr, stderr);
  }
});
