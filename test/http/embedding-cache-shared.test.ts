// The embedding cache shared by several instances (docs/embedding-cache.md#identical-misses-on-several-instances):
// identical misses on several instances at the same moment cost one upstream text; an instance whose call fails or
// that dies hands the text over within a bound; without Redis every instance still answers.
import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { API_KEY, startApp, type TestApp } from '../helpers/app-harness.js';
import { createDatabase, OwnRedis, servicesAvailable } from '../helpers/backing-services.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';

/** A claim's lease, as docs/embedding-cache.md states it: what a dead instance's claim makes the others wait at most. */
const LEASE_MS = 3000;

/** `n` services with their own stores on one Redis of this test's own, each with endpoint `e` on the same upstream. */
async function cluster(t: Test, n: number) {
  const redis = await OwnRedis.start(t);
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const apps: TestApp[] = [];
  for (let i = 0; i < n; i++) {
    const s = await startApp(t, { EMBEDDING_CACHE_SIZE: '64mb', REDIS_URL: redis.url });
    const put = await s.request('PUT', '/_inference/text_embedding/e', {
      service: 'hugging_face',
      service_settings: {
        api_key: API_KEY,
        url: `${hf.url}/embed`,
        dimensions: 16,
        rate_limit: { requests_per_minute: 60_000 },
      },
    });
    t.equal(put.status, 200);
    apps.push(s);
  }
  const embed = (s: TestApp, input: string | string[], query = '') =>
    s.request('POST', `/_inference/text_embedding/e${query}`, { input });
  return { redis, hf, apps, embed };
}

const timed = async <T>(work: Promise<T>): Promise<[T, number]> => {
  const start = performance.now();
  const value = await work;
  return [value, performance.now() - start];
};

t.test('two instances on one PostgreSQL and one Redis share hits of an endpoint created once', async (t) => {
  if (!(await servicesAvailable(t, { postgres: true, redis: true }))) return;
  const redis = await OwnRedis.start(t);
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const env = {
    EMBEDDING_CACHE_SIZE: '64mb',
    DATABASE_URL: await createDatabase(t),
    REDIS_URL: redis.url,
    SECRETS_KEY: randomBytes(32).toString('base64'),
  };
  const [a, b] = [await startApp(t, env), await startApp(t, env)];
  const put = await a.request('PUT', '/_inference/text_embedding/e', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: `${hf.url}/embed`, dimensions: 16 },
  });
  t.equal(put.status, 200);
  const input = Array.from({ length: 100 }, (_, i) => `stored once ${i}`);
  const cold = await b.request('POST', '/_inference/text_embedding/e', { input });
  t.equal(cold.status, 200);
  t.equal(hf.texts.length, 100);
  await new Promise((r) => setTimeout(r, 200)); // the writes to Redis are not awaited by the request
  const warm = await a.request('POST', '/_inference/text_embedding/e', { input });
  t.equal(warm.body, cold.body, 'the same bytes');
  t.equal(hf.texts.length, 100, 'the other instance made no upstream call');
});

t.test('100 concurrent identical requests over three instances cost one upstream text', async (t) => {
  if (!(await servicesAvailable(t, { redis: true }))) return;
  const { hf, apps, embed } = await cluster(t, 3);
  hf.delayMs = 200;
  const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => embed(apps[i % 3]!, 'the one text')));
  t.ok(
    answers.every((a) => a.status === 200),
    'every request answered',
  );
  t.strictSame(answers[0]!.json, { text_embedding: [{ embedding: hf.vector('the one text') }] });
  t.ok(
    answers.every((a) => a.body === answers[0]!.body),
    'the same bytes everywhere',
  );
  t.strictSame(hf.texts, ['the one text'], 'one upstream text for the three instances');
});

t.test('three instances embedding the same 300 texts at once send each text once', async (t) => {
  if (!(await servicesAvailable(t, { redis: true }))) return;
  const { hf, apps, embed } = await cluster(t, 3);
  hf.delayMs = 100;
  const input = Array.from({ length: 300 }, (_, i) => `corpus chunk ${i}`);
  // Each instance gets the corpus in another order, as parallel re-indexing jobs would send it.
  const orders = [input, [...input].reverse(), [...input.slice(150), ...input.slice(0, 150)]];
  const answers = await Promise.all(apps.map((s, i) => embed(s, orders[i]!)));
  t.ok(answers.every((a) => a.status === 200));
  answers.forEach((a, i) =>
    t.strictSame(
      a.json.text_embedding.map((e: { embedding: number[] }) => e.embedding),
      orders[i]!.map((x) => hf.vector(x)),
      `instance ${i}: every vector in its input order`,
    ),
  );
  t.equal(hf.texts.length, 300, 'each text sent once in all');
  t.strictSame([...new Set(hf.texts)].sort(), [...input].sort());
});

