// Load benchmarks over loopback: gateway overhead, quota efficiency, limiter accuracy, memory under overload.
import autocannon from 'autocannon';
import { startChild, type Child } from './children.js';

export interface Row {
  section: string;
  case: string;
  figure: string;
  value: number;
  /** e.g. ">= 0.8"; empty when the figure has no target. */
  target?: string;
  met?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The environment the service runs with as shipped (npm start, the Dockerfile). */
const DEPLOYED = { MALLOC_ARENA_MAX: '2' };

async function createEndpoint(gateway: Child, upstream: Child, id: string, serviceSettings: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${gateway.url}/_inference/text_embedding/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      service: 'hugging_face',
      service_settings: { api_key: 'hf_bench', url: `${upstream.url}/embed`, dimensions: 384, ...serviceSettings },
      chunking_settings: { strategy: 'none' },
    }),
  });
  if (res.status !== 200) throw new Error(`creating ${id}: ${res.status} ${await res.text()}`);
}

function load(url: string, opts: { connections: number; seconds: number; body: unknown; overallRate?: number }) {
  return autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(opts.body),
    connections: opts.connections,
    duration: opts.seconds,
    overallRate: opts.overallRate,
    timeout: 60,
  });
}

interface Stats {
  requests: number;
  texts: number;
}

/** The service against the least code that does its job, on the same upstream: req/s and latency. */
export async function gatewayOverhead(upstream: Child): Promise<Row[]> {
  const passthrough = await startChild('passthrough', { UPSTREAM_URL: upstream.url });
  const gateway = await startChild('gateway', DEPLOYED);
  await createEndpoint(gateway, upstream, 'open', { rate_limit: { requests_per_minute: 60_000_000 } });
  const body = { input: 'a short query' };
  type Totals = { requests: number; seconds: number; p50: number[]; p99: number[]; failed: number; upstream: number };
  const totals = (): Totals => ({ requests: 0, seconds: 0, p50: [], p99: [], failed: 0, upstream: 0 });
  const bareTotals = totals();
  const ourTotals = totals();
  const round = async (base: string, into: Totals) => {
    await upstream.ask('reset');
    const r = await load(`${base}/_inference/text_embedding/open`, { connections: 32, seconds: 4, body });
    const stats = await upstream.ask<Stats>('stats');
    into.requests += r.requests.total;
    into.seconds += r.duration;
    into.p50.push(r.latency.p50);
    into.p99.push(r.latency.p99);
    into.failed += r.non2xx + r.errors;
    into.upstream += stats.requests;
  };
  // Warm both, then alternate rounds so that drift in the machine's speed falls on both alike.
  await load(`${passthrough.url}/_inference/text_embedding/open`, { connections: 32, seconds: 2, body });
  await load(`${gateway.url}/_inference/text_embedding/open`, { connections: 32, seconds: 2, body });
  const rounds: number[] = [];
  for (let i = 0; i < 4; i++) {
    const bareBefore = bareTotals.requests;
    const ourBefore = ourTotals.requests;
    await round(passthrough.url, bareTotals);
    await round(gateway.url, ourTotals);
    rounds.push((ourTotals.requests - ourBefore) / (bareTotals.requests - bareBefore));
  }
  // The ratio of each back-to-back pair, median of four: drift in the machine's speed hits both sides of a pair.
  const rpsRatio = rounds.sort((a, b) => a - b).slice(1, 3).reduce((a, b) => a + b) / 2;
  const summary = (x: Totals) => ({
    rps: x.requests / x.seconds,
    p50: x.p50.sort((a, b) => a - b)[2]!,
    p99: x.p99.sort((a, b) => a - b)[2]!,
    non2xx: x.failed,
    upstream: x.upstream,
  });
  const bare = summary(bareTotals);
  const ours = summary(ourTotals);
  await passthrough.stop();
  await gateway.stop();
  const p99Ratio = ours.p99 / bare.p99;
  return [
    { section: 'overhead', case: 'passthrough', figure: 'req/s', value: bare.rps },
    { section: 'overhead', case: 'passthrough', figure: 'p50 ms', value: bare.p50 },
    { section: 'overhead', case: 'passthrough', figure: 'p99 ms', value: bare.p99 },
    { section: 'overhead', case: 'passthrough', figure: 'upstream requests', value: bare.upstream },
    { section: 'overhead', case: 'gateway', figure: 'req/s', value: ours.rps },
    { section: 'overhead', case: 'gateway', figure: 'p50 ms', value: ours.p50 },
    { section: 'overhead', case: 'gateway', figure: 'p99 ms', value: ours.p99 },
    { section: 'overhead', case: 'gateway', figure: 'upstream requests', value: ours.upstream },
    { section: 'overhead', case: 'gateway', figure: 'failed answers', value: ours.non2xx, target: '= 0', met: ours.non2xx === 0 },
    { section: 'overhead', case: 'gateway / passthrough', figure: 'req/s ratio', value: rpsRatio, target: '>= 0.8', met: rpsRatio >= 0.8 },
    { section: 'overhead', case: 'gateway / passthrough', figure: 'p99 ratio', value: p99Ratio, target: '<= 1.5', met: p99Ratio <= 1.5 },
  ];
}

