// Streaming benchmarks: time to the first event through the service and through a bare SSE proxy (fastify + undici)
// against the upstream called directly, and streams/s at 500 concurrent streams.
import { Agent, request } from 'undici';
import { startChild } from './children.js';
import { cpuSeconds, row, writeCalls, type Row } from './stats.js';

const DEPLOYED = { MALLOC_ARENA_MAX: '2' };
const CONCURRENT = 500;
const TOKENS = 20;

const UPSTREAM_BODY = JSON.stringify({
  messages: [{ role: 'user', content: 'hi' }],
  n: 1,
  stream: true,
  stream_options: { include_usage: true },
});
const GATEWAY_BODY = JSON.stringify({ input: 'hi' });

interface Target {
  url: string;
  body: string;
  agent: Agent;
}

/** One stream read to its end: ms until the first event's bytes arrived, and whether it ended with [DONE]. */
async function oneStream(target: Target): Promise<{ firstEventMs: number; ok: boolean }> {
  const started = performance.now();
  const res = await request(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: target.body,
    dispatcher: target.agent,
  });
  let firstEventMs = -1;
  let tail = '';
  for await (const chunk of res.body) {
    const text = (chunk as Buffer).toString('utf8');
    if (firstEventMs < 0 && text.includes('data:')) firstEventMs = performance.now() - started;
    tail = (tail + text).slice(-32);
  }
  return { firstEventMs, ok: res.statusCode === 200 && /data: ?\[DONE\]\n\n$/.test(tail) };
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

/** Streams/s with `concurrency` clients each opening stream after stream for `seconds`. */
async function throughput(
  target: Target,
  concurrency: number,
  seconds: number,
): Promise<{ perSecond: number; failed: number }> {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const r = await oneStream(target).catch(() => ({ ok: false }));
        if (r.ok) done++;
        else failed++;
      }
    }),
  );
  return { perSecond: done / ((performance.now() - started) / 1000), failed };
}

