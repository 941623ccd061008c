// Load benchmarks over loopback: gateway overhead, quota efficiency, limiter accuracy, memory under overload. Every
// figure is the median of several runs.
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { startChild, type Child } from './children.js';
import { cpuSeconds, currentRss, peakRss, row, type Row } from './stats.js';

export type { Row } from './stats.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The environment the service runs with as shipped (npm start, the Dockerfile). */
const DEPLOYED = { MALLOC_ARENA_MAX: '2' };

/**
 * An endpoint on the test upstream. Everything not given is the default a user gets (sentence
 * chunking, batch size 20, 8 requests in flight), except the rate limit where a section says.
 */
async function createEndpoint(
  gateway: Child,
  upstream: Child,
  id: string,
  serviceSettings: Record<string, unknown>,
): Promise<void> {
  const res = await fetch(`${gateway.url}/_inference/text_embedding/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      service: 'hugging_face',
      service_settings: { api_key: 'hf_bench', url: `${upstream.url}/embed`, dimensions: 384, ...serviceSettings },
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

/**
 * Sequential requests over one keep-alive connection, timed with the high-resolution clock
 * (autocannon's histogram keeps whole milliseconds): the mean latency in milliseconds.
 */
async function meanLatency(base: string, body: string, count: number): Promise<number> {
  const pool = new Pool(base, { connections: 1 });
  const path = '/_inference/text_embedding/open';
  const once = async () => {
    const res = await pool.request({ path, method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`latency run: ${res.statusCode}`);
  };
  for (let i = 0; i < 200; i++) await once();
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await once();
  const ms = Number(process.hrtime.bigint() - started) / 1e6 / count;
  await pool.close();
  return ms;
}

/**
 * The service against the least code that does its job, on the same upstream, in rounds that put the passthrough on
 * either side of the service so that drift in the machine's speed falls on both alike: at 32 connections req/s, p99 and
 * CPU per answer as ratios within each round; at one connection the mean latency the service adds.
 */
export async function gatewayOverhead(upstream: Child, runs = 5): Promise<Row[]> {
  const passthrough = await startChild('passthrough', { UPSTREAM_URL: upstream.url });
  const gateway = await startChild('gateway', DEPLOYED);
  // The user's defaults, except the rate limit: 3000/min would make this a test of the limiter.
  await createEndpoint(gateway, upstream, 'open', { rate_limit: { requests_per_minute: 60_000_000 } });
  const body = { input: 'a short query' };
  const url = (base: string) => `${base}/_inference/text_embedding/open`;
  await load(url(passthrough.url), { connections: 32, seconds: 2, body });
  await load(url(gateway.url), { connections: 32, seconds: 2, body });
  const bare = { rps: [] as number[], p99: [] as number[], cpu: [] as number[] };
  const ours = { rps: [] as number[], p99: [] as number[], upstream: [] as number[], cpu: [] as number[], failed: 0 };
  const rpsRatio: number[] = [];
  const p99Ratio: number[] = [];
  const cpuRatio: number[] = [];
  /** One stretch of load on `child`: what it answered, how long it took, and the CPU time its process spent. */
  const stretch = async (child: Child, seconds: number) => {
    await upstream.ask('reset');
    const cpuBefore = cpuSeconds(child.process.pid!);
    const r = await load(url(child.url), { connections: 32, seconds, body });
    const cpu = cpuSeconds(child.process.pid!) - cpuBefore;
    const stats = await upstream.ask<Stats>('stats');
    return { r, cpu, upstreamRequests: stats.requests };
  };
  for (let i = 0; i < runs; i++) {
    // Each round is passthrough 1.5 s, gateway 3 s, passthrough 1.5 s: both get 3 s, centred on the same moment, so that
    // a drift in the machine's speed across the round (other load rising or falling) falls on both alike. A round of
    // passthrough 3 s then gateway 3 s gave the gateway whatever the host did in the second half (docs/performance.md,
    // "Rounds centred on the same moment").
    const before = await stretch(passthrough, 1.5);
    const g = await stretch(gateway, 3);
    const after = await stretch(passthrough, 1.5);
    const p = {
      answered: before.r.requests.total + after.r.requests.total,
      ok: before.r['2xx'] + after.r['2xx'],
      seconds: before.r.duration + after.r.duration,
      cpu: before.cpu + after.cpu,
      // The two halves' p99s, averaged: the pair's own percentile is not kept by autocannon.
      p99: (before.r.latency.p99 + after.r.latency.p99) / 2,
    };
    const bareRps = p.answered / p.seconds;
    const ourRps = g.r.requests.total / g.r.duration;
    bare.rps.push(bareRps);
    bare.p99.push(p.p99);
    bare.cpu.push((p.cpu * 1000) / p.ok);
    ours.rps.push(ourRps);
    ours.p99.push(g.r.latency.p99);
    ours.upstream.push(g.upstreamRequests / g.r.requests.total);
    ours.cpu.push((g.cpu * 1000) / g.r['2xx']);
    ours.failed += g.r.non2xx + g.r.errors;
    rpsRatio.push(ourRps / bareRps);
    p99Ratio.push(g.r.latency.p99 / p.p99);
    cpuRatio.push(ours.cpu[i]! / bare.cpu[i]!);
  }
  const oneText = JSON.stringify(body);
  const added: number[] = [];
  const bareMean: number[] = [];
  const ourMean: number[] = [];
  for (let i = 0; i < runs; i++) {
    const b = await meanLatency(passthrough.url, oneText, 2000);
    const o = await meanLatency(gateway.url, oneText, 2000);
    bareMean.push(b);
    ourMean.push(o);
    added.push(o - b);
  }
  await passthrough.stop();
  await gateway.stop();
  const c32 = '32 connections, one short text';
  return [
    row('overhead', `passthrough, ${c32}`, 'req/s', bare.rps),
    row('overhead', `passthrough, ${c32}`, 'p99 ms', bare.p99),
    row('overhead', `gateway, ${c32}`, 'req/s', ours.rps),
    row('overhead', `gateway, ${c32}`, 'p99 ms', ours.p99),
    row('overhead', `passthrough, ${c32}`, 'CPU ms per answer', bare.cpu),
    row('overhead', `gateway, ${c32}`, 'CPU ms per answer', ours.cpu),
    row('overhead', `gateway, ${c32}`, 'upstream requests per answer', ours.upstream),
    row('overhead', `gateway, ${c32}`, 'failed answers', [ours.failed], { text: '= 0', met: (v) => v === 0 }),
    row('overhead', 'gateway / passthrough, 32 connections', 'req/s ratio', rpsRatio, {
      text: '>= 1.2',
      met: (v) => v >= 1.2,
    }),
    row('overhead', 'gateway / passthrough, 32 connections', 'req/s ratio, lowest round', [Math.min(...rpsRatio)], {
      text: '>= 1.2',
      met: (v) => v >= 1.2,
    }),
    row('overhead', 'gateway / passthrough, 32 connections', 'CPU per answer ratio', cpuRatio, {
      text: '<= 0.8',
      met: (v) => v <= 0.8,
    }),
    row('overhead', 'gateway / passthrough, 32 connections', 'p99 ratio', p99Ratio, {
      text: '<= 1.0',
      met: (v) => v <= 1.0,
    }),
    row('overhead', 'passthrough, 1 connection', 'mean latency ms', bareMean),
    row('overhead', 'gateway, 1 connection', 'mean latency ms', ourMean),
    row('overhead', 'gateway - passthrough, 1 connection', 'added mean latency ms', added, {
      text: '<= 0.2',
      met: (v) => v <= 0.2,
    }),
  ];
}

/**
 * 200 clients with one short text each against 600/min: texts/s and how many texts each
 * upstream request carries, with cross-request batching and, measured the same way, without it
 * (batch_size 1: one text per upstream request, as Elasticsearch sends them).
 */
export async function quotaEfficiency(upstream: Child, runs = 3): Promise<Row[]> {
  const rpm = 600;
  const seconds = 8;
  const gateway = await startChild('gateway', DEPLOYED);
  await createEndpoint(gateway, upstream, 'quota', { rate_limit: { requests_per_minute: rpm } });
  await createEndpoint(gateway, upstream, 'single', { rate_limit: { requests_per_minute: rpm }, batch_size: 1 });
  const measure = async (id: string) => {
    await upstream.ask('reset');
    const r = await load(`${gateway.url}/_inference/text_embedding/${id}`, {
      connections: 200,
      seconds,
      body: { input: 'one short text' },
    });
    const stats = await upstream.ask<Stats>('stats');
    // Let the queue drain before the next run, so runs do not inherit each other's backlog.
    await sleep(2000);
    return { textsPerSecond: r['2xx'] / seconds, perRequest: stats.texts / Math.max(1, stats.requests) };
  };
  const batched = [];
  const single = [];
  for (let i = 0; i < runs; i++) {
    batched.push(await measure('quota'));
    single.push(await measure('single'));
  }
  await gateway.stop();
  const ideal = (rpm / 60) * 20;
  const kase = `200 clients @ ${rpm}/min`;
  return [
    row(
      'quota',
      kase,
      'texts/s',
      batched.map((r) => r.textsPerSecond),
      { text: `>= ${0.9 * ideal}`, met: (v) => v >= 0.9 * ideal },
    ),
    row(
      'quota',
      kase,
      'texts per upstream request',
      batched.map((r) => r.perRequest),
      { text: '>= 18', met: (v) => v >= 18 },
    ),
    row(
      'quota',
      `${kase}, without batching (batch_size 1)`,
      'texts/s',
      single.map((r) => r.textsPerSecond),
    ),
    row(
      'quota',
      `${kase}, without batching (batch_size 1)`,
      'texts per upstream request',
      single.map((r) => r.perRequest),
    ),
  ];
}

/** Offered load at twice the limit: how many upstream requests, how evenly spaced, in several runs. */
export async function limiterAccuracy(upstream: Child, runs = 3): Promise<Row[]> {
  const rpm = 600;
  const spacing = 60_000 / rpm;
  const seconds = 10;
  const gateway = await startChild('gateway', DEPLOYED);
  await createEndpoint(gateway, upstream, 'paced', { rate_limit: { requests_per_minute: rpm } });
  // Each client request is one full batch (20 texts), so each is one upstream request.
  const body = { input: Array.from({ length: 20 }, (_, i) => `text ${i}`) };
  // Warm up first: a fresh process's first upstream request pays one-time costs (a new
  // connection, undici's parser) after its slot, and would arrive late, crowding the next.
  await load(`${gateway.url}/_inference/text_embedding/paced`, { connections: 1, seconds: 1, body });
  const accuracy: number[] = [];
  const minGap: number[] = [];
  for (let i = 0; i < runs; i++) {
    await sleep(spacing * 2);
    await upstream.ask('reset');
    await load(`${gateway.url}/_inference/text_embedding/paced`, {
      connections: 400,
      seconds,
      body,
      overallRate: (2 * rpm) / 60,
    });
    const times = await upstream.ask<number[]>('times');
    const t0 = times[0] ?? 0;
    const inWindow = times.filter((x) => x <= t0 + seconds * 1000);
    accuracy.push(inWindow.length / (Math.floor((seconds * 1000) / spacing) + 1));
    const gaps = inWindow.slice(1).map((x, k) => x - inWindow[k]!);
    minGap.push(gaps.length > 0 ? Math.min(...gaps) : 0);
    // Requests of clients that left are dropped from the queue; a pause keeps runs apart.
    await sleep(2000);
  }
  await gateway.stop();
  const kase = `2x offered @ ${rpm}/min, ${seconds} s`;
  return [
    row('limiter', kase, 'upstream requests / allowed (+1)', accuracy, {
      text: '0.98 .. 1.00',
      met: (v) => v >= 0.98 && v <= 1,
    }),
    row('limiter', kase, 'smallest gap ms (at the upstream)', minGap, {
      text: `>= ${spacing - 2}`,
      met: (v) => v >= spacing - 2,
    }),
  ];
}

/**
 * A slow upstream and ten times the queue's capacity of concurrent clients, each run in a fresh
 * service process: the kernel's high-water mark of its memory (VmHWM), and its memory once
 * drained against idle.
 */
export async function memoryUnderOverload(upstream: Child, runs = 3): Promise<Row[]> {
  const capacity = 200; // waiting upstream requests per endpoint, lowered from 2000 to keep the client count loopback-friendly
  const peaks: number[] = [];
  const idles: number[] = [];
  const drained: number[] = [];
  const ratios: number[] = [];
  const heapIdle: number[] = [];
  const heapDrained: number[] = [];
  let answered = { ok: 0, rejected: 0, other: 0 };
  for (let i = 0; i < runs; i++) {
    const gateway = await startChild('gateway', { ...DEPLOYED, BENCH_QUEUE_CAPACITY: String(capacity) }, [
      '--expose-gc',
    ]);
    const pid = gateway.process.pid!;
    await createEndpoint(gateway, upstream, 'flood', {});
    await fetch(`${gateway.url}/_inference/text_embedding/flood`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'warm up' }),
    });
    // Idle and drained are read the same way: eight idle seconds, a full collection after each,
    // so that both see a heap V8 has had the chance to shrink.
    const settle = async () => {
      for (let k = 0; k < 8; k++) {
        await sleep(1000);
        await gateway.ask<number>('gc');
      }
      return { rss: currentRss(pid), heapUsed: (await gateway.ask<NodeJS.MemoryUsage>('memory')).heapUsed };
    };
    const idle = await settle();
    await upstream.ask('delay', 200);
    const body = { input: Array.from({ length: 20 }, (_, k) => `flood text ${k}`) };
    const r = await load(`${gateway.url}/_inference/text_embedding/flood`, {
      connections: capacity * 10,
      seconds: 12,
      body,
    });
    await upstream.ask('delay', 0);
    const after = await settle();
    peaks.push(peakRss(pid));
    await gateway.stop();
    const rejected = r.statusCodeStats?.['429']?.count ?? 0;
    answered = {
      ok: answered.ok + r['2xx'],
      rejected: answered.rejected + rejected,
      other: answered.other + r.non2xx - rejected + r.errors,
    };
    idles.push(idle.rss);
    drained.push(after.rss);
    ratios.push(after.rss / idle.rss);
    heapIdle.push(idle.heapUsed);
    heapDrained.push(after.heapUsed);
  }
  const mb = (xs: number[]) => xs.map((x) => x / 1024 / 1024);
  const kase = `${capacity * 10} clients, queue ${capacity}`;
  return [
    row('memory', kase, 'answers 2xx (all runs)', [answered.ok]),
    row('memory', kase, 'answers 429 (all runs)', [answered.rejected]),
    row('memory', kase, 'other failures (all runs)', [answered.other], { text: '= 0', met: (v) => v === 0 }),
    row('memory', 'idle', 'RSS MB', mb(idles)),
    row('memory', 'idle', 'heap used MB', mb(heapIdle)),
    row('memory', kase, 'peak RSS MB (VmHWM)', mb(peaks), { text: '< 300', met: (v) => v < 300 }),
    row('memory', 'drained', 'RSS MB', mb(drained)),
    row('memory', 'drained', 'heap used MB', mb(heapDrained)),
    row('memory', 'drained / idle', 'RSS ratio', ratios, { text: '<= 1.2', met: (v) => v <= 1.2 }),
  ];
}