/** 200 clients with one short text each against 600/min: how many texts each upstream request carries. */
export async function quotaEfficiency(upstream: Child): Promise<Row[]> {
  const rpm = 600;
  const gateway = await startChild('gateway', DEPLOYED);
  await createEndpoint(gateway, upstream, 'quota', { rate_limit: { requests_per_minute: rpm } });
  await upstream.ask('reset');
  const seconds = 15;
  const r = await load(`${gateway.url}/_inference/text_embedding/quota`, { connections: 200, seconds, body: { input: 'one short text' } });
  const stats = await upstream.ask<Stats>('stats');
  await gateway.stop();
  const textsPerSecond = r['2xx'] / seconds;
  const perRequest = stats.texts / Math.max(1, stats.requests);
  const ideal = (rpm / 60) * 20;
  return [
    { section: 'quota', case: '200 clients @ 600/min', figure: 'texts/s', value: textsPerSecond, target: `>= ${0.9 * ideal}`, met: textsPerSecond >= 0.9 * ideal },
    { section: 'quota', case: '200 clients @ 600/min', figure: 'texts per upstream request', value: perRequest, target: '>= 18', met: perRequest >= 18 },
    { section: 'quota', case: '200 clients @ 600/min', figure: 'upstream requests', value: stats.requests },
    { section: 'quota', case: 'without batching', figure: 'texts/s', value: rpm / 60 },
  ];
}

/** Offered load at twice the limit for 20 s: how many upstream requests, how evenly spaced. */
export async function limiterAccuracy(upstream: Child): Promise<Row[]> {
  const rpm = 600;
  const spacing = 60_000 / rpm;
  const seconds = 20;
  const gateway = await startChild('gateway', DEPLOYED);
  await createEndpoint(gateway, upstream, 'paced', { rate_limit: { requests_per_minute: rpm } });
  // Each client request is one full batch (20 texts), so each is one upstream request.
  const body = { input: Array.from({ length: 20 }, (_, i) => `text ${i}`) };
  // Warm up first: a fresh process's first upstream request pays one-time costs (a new
  // connection, undici's parser) after its slot, and would arrive late, crowding the next.
  await load(`${gateway.url}/_inference/text_embedding/paced`, { connections: 1, seconds: 1, body });
  await sleep(spacing * 2);
  await upstream.ask('reset');
  await load(`${gateway.url}/_inference/text_embedding/paced`, { connections: 400, seconds, body, overallRate: (2 * rpm) / 60 });
  const times = await upstream.ask<number[]>('times');
  await gateway.stop();
  const t0 = times[0] ?? 0;
  const inWindow = times.filter((x) => x <= t0 + seconds * 1000);
  const allowed = Math.floor((seconds * 1000) / spacing) + 1;
  const accuracy = inWindow.length / allowed;
  const gaps = inWindow.slice(1).map((x, i) => x - inWindow[i]!);
  const minGap = gaps.length > 0 ? Math.min(...gaps) : 0;
  return [
    { section: 'limiter', case: '2x offered @ 600/min, 20 s', figure: 'upstream requests', value: inWindow.length },
    { section: 'limiter', case: '2x offered @ 600/min, 20 s', figure: 'allowed (+1)', value: allowed },
    { section: 'limiter', case: '2x offered @ 600/min, 20 s', figure: 'accuracy', value: accuracy, target: '0.98 .. 1.00', met: accuracy >= 0.98 && accuracy <= 1 },
    { section: 'limiter', case: '2x offered @ 600/min, 20 s', figure: 'smallest gap ms', value: minGap, target: `>= ${spacing - 2}`, met: minGap >= spacing - 2 },
  ];
}