export async function streamingRows(): Promise<Row[]> {
  const upstream = await startChild('llm-upstream');
  const gateway = await startChild('gateway', DEPLOYED);
  const proxy = await startChild('passthrough', { UPSTREAM_URL: upstream.url, STREAM_URL: upstream.url });
  try {
    const put = await fetch(`${gateway.url}/_inference/completion/bench`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        service: 'hugging_face',
        service_settings: {
          api_key: 'hf_bench',
          url: `${upstream.url}/v1/chat/completions`,
          max_concurrent_streams: CONCURRENT,
          rate_limit: { requests_per_minute: 60_000_000 },
        },
      }),
    });
    if (put.status !== 200) throw new Error(`creating the endpoint: ${put.status} ${await put.text()}`);
    const direct: Target = {
      url: `${upstream.url}/v1/chat/completions`,
      body: UPSTREAM_BODY,
      agent: new Agent({ connections: CONCURRENT }),
    };
    const ours: Target = {
      url: `${gateway.url}/_inference/completion/bench/_stream`,
      body: GATEWAY_BODY,
      agent: new Agent({ connections: CONCURRENT }),
    };
    const bareProxy: Target = {
      url: `${proxy.url}/_inference/completion/bench/_stream`,
      body: GATEWAY_BODY,
      agent: new Agent({ connections: CONCURRENT }),
    };

    // Time to the first event, one stream at a time, alternating so that drift in the machine's speed falls on both
    // alike.
    await upstream.ask('shape', { tokenDelayMs: 0, count: TOKENS });
    for (let i = 0; i < 200; i++) {
      await oneStream(direct);
      await oneStream(bareProxy);
      await oneStream(ours);
    }
    // Five rounds of 200 alternating pairs; each round gives its own p50 and p99 difference.
    const added50: number[] = [];
    const added99: number[] = [];
    const direct50: number[] = [];
    const ours50: number[] = [];
    const proxy50: number[] = [];
    const proxyAdded50: number[] = [];
    const addedRatio: number[] = [];
    let ttfbFailures = 0;
    for (let round = 0; round < 5; round++) {
      const directTimes: number[] = [];
      const ourTimes: number[] = [];
      const proxyTimes: number[] = [];
      for (let i = 0; i < 200; i++) {
        const a = await oneStream(direct);
        // The proxy and the service take turns at going first after the direct call.
        let b, q;
        if (i % 2 === 0) {
          q = await oneStream(bareProxy);
          b = await oneStream(ours);
        } else {
          b = await oneStream(ours);
          q = await oneStream(bareProxy);
        }
        directTimes.push(a.firstEventMs);
        ourTimes.push(b.firstEventMs);
        proxyTimes.push(q.firstEventMs);
        if (!a.ok || !b.ok || !q.ok) ttfbFailures++;
      }
      const d = percentile(directTimes, 50);
      direct50.push(d);
      ours50.push(percentile(ourTimes, 50));
      proxy50.push(percentile(proxyTimes, 50));
      added50.push(percentile(ourTimes, 50) - d);
      proxyAdded50.push(percentile(proxyTimes, 50) - d);
      addedRatio.push((percentile(ourTimes, 50) - d) / (percentile(proxyTimes, 50) - d));
      added99.push(percentile(ourTimes, 99) - percentile(directTimes, 99));
    }

    // 500 concurrent streams of 20 tokens 5 ms apart (about 100 ms each at best), in rounds that
    // take turns: direct, through the service, through the bare proxy. Drift in the machine's speed falls on all alike.
    await upstream.ask('shape', { tokenDelayMs: 5, count: TOKENS });
    await throughput(ours, CONCURRENT, 2);
    await throughput(bareProxy, CONCURRENT, 2);
    const bare: number[] = [];
    const gated: number[] = [];
    const proxied: number[] = [];
    const ratios: number[] = [];
    const proxyRatios: number[] = [];
    const cpuPerStream: number[] = [];
    const proxyCpuPerStream: number[] = [];
    const writesPerStream: number[] = [];
    const proxyWritesPerStream: number[] = [];
    // The client's (this process's) and the upstream's CPU per stream in each of the three turns: what the middle
    // process competes with for the machine's cores.
    const around = { direct: [] as number[], ours: [] as number[], proxy: [] as number[] };
    const budget: number[] = [];
    let failed = 0;
    let peakOpen = 0;
    // The CPU time (user + system) and write system calls of the process in the middle (if any), the client's and the
    // upstream's CPU time, per stream: unlike streams/s, CPU time hardly moves with the machine's load.
    const costOf = async (target: Target, pid?: number) => {
      await upstream.ask('reset');
      const middle = () =>
        pid === undefined ? { cpu: 0, writes: 0 } : { cpu: cpuSeconds(pid), writes: writeCalls(pid) };
      const middleBefore = middle();
      const clientBefore = process.cpuUsage();
      const upstreamBefore = cpuSeconds(upstream.process.pid!);
      const result = await throughput(target, CONCURRENT, 4);
      const client = process.cpuUsage(clientBefore);
      const upstreamCpu = cpuSeconds(upstream.process.pid!) - upstreamBefore;
      const middleAfter = middle();
      const stats = await upstream.ask<{ requests: number; peakOpen: number }>('stats');
      return {
        ...result,
        peakOpen: stats.peakOpen,
        cpuMs: ((middleAfter.cpu - middleBefore.cpu) * 1000) / stats.requests,
        writes: (middleAfter.writes - middleBefore.writes) / stats.requests,
        aroundMs: ((client.user + client.system) / 1000 + upstreamCpu * 1000) / stats.requests,
      };
    };
    for (let i = 0; i < 5; i++) {
      const b = await costOf(direct);
      const g = await costOf(ours, gateway.process.pid);
      const q = await costOf(bareProxy, proxy.process.pid);
      peakOpen = Math.max(peakOpen, g.peakOpen);
      failed += g.failed;
      bare.push(b.perSecond);
      gated.push(g.perSecond);
      proxied.push(q.perSecond);
      ratios.push(g.perSecond / b.perSecond);
      proxyRatios.push(q.perSecond / b.perSecond);
      cpuPerStream.push(g.cpuMs);
      proxyCpuPerStream.push(q.cpuMs);
      writesPerStream.push(g.writes);
      proxyWritesPerStream.push(q.writes);
      around.direct.push(b.aroundMs);
      around.ours.push(g.aroundMs);
      around.proxy.push(q.aroundMs);
      // With the cores the three processes used in the service's turn (streams/s times their CPU per stream), the
      // service's CPU per stream at which 0.7 of direct's streams/s would fit beside the client and the upstream.
      const cores = (g.perSecond * (g.cpuMs + g.aroundMs)) / 1000;
      budget.push((cores * 1000) / (0.7 * b.perSecond) - g.aroundMs);
    }
    await direct.agent.close();
    await ours.agent.close();
    await bareProxy.agent.close();
    const c = `${CONCURRENT} concurrent`;
    return [
      row('streaming', 'first event, upstream direct', 'p50 ms', direct50),
      row('streaming', 'first event, through the service', 'p50 ms', ours50),
      row('streaming', 'first event, service - direct', 'added p50 ms', added50, { text: '<= 1', met: (v) => v <= 1 }),
      row('streaming', 'first event, service - direct', 'added p99 ms', added99),
      row('streaming', 'first event, through a bare proxy', 'p50 ms', proxy50),
      row('streaming', 'first event, bare proxy - direct', 'added p50 ms', proxyAdded50),
      row('streaming', 'first event, added: service / bare proxy', 'ratio of p50s', addedRatio, {
        text: '<= 1.3',
        met: (v) => v <= 1.3,
      }),
      row('streaming', 'first event, 3 x 1000 streams', 'failed streams', [ttfbFailures], {
        text: '= 0',
        met: (v) => v === 0,
      }),
      row('streaming', `${c}, upstream direct`, 'streams/s', bare),
      row('streaming', `${c}, upstream direct`, 'client + upstream CPU ms per stream', around.direct),
      row('streaming', `${c}, through the service`, 'streams/s', gated),
      row('streaming', `${c}, through the service`, 'open upstream at once (most)', [peakOpen]),
      row('streaming', `${c}, through the service`, 'service CPU ms per stream', cpuPerStream),
      row('streaming', `${c}, through the service`, 'service write calls per stream', writesPerStream),
      row('streaming', `${c}, through the service`, 'client + upstream CPU ms per stream', around.ours),
      row('streaming', `${c}, through the service`, 'service CPU ms per stream that 0.7 allows', budget),
      row('streaming', `${c}, through the service`, 'failed streams', [failed], { text: '= 0', met: (v) => v === 0 }),
      row('streaming', `${c}, through a bare proxy`, 'streams/s', proxied),
      row('streaming', `${c}, through a bare proxy`, 'proxy CPU ms per stream', proxyCpuPerStream),
      row('streaming', `${c}, through a bare proxy`, 'proxy write calls per stream', proxyWritesPerStream),
      row('streaming', `${c}, through a bare proxy`, 'client + upstream CPU ms per stream', around.proxy),
      row('streaming', `${c}, service / direct`, 'streams/s ratio', ratios, { text: '>= 0.7', met: (v) => v >= 0.7 }),
      row('streaming', `${c}, bare proxy / direct`, 'streams/s ratio', proxyRatios),
    ];
  } finally {
    await proxy.stop();
    await gateway.stop();
    await upstream.stop();
  }
}
