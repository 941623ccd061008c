// Endpoints idle for the live time give up their live state (queue, limiter) and open again on their next request:
// what a user can see of it is that nothing changes (answers, rate limit), and that the queue gauge goes
// (docs/performance.md#scale-100000-endpoints).
import t from 'tap';
import { hfBody, startApp, type Tap } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';
import { measureTiming } from '../helpers/timing.js';

const LIVE_IDLE_MS = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withUpstream(t: Tap) {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, {}, undefined, { liveIdleMs: LIVE_IDLE_MS });
  const put = async (id: string, serviceSettings: Record<string, unknown> = {}) => {
    const res = await s.request('PUT', `/_inference/text_embedding/${id}`, {
      ...hfBody({ url: `${hf.url}/embed`, dimensions: 16, ...serviceSettings }),
      chunking_settings: { strategy: 'none' },
    });
    if (res.status !== 200) throw new Error(`PUT ${id}: ${res.status} ${res.body}`);
  };
  const embed = (id: string, input = 'x') => s.request('POST', `/_inference/text_embedding/${id}`, { input });
  const queueLine = async (id: string) =>
    (await s.request('GET', '/_prometheus/metrics')).body
      .split('\n')
      .find((l) => l.startsWith(`hf_gateway_queue_depth{inference_id="${id}"`));
  return { hf, put, embed, queueLine };
}

t.test('an idle endpoint lets its queue go and opens it again on its next request', async (t) => {
  const { hf, put, embed, queueLine } = await withUpstream(t);
  await put('tenant');
  t.strictSame((await embed('tenant', 'one')).json, { text_embedding: [{ embedding: hf.vector('one') }] });
  // Its series stay for METRICS_IDLE_TIMEOUT (10 minutes); the gauge of its queue only while the queue is live.
  t.equal(
    await queueLine('tenant'),
    'hf_gateway_queue_depth{inference_id="tenant",task_type="text_embedding"} 0',
    'live after its request',
  );
  await sleep(LIVE_IDLE_MS * 6);
  t.equal(await queueLine('tenant'), undefined, 'idle past the live time: its queue is gone');
  t.strictSame(
    (await embed('tenant', 'two')).json,
    { text_embedding: [{ embedding: hf.vector('two') }] },
    'the next request opens it again',
  );
  t.equal(await queueLine('tenant'), 'hf_gateway_queue_depth{inference_id="tenant",task_type="text_embedding"} 0');
  t.strictSame(
    hf.received.map((r) => r.body.inputs),
    [['one'], ['two']],
  );
});

t.test('a request in flight longer than the live time keeps its endpoint live', async (t) => {
  const { hf, put, embed, queueLine } = await withUpstream(t);
  await put('slow');
  hf.next({ delayMs: LIVE_IDLE_MS * 8 });
  const answer = embed('slow', 'late');
  await sleep(LIVE_IDLE_MS * 6);
  t.equal(
    await queueLine('slow'),
    'hf_gateway_queue_depth{inference_id="slow",task_type="text_embedding"} 0',
    'still live while its request is out',
  );
  t.strictSame((await answer).json, { text_embedding: [{ embedding: hf.vector('late') }] });
});

t.test('an endpoint is not let go before its rate limit would grant again', async (t) => {
  const { hf, put, embed } = await withUpstream(t);
  // The gap is read where the upstream received the two requests: a stall of this process between the first grant
  // and its arrival narrows it by as much, so a miss is measured again (on an endpoint of its own) before it counts.
  let attempt = 0;
  await measureTiming(t, 'the gap between two paced requests', 10, async () => {
    const id = `paced${++attempt}`;
    // One upstream request every 600 ms: far longer than the live time, so a limiter made again would grant at once.
    await put(id, { rate_limit: { requests_per_minute: 100 } });
    const from = hf.received.length;
    const first = (await embed(id, 'first')).status;
    await sleep(LIVE_IDLE_MS * 4);
    const second = (await embed(id, 'second')).status;
    const gap = hf.received[from + 1]!.at - hf.received[from]!.at;
    const text = `the second upstream request waited out the interval: ${gap.toFixed(0)} ms after the first`;
    return {
      met: first === 200 && second === 200 && gap >= 590,
      text,
      check() {
        t.equal(first, 200);
        t.equal(second, 200);
        t.ok(gap >= 590, text);
      },
    };
  });
});
