// A start-up that fails part way: whatever was opened before the failing step (the database, Redis) is closed again.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { runServerToExit } from '../helpers/process.js';

/** A TCP server in Redis' place that accepts connections and never answers: the rate limiter waits, then falls back. */
async function silentRedis(t: { teardown(fn: () => unknown): void }) {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    // Read (and ignored): a paused socket would never see the client's end.
    socket.resume();
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, open: () => sockets.size, accepted: () => accepted };
}

t.test(
  'a step failing after the store and Redis are open: both are closed before the error reaches the caller',
  async (t) => {
    const redis = await silentRedis(t);
    const dataDir = t.testdir();
    const config = loadConfig({
      DATA_DIR: dataDir,
      REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      SKIP_VALIDATION: 'true',
    });
    // The step after Redis: its "not reachable yet" line, written to a log destination that fails.
    const failingLog = {
      write(line: string) {
        if (line.includes('not reachable yet')) throw new Error('log destination failed');
      },
    };
    await t.rejects(buildApp(config, { logStream: failingLog }), new Error('log destination failed'));
    t.ok(redis.accepted() >= 1, 'Redis had been connected to');
    // The client's close reaches this side a moment later.
    for (let waited = 0; redis.open() > 0 && waited < 1000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    t.equal(redis.open(), 0, 'no Redis connection is left open');
    // Left open, the limiter would reconnect every second or so.
    const accepted = redis.accepted();
    await new Promise((r) => setTimeout(r, 1500));
    t.equal(redis.accepted(), accepted, 'and none is made again');
    t.notOk(
      fs.existsSync(path.join(dataDir, 'inference.db-wal')),
      'the database was closed (SQLite removes its WAL on the last close)',
    );
  },
);

t.test('a port that is taken: the process closes the store and exits 1 with one line', async (t) => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as net.AddressInfo).port;
  const dataDir = t.testdir();
  const started = Date.now();
  const { code, stderr } = await runServerToExit(t, { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir });
  t.equal(code, 1);
  t.equal(stderr, `failed to start: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`);
  t.ok(Date.now() - started < 10_000, `exited after ${Date.now() - started} ms`);
  t.ok(fs.existsSync(path.join(dataDir, 'inference.db')), 'the store had been opened');
  t.notOk(fs.existsSync(path.join(dataDir, 'inference.db-wal')), 'and was closed before the exit');
});
