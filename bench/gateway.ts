// Benchmark child: the service itself, on a fresh data directory, reporting its memory when asked.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import v8 from 'node:v8';
import Database from 'better-sqlite3';
import { buildApp } from '../src/app.js';
import { LISTEN_BACKLOG, loadConfig } from '../src/config.js';
import { SecretBox } from '../src/secrets.js';
import { serveParent } from './children.js';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-gateway-'));
// The log level a user gets (info: one line per request, formatted in full); the lines are
// dropped rather than written, so that a terminal's speed is not measured.
// The embedding cache is off unless a section turns it on: the other sections measure the work of sending texts upstream,
// and their corpora repeat texts, which the cache would answer without that work.
// The cluster variant of the scale section (bench/scale-cluster.ts) names a shared PostgreSQL and Redis here; the other
// sections leave them unset and run on SQLite.
const config = loadConfig({
  DATABASE_URL: process.env.BENCH_DATABASE_URL,
  REDIS_URL: process.env.BENCH_REDIS_URL,
  SECRETS_KEY: process.env.BENCH_SECRETS_KEY,
  CLUSTER_SIZE: process.env.BENCH_CLUSTER_SIZE,
  DATA_DIR: dataDir,
  SKIP_VALIDATION: 'true',
  EMBEDDING_CACHE_SIZE: process.env.BENCH_EMBEDDING_CACHE_SIZE ?? '0',
});
const app = await buildApp(config, {
  queueCapacity: process.env.BENCH_QUEUE_CAPACITY ? Number(process.env.BENCH_QUEUE_CAPACITY) : undefined,
  logStream: new Writable({ write: (_c, _e, done) => done() }),
  liveIdleMs: process.env.BENCH_LIVE_IDLE_MS ? Number(process.env.BENCH_LIVE_IDLE_MS) : undefined,
});
// As the service listens when it runs (src/server.ts).
const url = await app.listen({ port: 0, host: '127.0.0.1', backlog: LISTEN_BACKLOG });
// The longest the event loop was held, for the scale section (1 ms resolution).
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
// Garbage collection pauses since the last ask: their total and the longest (a collection holds the event loop).
const gc = { totalMs: 0, maxMs: 0, count: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gc.totalMs += entry.duration;
    gc.maxMs = Math.max(gc.maxMs, entry.duration);
    gc.count++;
  }
}).observe({ entryTypes: ['gc'] });
serveParent({
  seed: (arg) => seed(arg as SeedOrder),
  loopDelay: () => {
    const figures = { maxMs: loopDelay.max / 1e6, p99Ms: loopDelay.percentile(99) / 1e6 };
    loopDelay.reset();
    return figures;
  },
  gcPauses: () => {
    const figures = { ...gc };
    Object.assign(gc, { totalMs: 0, maxMs: 0, count: 0 });
    return figures;
  },
  rss: () => process.memoryUsage().rss,
  memory: () => process.memoryUsage(),
  // A heap snapshot written to the path given (for finding what each endpoint holds).
  heapSnapshot: (file) => v8.writeHeapSnapshot(String(file)),
  gc: () => {
    (globalThis as { gc?: () => void }).gc?.();
    return process.memoryUsage().rss;
  },
});
process.on('exit', () => fs.rmSync(dataDir, { recursive: true, force: true }));
process.send?.({ ready: url });

interface SeedOrder {
  /** An endpoint created through the API, copied under the new ids. */
  template: string;
  prefix: string;
  from: number;
  count: number;
}

/**
 * Endpoints written straight into the SQLite file, as copies of one made through the API (each
 * api key sealed again for its own id): making 100,000 through HTTP would take most of the section.
 * The service reads the store on every request, so it serves them as if they had been PUT.
 */
function seed(order: SeedOrder): number {
  const db = new Database(path.join(dataDir, 'inference.db'));
  try {
    const box = SecretBox.open({
      configuredKey: config.secretsKey,
      dataDir,
      storeHasSecrets: true,
      databasePath: path.join(dataDir, 'inference.db'),
    });
    const row = db.prepare('SELECT * FROM endpoints WHERE inference_id = ?').get(order.template) as Record<
      string,
      unknown
    >;
    const secrets = box.decrypt(String(row.secrets), order.template);
    const insert = db.prepare(
      `INSERT INTO endpoints (inference_id, task_type, service, service_settings, task_settings, chunking_settings, secrets, created_at, updated_at)
       VALUES (@inference_id, @task_type, @service, @service_settings, @task_settings, @chunking_settings, @secrets, @created_at, @updated_at)`,
    );
    db.transaction(() => {
      for (let i = order.from; i < order.from + order.count; i++) {
        const id = `${order.prefix}${i}`;
        insert.run({ ...row, inference_id: id, secrets: box.encrypt(secrets, id) });
      }
    })();
    return order.count;
  } finally {
    db.close();
  }
}