/** A slow upstream and ten times the queue's capacity of concurrent clients: peak memory, and memory once drained. */
export async function memoryUnderOverload(upstream: Child): Promise<Row[]> {
  const capacity = 200; // waiting upstream requests per endpoint, lowered from 2000 to keep the client count loopback-friendly
  const gateway = await startChild('gateway', { ...DEPLOYED, BENCH_QUEUE_CAPACITY: String(capacity) }, ['--expose-gc']);
  await createEndpoint(gateway, upstream, 'flood', {});
  await fetch(`${gateway.url}/_inference/text_embedding/flood`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: 'warm up' }),
  });
  // Idle and drained are read the same way: eight idle seconds, a full collection after each,
  // so that both see a heap V8 has had the chance to shrink.
  const settle = async () => {
    let rss = 0;
    for (let i = 0; i < 8; i++) {
      await sleep(1000);
      rss = await gateway.ask<number>('gc');
    }
    return { rss, heapUsed: (await gateway.ask<NodeJS.MemoryUsage>('memory')).heapUsed };
  };
  const idle = await settle();
  await upstream.ask('delay', 200);
  let peak = idle.rss;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await gateway.ask<number>('rss'));
      await sleep(100);
    }
  })();
  const body = { input: Array.from({ length: 20 }, (_, i) => `flood text ${i}`) };
  const r = await load(`${gateway.url}/_inference/text_embedding/flood`, { connections: capacity * 10, seconds: 12, body });
  sampling = false;
  await sampler;
  await upstream.ask('delay', 0);
  const after = await settle();
  await gateway.stop();
  const mb = (x: number) => x / 1024 / 1024;
  const back = after.rss / idle.rss;
  return [
    { section: 'memory', case: `${capacity * 10} clients, queue ${capacity}`, figure: 'answers 2xx', value: r['2xx'] },
    { section: 'memory', case: `${capacity * 10} clients, queue ${capacity}`, figure: 'answers 429', value: r.statusCodeStats?.['429']?.count ?? 0 },
    { section: 'memory', case: `${capacity * 10} clients, queue ${capacity}`, figure: 'other failures', value: r.non2xx - (r.statusCodeStats?.['429']?.count ?? 0) + r.errors },
    { section: 'memory', case: 'idle', figure: 'RSS MB', value: mb(idle.rss) },
    { section: 'memory', case: 'idle', figure: 'heap used MB', value: mb(idle.heapUsed) },
    { section: 'memory', case: 'peak', figure: 'RSS MB', value: mb(peak), target: '< 300', met: mb(peak) < 300 },
    { section: 'memory', case: 'drained', figure: 'RSS MB', value: mb(after.rss) },
    { section: 'memory', case: 'drained', figure: 'heap used MB', value: mb(after.heapUsed) },
    { section: 'memory', case: 'drained / idle', figure: 'ratio', value: back, target: '<= 1.2', met: back <= 1.2 },
  ];
}
