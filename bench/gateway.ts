// Benchmark child: the service itself, on a fresh data directory, reporting its memory when asked.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { buildApp } from '../src/app.js';
import { LISTEN_BACKLOG, loadConfig } from '../src/config.js';
import { serveParent } from './children.js';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-gateway-'));
// The log level a user gets (info: one line per request, formatted in full); the lines are
// dropped rather than written, so that a terminal's speed is not measured.
const app = await buildApp(loadConfig({ DATA_DIR: dataDir, SKIP_VALIDATION: 'true' }), {
  queueCapacity: process.env.BENCH_QUEUE_CAPACITY ? Number(process.env.BENCH_QUEUE_CAPACITY) : undefined,
  logStream: new Writable({ write: (_c, _e, done) => done() }),
});
// As the service listens when it runs (src/server.ts).
const url = await app.listen({ port: 0, host: '127.0.0.1', backlog: LISTEN_BACKLOG });
serveParent({
  rss: () => process.memoryUsage().rss,
  memory: () => process.memoryUsage(),
  gc: () => {
    (globalThis as { gc?: () => void }).gc?.();
    return process.memoryUsage().rss;
  },
});
process.on('exit', () => fs.rmSync(dataDir, { recursive: true, force: true }));
process.send?.({ ready: url });