t.test('a leader whose call fails hands its text to one of the waiting instances at once', async (t) => {
  if (!(await servicesAvailable(t, { redis: true }))) return;
  const { hf, apps, embed } = await cluster(t, 3);
  hf.delayMs = 600;
  // The first instance claims the text, and its request times out while the text is out.
  const leader = embed(apps[0]!, 'handed over', '?timeout=200ms');
  await new Promise((r) => setTimeout(r, 60));
  const [followers, elapsed] = await timed(
    Promise.all([embed(apps[1]!, 'handed over'), embed(apps[2]!, 'handed over')]),
  );
  t.equal((await leader).status, 408);
  for (const f of followers) t.strictSame(f.json, { text_embedding: [{ embedding: hf.vector('handed over') }] });
  t.strictSame(hf.texts, ['handed over', 'handed over'], "the leader's call, then one follower's, not two");
  // The failed leader let its claim go: the others did not wait for its lease to run out.
  t.ok(elapsed < LEASE_MS, `answered in ${Math.round(elapsed)} ms, before a lease of ${LEASE_MS} ms`);
});

t.test("an instance that died with a claim holds the others up to its claim's lease, not more", async (t) => {
  if (!(await servicesAvailable(t, { redis: true }))) return;
  const { redis, hf, apps, embed } = await cluster(t, 2);
  // Learn the endpoint's key scope from an entry it wrote (keys are `hf-gateway:embedding:<scope>:<sha256 of text>`).
  await embed(apps[0]!, 'warm-up');
  const client = new Redis(redis.url);
  t.teardown(() => client.disconnect());
  await new Promise((r) => setTimeout(r, 100));
  const [entry] = await client.keys('hf-gateway:embedding:*');
  const scope = entry!.slice('hf-gateway:embedding:'.length, entry!.lastIndexOf(':') + 1);
  const textKey = scope + createHash('sha256').update('orphaned text').digest('base64url');
  // What a killed instance leaves: its claim on a text, with nobody left to answer or renew it.
  await client.set(`hf-gateway:embedding-claim:${textKey}`, 'a dead instance', 'PX', LEASE_MS);
  const [answers, elapsed] = await timed(
    Promise.all([embed(apps[0]!, 'orphaned text'), embed(apps[1]!, 'orphaned text')]),
  );
  for (const a of answers) t.strictSame(a.json, { text_embedding: [{ embedding: hf.vector('orphaned text') }] });
  t.equal(
    hf.texts.filter((x) => x === 'orphaned text').length,
    1,
    'then one instance sends it, the other waits for it',
  );
  t.ok(elapsed > LEASE_MS - 500, `waited for the lease (${Math.round(elapsed)} ms)`);
  t.ok(elapsed < LEASE_MS + 1500, `and not much longer (${Math.round(elapsed)} ms)`);
});

t.test('a live leader renews its claim while its text waits longer than the lease', async (t) => {
  if (!(await servicesAvailable(t, { redis: true }))) return;
  const { hf, apps, embed } = await cluster(t, 2);
  hf.delayMs = LEASE_MS + 1500;
  const leader = embed(apps[0]!, 'slow text');
  await new Promise((r) => setTimeout(r, 100));
  const follower = embed(apps[1]!, 'slow text');
  const [a, b] = await Promise.all([leader, follower]);
  t.equal(a.status, 200);
  t.equal(b.body, a.body);
  t.strictSame(hf.texts, ['slow text'], 'the follower kept waiting: one upstream text');
});

t.test('with Redis gone, every instance still answers, and a waiting one does not wait out the lease', async (t) => {
  if (!(await servicesAvailable(t, { redis: true }))) return;
  const { redis, hf, apps, embed } = await cluster(t, 2);
  await embed(apps[0]!, 'warm-up');
  const client = new Redis(redis.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  await new Promise((r) => setTimeout(r, 100));
  const [entry] = await client.keys('hf-gateway:embedding:*');
  const scope = entry!.slice('hf-gateway:embedding:'.length, entry!.lastIndexOf(':') + 1);
  const textKey = scope + createHash('sha256').update('waiting text').digest('base64url');
  await client.set(`hf-gateway:embedding-claim:${textKey}`, 'another instance', 'PX', LEASE_MS);
  client.disconnect();
  // An instance waits for another's claim when Redis goes away: it sends the text itself.
  const waiting = timed(embed(apps[1]!, 'waiting text'));
  await new Promise((r) => setTimeout(r, 200));
  await redis.kill();
  const [res, elapsed] = await waiting;
  t.strictSame(res.json, { text_embedding: [{ embedding: hf.vector('waiting text') }] });
  t.ok(elapsed < LEASE_MS - 1000, `answered in ${Math.round(elapsed)} ms, without waiting out the lease`);

  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => embed(apps[i % 2]!, 'no redis')));
  t.ok(
    answers.every((a) => a.status === 200 && a.body === answers[0]!.body),
    'every request answered, the same bytes',
  );
  t.ok(
    hf.texts.filter((x) => x === 'no redis').length <= 2,
    'at most one upstream text per instance (each keeps its own calls under way)',
  );
});
