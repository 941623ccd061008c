// The doors (docs/doors.md) against `_inference` on the same endpoint, in alternating rounds on one service: req/s at 32
// connections and the mean latency of sequential requests on one connection, each with the service's CPU time per
// answer (which the machine's other load moves far less than either).
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { startChild, type Child } from './children.js';
import { cpuSeconds, row, type Row } from './stats.js';

const ID = 'open';

/** One short text, as each protocol's clients send it (the OpenAI door with floats, as LangChain asks). */
const ROUTES = [
  { name: '_inference', path: `/_inference/text_embedding/${ID}`, body: { input: 'a short query' } },
  {
    name: 'OpenAI door',
    path: '/v1/embeddings',
    body: { model: ID, input: 'a short query', encoding_format: 'float' },
  },
  { name: 'Hugging Face door', path: `/hf/${ID}/embed`, body: { inputs: 'a short query' } },
] as const;

/** Requests per second at 32 connections, and the service's CPU time per answer (µs), which other load does not move. */
async function underLoad(service: Child, path: string, body: unknown): Promise<{ rps: number; cpuUs: number }> {
  const cpuBefore = cpuSeconds(service.process.pid!);
  const r = await autocannon({
    url: `${service.url}${path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    connections: 32,
    duration: 3,
  });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`door bench: ${r.non2xx} non-2xx, ${r.errors} errors on ${path}`);
  const cpu = cpuSeconds(service.process.pid!) - cpuBefore;
  return { rps: r.requests.total / r.duration, cpuUs: (cpu * 1e6) / r.requests.total };
}

/** The mean latency (ms) of `count` sequential requests on one connection, and the service's CPU time per answer (µs). */
async function oneByOne(
  service: Child,
  path: string,
  body: unknown,
  count = 1000,
): Promise<{ latencyMs: number; cpuUs: number }> {
  const pool = new Pool(service.url, { connections: 1 });
  const text = JSON.stringify(body);
  const once = async () => {
    const res = await pool.request({
      path,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: text,
    });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`door bench: ${res.statusCode} on ${path}`);
  };
  for (let i = 0; i < 100; i++) await once();
  const cpuBefore = cpuSeconds(service.process.pid!);
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await once();
  const latencyMs = Number(process.hrtime.bigint() - started) / 1e6 / count;
  const cpuUs = ((cpuSeconds(service.process.pid!) - cpuBefore) * 1e6) / count;
  await pool.close();
  return { latencyMs, cpuUs };
}

export async function doorFigures(upstream: Child, runs = Number(process.env.BENCH_DOOR_ROUNDS ?? 5)): Promise<Row[]> {
  const gateway = await startChild('gateway', { MALLOC_ARENA_MAX: '2' });
  try {
    const res = await fetch(`${gateway.url}/_inference/text_embedding/${ID}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        service: 'hugging_face',
        // The rate limit out of the way, as in the overhead section: this measures the doors' own work.
        service_settings: {
          api_key: 'hf_bench',
          // Vectors of length 1, as TEI answers by default: the Hugging Face door's default `normalize` keeps them.
          url: `${upstream.url}/normalized/embed`,
          dimensions: 384,
          rate_limit: { requests_per_minute: 60_000_000 },
        },
      }),
    });
    if (res.status !== 200) throw new Error(`door bench: creating the endpoint: ${res.status}`);
    for (const route of ROUTES) await underLoad(gateway, route.path, route.body); // warm-up
    const rps = ROUTES.map(() => [] as number[]);
    const cpu = ROUTES.map(() => [] as number[]);
    const cpuOne = ROUTES.map(() => [] as number[]);
    const latency = ROUTES.map(() => [] as number[]);
    for (let r = 0; r < runs; r++) {
      // Each round in another order, so that drift in the machine's speed falls on every route alike.
      const order = ROUTES.map((_, i) => (i + r) % ROUTES.length);
      for (const i of order) {
        const figures = await underLoad(gateway, ROUTES[i]!.path, ROUTES[i]!.body);
        rps[i]!.push(figures.rps);
        cpu[i]!.push(figures.cpuUs);
      }
      for (const i of order) {
        const figures = await oneByOne(gateway, ROUTES[i]!.path, ROUTES[i]!.body);
        latency[i]!.push(figures.latencyMs);
        cpuOne[i]!.push(figures.cpuUs);
      }
    }
    const rows: Row[] = [];
    for (const [i, route] of ROUTES.entries()) {
      rows.push(row('doors', `${route.name}, 32 connections, one short text`, 'req/s', rps[i]!));
      rows.push(row('doors', `${route.name}, 32 connections`, 'service CPU µs per answer', cpu[i]!));
      rows.push(row('doors', `${route.name}, 1 connection`, 'mean latency ms', latency[i]!));
      rows.push(row('doors', `${route.name}, 1 connection`, 'service CPU µs per answer', cpuOne[i]!));
    }
    const within5 = { text: '>= 0.95', met: (v: number) => v >= 0.95 };
    for (const i of [1, 2]) {
      const name = ROUTES[i]!.name;
      rows.push(
        row(
          'doors',
          `${name} / _inference, 32 connections`,
          'req/s ratio',
          rps[i]!.map((v, k) => v / rps[0]![k]!),
          within5,
        ),
      );
      rows.push(
        row(
          'doors',
          `${name} / _inference, 32 connections`,
          'CPU per answer ratio',
          cpu[i]!.map((v, k) => v / cpu[0]![k]!),
          { text: '<= 1.05', met: (v: number) => v <= 1.05 },
        ),
      );
      rows.push(
        row(
          'doors',
          `${name} / _inference, 1 connection`,
          'CPU per answer ratio',
          cpuOne[i]!.map((v, k) => v / cpuOne[0]![k]!),
          { text: '<= 1.05', met: (v: number) => v <= 1.05 },
        ),
      );
      rows.push(
        row(
          'doors',
          `${name} - _inference, 1 connection`,
          'added mean latency ms',
          latency[i]!.map((v, k) => v - latency[0]![k]!),
        ),
      );
    }
    return rows;
  } finally {
    await gateway.stop();
  }
}
