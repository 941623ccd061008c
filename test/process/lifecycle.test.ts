// The real process: kill -9 after acknowledged writes, graceful SIGTERM and SIGINT, start-up errors.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { hfBody } from '../helpers/app-harness.js';
import { closedPort } from '../helpers/network.js';
import { runServerToExit, startServer } from '../helpers/process.js';

// The servers here make no upstream call; an address literal keeps them from looking up a name at PUT.
const LOCAL_URL = `http://127.0.0.1:${await closedPort()}/embed`;

const put = (url: string, id: string, body: unknown = hfBody({ url: LOCAL_URL })) =>
  fetch(`${url}/_inference/text_embedding/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

t.test('every acknowledged PUT survives SIGKILL right after its acknowledgement', async (t) => {
  const dataDir = t.testdir();
  const ids: string[] = [];
  for (let round = 0; round < 3; round++) {
    const server = await startServer(t, { DATA_DIR: dataDir });
    const batch = Array.from({ length: 20 }, (_, i) => `r${round}-e${i}`);
    // Concurrent writes; the kill follows the last acknowledgement with no pause.
    const answers = await Promise.all(batch.map((id) => put(server.url, id)));
    t.strictSame(
      answers.map((a) => a.status),
      batch.map(() => 200),
      `round ${round}: all acknowledged`,
    );
    server.child.kill('SIGKILL');
    t.equal((await server.exited).signal, 'SIGKILL');
    ids.push(...batch);
  }
  const server = await startServer(t, { DATA_DIR: dataDir });
  const listed = (await (await fetch(`${server.url}/_inference`)).json()) as {
    endpoints: Array<{ inference_id: string }>;
  };
  t.strictSame(
    listed.endpoints.map((e) => e.inference_id),
    [...ids].sort(),
  );
  server.child.kill('SIGTERM');
  t.equal((await server.exited).code, 0);
});

t.test('it logs one line saying where it listens', async (t) => {
  const server = await startServer(t, { DATA_DIR: t.testdir() });
  const listening = server.stdout.filter((l) => l.includes('listening'));
  t.equal(listening.length, 1);
  t.match(JSON.parse(listening[0]!).msg, /^Server listening at http:\/\/127\.0\.0\.1:\d+$/);
  server.child.kill('SIGTERM');
  await server.exited;
});

// Ctrl-C (SIGINT) and SIGTERM stop the service the same way (README: Set up).
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(
    `${signal} lets an in-flight request finish, refuses new connections, closes the database and exits 0`,
    async (t) => {
      const dataDir = t.testdir();
      // At debug level the service logs each request as it arrives.
      const server = await startServer(t, { DATA_DIR: dataDir, LOG_LEVEL: 'debug' });
      const { port } = new URL(server.url);
      const body = JSON.stringify(hfBody({ url: LOCAL_URL }));
      const half = Math.floor(body.length / 2);
      // A request whose body is still arriving when the signal comes.
      const socket = net.connect(Number(port), '127.0.0.1');
      t.teardown(() => socket.destroy());
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      let response = '';
      socket.on('data', (d) => (response += d.toString()));
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.write(
        `PUT /_inference/text_embedding/inflight HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n` +
          body.slice(0, half),
      );
      // In flight for certain: the server has logged the request's arrival (its body is not complete).
      const deadline = Date.now() + 10_000;
      while (
        !server.stdout.some((l) => l.includes('"url":"/_inference/text_embedding/inflight"')) &&
        Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 10));
      }
      server.child.kill(signal);
      // The signal is handled when the server says so; from then on the listener closes.
      while (!server.stdout.some((l) => l.includes('shutting down')) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      t.ok(
        server.stdout.some((l) => l.includes(`"signal":"${signal}"`) && l.includes('shutting down')),
        `the ${signal} was logged`,
      );
      // Refused once the listener is closed: asked until then.
      let refused = false;
      while (!refused && Date.now() < deadline) {
        refused = await fetch(`${server.url}/_inference`).then(
          () => false,
          () => true,
        );
      }
      t.ok(refused, 'new connections are refused while shutting down');
      socket.write(body.slice(half));
      await closed;
      t.match(response, /^HTTP\/1\.1 200 OK/);
      t.match(response, /"inference_id":"inflight"/);
      const exit = await server.exited;
      t.strictSame(exit, { code: 0, signal: null }, 'exit code 0');
      // SQLite checkpoints and removes the write-ahead log when the last connection closes; after
      // a kill -9 it stays behind (the SIGKILL test's data directory keeps it).
      t.notOk(fs.existsSync(path.join(dataDir, 'inference.db-wal')), 'the database was closed');
    },
  );
}

t.test('a configuration error is one clear line on stderr and exit code 1', async (t) => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ PORT: 'http' }, 'configuration error: PORT must be an integer from 0 to 65535, got [http]\n'],
    [
      { SECRETS_KEY: 'short' },
      'configuration error: SECRETS_KEY must be 32 bytes encoded as base64 (44 characters, e.g. from `openssl rand -base64 32`), got 3 bytes\n',
    ],
  ];
  for (const [env, stderr] of cases) {
    const result = await runServerToExit(t, { DATA_DIR: t.testdir(), ...env });
    t.equal(result.code, 1);
    t.equal(result.stderr, stderr);
  }
});
