// Benchmark child: the service itself, on a fresh data directory, reporting its memory when asked.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { serveParent } from './children.js';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-gateway-'));
const app = await buildApp(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', SKIP_VALIDATION: 'true' }), {
  queueCapacity: process.env.BENCH_QUEUE_CAPACITY ? Number(process.env.BENCH_QUEUE_CAPACITY) : undefined,
  logStream: new Writable({ write: (_c, _e, done) => done() }),
});
const url = await app.listen({ port: 0, host: '127.0.0.1' });
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
