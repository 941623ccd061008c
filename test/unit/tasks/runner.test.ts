// The runner's live endpoints against changes that arrive while the store is being read: a slow read never brings back
// what a later change replaced or deleted.
import t from 'tap';
import { Cancellation } from '../../../src/cancellation.js';
import { localRateLimiters } from '../../../src/dispatch/rate-limiter.js';
import { DEFAULT_RETRY } from '../../../src/dispatch/retry.js';
import { EndpointChanges } from '../../../src/endpoints/changes.js';
import { errors, EsError } from '../../../src/errors.js';
import { createHuggingFaceService } from '../../../src/services/hugging-face/hugging-face-service.js';
import type { BoundEndpoint } from '../../../src/services/inference-service.js';
import { HttpTransport } from '../../../src/services/upstream/http-transport.js';
import { UpstreamGuard } from '../../../src/services/upstream/upstream-guard.js';
import { InferenceRunner } from '../../../src/tasks/runner.js';
import type { Tap } from '../../helpers/app-harness.js';
import { FakeHuggingFace } from '../../helpers/fake-hf.js';

/** A store read the test answers when it chooses. */
interface HeldRead {
  answer(endpoint: BoundEndpoint | EsError): void;
}

async function setup(t: Tap) {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const transport = new HttpTransport({
    connectionsPerOrigin: 8,
    maxResponseBytes: 1 << 20,
    connectTimeoutMs: 1000,
    callTimeoutMs: 5000,
    guard: new UpstreamGuard([]),
  });
  t.teardown(() => transport.close());
  const service = createHuggingFaceService({
    transport,
    hfApiBase: 'http://hf.test',
    hfRouterBase: 'http://router.test',
    upstreamTimeoutMs: 5000,
  });
  const bound = (apiKey: string) =>
    service.bind({
      inferenceId: 'e',
      taskType: 'text_embedding',
      serviceSettings: { url: `${hf.url}/embed`, rate_limit: { requests_per_minute: 60_000 } },
      secrets: { api_key: apiKey },
      taskSettings: {},
      chunking: { strategy: 'none' },
    });
  const reads: HeldRead[] = [];
  const changes = new EndpointChanges();
  const runner = new InferenceRunner({
    registry: {
      resolve: () =>
        new Promise<BoundEndpoint>((resolve, reject) => {
          reads.push({ answer: (e) => (e instanceof EsError ? reject(e) : resolve(e)) });
        }),
    },
    changes,
    limiters: localRateLimiters,
    retry: DEFAULT_RETRY,
    queueCapacity: undefined,
    maxInflight: 8,
  });
  t.teardown(() => runner.close());
  const embed = (text: string) =>
    runner.infer({
      inferenceId: 'e',
      taskType: undefined,
      body: { input: text },
      query: {},
      path: '/_inference/e',
      lifetime: new Cancellation(Date.now() + 5000),
    });
  /** Resolves once the runner has asked the store `n` times in all. */
  const readsAsked = async (n: number) => {
    const until = Date.now() + 2000;
    while (reads.length < n) {
      if (Date.now() > until) throw new Error(`the store was read ${reads.length} times, not ${n}`);
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  return { hf, bound, reads, readsAsked, changes, embed };
}

t.test(
  'a key rotated while the first request reads the endpoint: the read is done again, the new key used',
  async (t) => {
    const { hf, bound, reads, readsAsked, changes, embed } = await setup(t);
    const first = embed('one');
    await readsAsked(1);
    changes.publish({ kind: 'updated', inferenceId: 'e' });
    reads[0]!.answer(bound('hf_old'));
    await readsAsked(2);
    reads[1]!.answer(bound('hf_new'));
    await first;
    t.equal(hf.received[0]!.headers.authorization, 'Bearer hf_new');
  },
);

t.test(
  'an endpoint deleted while the first request reads it: that request gets the 404, nothing is sent',
  async (t) => {
    const { hf, bound, reads, readsAsked, changes, embed } = await setup(t);
    const first = embed('one');
    await readsAsked(1);
    changes.publish({ kind: 'deleted', inferenceId: 'e' });
    reads[0]!.answer(bound('hf_key'));
    await readsAsked(2);
    reads[1]!.answer(errors.endpointNotFound('e'));
    const failure = await first.then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(
      failure instanceof EsError && failure.status === 404 && failure.reason === 'Inference endpoint not found [e]',
      'a 404',
    );
    t.equal(hf.received.length, 0);
  },
);

t.test('two updates whose reads come back in the wrong order: the later change wins', async (t) => {
  const { hf, bound, reads, readsAsked, changes, embed } = await setup(t);
  const first = embed('one');
  await readsAsked(1);
  reads[0]!.answer(bound('hf_k1'));
  await first;
  changes.publish({ kind: 'updated', inferenceId: 'e' });
  changes.publish({ kind: 'updated', inferenceId: 'e' });
  await readsAsked(3);
  reads[2]!.answer(bound('hf_k3'));
  await new Promise((r) => setImmediate(r));
  reads[1]!.answer(bound('hf_k2'));
  await new Promise((r) => setImmediate(r));
  await embed('two');
  t.equal(hf.received.at(-1)!.headers.authorization, 'Bearer hf_k3');
});

t.test('requests that find an endpoint cold share one read of it', async (t) => {
  const { bound, reads, readsAsked, embed } = await setup(t);
  const all = Promise.all(Array.from({ length: 10 }, (_, i) => embed(`text ${i}`)));
  await readsAsked(1);
  await new Promise((r) => setTimeout(r, 20));
  t.equal(reads.length, 1, 'one read for ten requests');
  reads[0]!.answer(bound('hf_key'));
  t.equal((await all).length, 10);
});
