// The embedding cache (docs/embedding-cache.md): a corpus of 10,000 chunks embedded cold then warm at the default rate
// limit, and the cold pass's cost with the cache against without it. Each pass is a fresh endpoint on a fresh service.
import fs from 'node:fs';
import { Pool } from 'undici';
import { startChild, type Child } from './children.js';
import { row, type Row } from './stats.js';

const CHUNKS = 10_000;
const PER_REQUEST = 20;
const CLIENTS = 50;

/** Distinct one-sentence texts, each one chunk under the default chunking settings. */
const corpus = Array.from(
  { length: CHUNKS },
  (_, i) => `Passage ${i} of the reindexed corpus, about topic ${i % 97} and its ${i % 13} neighbours.`,
);

/** User and system CPU time of a process so far, in milliseconds (from /proc; clock ticks are 100 per second here). */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Sends the whole corpus in requests of PER_REQUEST texts from CLIENTS concurrent clients: seconds taken, CPU used. */
async function pass(gateway: Child, id: string): Promise<{ seconds: number; cpuMs: number }> {
  const pool = new Pool(gateway.url, { connections: CLIENTS });
  const batches: string[][] = [];
  for (let i = 0; i < corpus.length; i += PER_REQUEST) batches.push(corpus.slice(i, i + PER_REQUEST));
  const cpuBefore = cpuMs(gateway.process.pid!);
  const started = performance.now();
  let next = 0;
  const client = async () => {
    for (let b = next++; b < batches.length; b = next++) {
      const res = await pool.request({
        path: `/_inference/text_embedding/${id}`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: batches[b] }),
      });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`cache bench: ${res.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  return { seconds, cpuMs: cpuMs(gateway.process.pid!) - cpuBefore };
}

async function createEndpoint(gateway: Child, upstream: Child, id: string): Promise<void> {
  const res = await fetch(`${gateway.url}/_inference/text_embedding/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      service: 'hugging_face',
      service_settings: { api_key: 'hf_bench', url: `${upstream.url}/embed`, dimensions: 384 },
    }),
  });
  if (res.status !== 200) throw new Error(`creating ${id}: ${res.status} ${await res.text()}`);
}

interface Stats {
  requests: number;
  texts: number;
}

export async function cacheFigures(upstream: Child, runs = 2): Promise<Row[]> {
  const warmVsCold: number[] = [];
  const warmCalls: number[] = [];
  const coldTime: number[] = [];
  const coldCpu: number[] = [];
  const coldCpuPerText: number[] = [];
  const coldOffCpuPerText: number[] = [];
  for (let r = 0; r < runs; r++) {
    // The cache on (as shipped) and off, alternately, each on a service of its own.
    const on = await startChild('gateway', { MALLOC_ARENA_MAX: '2', BENCH_EMBEDDING_CACHE_SIZE: '256mb' });
    const off = await startChild('gateway', { MALLOC_ARENA_MAX: '2', BENCH_EMBEDDING_CACHE_SIZE: '0' });
    try {
      await createEndpoint(on, upstream, `on${r}`);
      await createEndpoint(off, upstream, `off${r}`);
      const coldOff = await pass(off, `off${r}`);
      const cold = await pass(on, `on${r}`);
      await upstream.ask('reset');
      const warm = await pass(on, `on${r}`);
      const stats = await upstream.ask<Stats>('stats');
      warmVsCold.push(CHUNKS / warm.seconds / (CHUNKS / cold.seconds));
      warmCalls.push(stats.requests);
      coldTime.push(cold.seconds / coldOff.seconds);
      coldCpu.push(cold.cpuMs / coldOff.cpuMs);
      coldCpuPerText.push(((cold.cpuMs - coldOff.cpuMs) * 1000) / CHUNKS);
      coldOffCpuPerText.push((coldOff.cpuMs * 1000) / CHUNKS);
    } finally {
      await on.stop();
      await off.stop();
    }
  }
  const kase = `${CHUNKS} chunks, ${PER_REQUEST} per request, ${CLIENTS} clients, 3000/min`;
  return [
    row('cache', kase, 'warm texts/s vs cold', warmVsCold, { text: '>= 20', met: (v) => v >= 20 }),
    row('cache', kase, 'upstream requests, warm pass', warmCalls, { text: '0', met: (v) => v === 0 }),
    row('cache', `${kase}, cold pass`, 'time, cache on vs off', coldTime, { text: '<= 1.05', met: (v) => v <= 1.05 }),
    // The cold pass's cost is its time, which the rate limit sets (docs/performance.md#the-embedding-cache); its CPU is
    // reported beside it: the pass itself spends little, so the cache's per-text work shows as a large share of it.
    row('cache', `${kase}, cold pass`, 'service CPU, cache on vs off', coldCpu),
    row('cache', `${kase}, cold pass`, 'service CPU µs per text, cache off', coldOffCpuPerText),
    row('cache', `${kase}, cold pass`, 'service CPU µs per text, cache on - off', coldCpuPerText),
  ];
}
