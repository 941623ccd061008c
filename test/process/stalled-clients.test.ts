// Every connection has a deadline: 500 clients that send half a body and then nothing are cut at REQUEST_READ_TIMEOUT,
// and the process's descriptors come back.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import { startServer } from '../helpers/process.js';

const STALLED = 500;

/** Open descriptors of a process (sockets, the database, pipes). */
const descriptors = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;

/** A GET on a connection of its own, closed after the answer: it leaves no keep-alive socket behind. */
function get(url: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      })
      .on('error', reject);
  });
}

/** Polls until `check` holds or `ms` pass; returns whether it held. */
async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

t.test(`${STALLED} half-sent bodies are closed at REQUEST_READ_TIMEOUT while other clients are answered`, async (t) => {
  const server = await startServer(t, { DATA_DIR: t.testdir(), REQUEST_READ_TIMEOUT: '2s' });
  const pid = server.child.pid!;
  const { port } = new URL(server.url);
  // Everything a request opens lazily is open before the baseline is taken.
  t.equal((await get(`${server.url}/_inference`)).status, 200);
  await new Promise((r) => setTimeout(r, 200));
  const before = descriptors(pid);

  const started = Date.now();
  const stalled = Array.from(
    { length: STALLED },
    (_, i) =>
      new Promise<{ answer: string; closedAfter: number }>((resolve) => {
        const socket = net.connect(Number(port), '127.0.0.1', () =>
          socket.write(
            `POST /_inference/text_embedding/e${i} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"input":`,
          ),
        );
        let answer = '';
        // A connection the service never closes: given up on after 15 s, as no answer.
        const giveUp = setTimeout(() => socket.destroy(), 15_000);
        socket.on('data', (d) => (answer += d.toString()));
        socket.on('error', () => undefined);
        socket.on('close', () => {
          clearTimeout(giveUp);
          resolve({ answer, closedAfter: Date.now() - started });
        });
      }),
  );
  // All connected and their requests begun: the service holds them all.
  t.ok(
    await eventually(() => descriptors(pid) >= before + STALLED, 5000),
    'the service holds every stalled connection',
  );
  const during = descriptors(pid);
  // Meanwhile other clients get their answers.
  const others = await Promise.all(Array.from({ length: 20 }, () => get(`${server.url}/_inference`)));
  t.strictSame(
    others.map((o) => o.status),
    others.map(() => 200),
    'other clients are answered while the stalled ones wait',
  );
  const slowest = Math.max(...others.map((o) => o.ms));
  t.ok(slowest < 1500, `the slowest other answer took ${slowest.toFixed(0)} ms`);

  const results = await Promise.all(stalled);
  const latest = Math.max(...results.map((r) => r.closedAfter));
  t.equal(results.filter((r) => r.answer.startsWith('HTTP/1.1 408 ')).length, STALLED, 'every stalled request got 408');
  // The deadline (2 s) is checked every second; the rest is room for a loaded machine.
  t.ok(latest >= 2000 && latest < 6000, `all ${STALLED} closed ${latest} ms after they began`);
  t.ok(await eventually(() => descriptors(pid) <= before, 5000), 'the descriptors come back to the baseline');
  const after = descriptors(pid);
  t.comment(`open descriptors: before ${before}, during ${during}, after ${after}`);
  t.equal((await get(`${server.url}/_inference`)).status, 200, 'and the service answers as before');
  server.child.kill('SIGTERM');
  t.equal((await server.exited).code, 0);
});
