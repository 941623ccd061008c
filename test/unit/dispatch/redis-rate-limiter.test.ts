// The Redis-shared rate limiter in one process, against a Redis of its own: one rate across "instances", a new rate at
// once, cancellation, and Redis losing its state.
import t, { type Test } from 'tap';
import { Cancellation } from '../../../src/cancellation.js';
import { LimiterStoppedError } from '../../../src/dispatch/rate-limiter.js';
import { EPOCH_KEY, limiterKey, RedisRateLimiters } from '../../../src/dispatch/redis-rate-limiter.js';
import { measureTiming } from '../../helpers/timing.js';
import { OwnRedis, servicesAvailable } from '../../helpers/backing-services.js';

const quiet = { warn: () => {}, info: () => {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two "instances": two connections, each with its own limiter for the same endpoint. */
async function twoInstances(t: Test, url: string, clusterSize = 2) {
  const instances = [
    new RedisRateLimiters({ url, clusterSize, log: quiet }),
    new RedisRateLimiters({ url, clusterSize, log: quiet }),
  ];
  t.teardown(() => Promise.all(instances.map((i) => i.close())));
  for (const i of instances) t.ok(await i.whenReady(5000), 'connected');
  return instances;
}

t.test('the shared limiter', async (t) => {
  if (!(await servicesAvailable(t, { redis: true }))) return; // redis-server must be installed
  const redis = await OwnRedis.start(t);
  let n = 0;
  const endpoint = () => `unit-${++n}`;

  t.test('the limiter id is inference:<inference_id>, and its clock lives under it', async (t) => {
    const [a] = await twoInstances(t, redis.url);
    const limiter = a!.factory('my-endpoint', 60_000);
    await limiter.acquire();
    t.equal(limiterKey('inference:my-endpoint'), 'rl:{inference:my-endpoint}:last');
    t.ok(Number(await a!.redis.get('rl:{inference:my-endpoint}:last')) > 0, 'the slot handed out is recorded');
    t.ok(Number(await a!.redis.get(EPOCH_KEY)) > 0, 'the epoch exists');
    await limiter.close();
  });

  t.test('two instances share one rate, evenly', async (t) => {
    const [a, b] = await twoInstances(t, redis.url);
    const id = endpoint();
    const limiters = [a!.factory(id, 1200), b!.factory(id, 1200)]; // 50 ms apart
    t.teardown(() => Promise.all(limiters.map((l) => l.close())));
    await sleep(800); // past the quarantine of a Redis that was just started
    // Each grant follows a Redis answer: a Redis descheduled on a loaded machine answers one instance late and moves
    // its grant as a stall of this process would, so its answer time is watched too (a PING every 5 ms beside them).
    await measureTiming(t, 'grants of two instances', 5, async () => {
      const grants: number[] = [];
      let pings = true;
      let slowestPing = 0;
      const pinging = (async () => {
        while (pings) {
          const sent = performance.now();
          await a!.redis.ping();
          slowestPing = Math.max(slowestPing, performance.now() - sent);
          await sleep(5);
        }
      })();
      await Promise.all(
        limiters.flatMap((l) =>
          Array.from({ length: 10 }, () => l.acquire().then(() => grants.push(performance.now()))),
        ),
      );
      pings = false;
      await pinging;
      grants.sort((x, y) => x - y);
      const span = grants[grants.length - 1]! - grants[0]!;
      const gaps = grants.slice(1).map((x, i) => x - grants[i]!);
      const ok = span >= 19 * 50 - 5 && Math.min(...gaps) >= 45;
      return {
        met: ok,
        otherStallMs: slowestPing,
        text: `20 grants over ${span.toFixed(0)} ms, smallest gap ${Math.min(...gaps).toFixed(1)} ms`,
        check: () => {
          t.ok(span >= 19 * 50 - 5, `20 grants take at least 19 intervals: ${span.toFixed(0)} ms`);
          t.ok(Math.min(...gaps) >= 45, `no two grants closer than 45 ms: ${Math.min(...gaps).toFixed(1)} ms`);
        },
      };
    });
  });

  t.test('a new rate applies at once, also to a request already waiting', async (t) => {
    const [a] = await twoInstances(t, redis.url);
    const limiter = a!.factory(endpoint(), 6); // one every 10 s
    t.teardown(() => limiter.close());
    await sleep(800);
    await limiter.acquire();
    const started = performance.now();
    const waiting = limiter.acquire();
    await sleep(100);
    limiter.setRate(60_000);
    await waiting;
    t.ok(
      performance.now() - started < 1000,
      `granted ${(performance.now() - started).toFixed(0)} ms later instead of 10 s`,
    );
  });

  t.test('a cancelled request is never granted; closing fails the rest', async (t) => {
    const [a] = await twoInstances(t, redis.url);
    const limiter = a!.factory(endpoint(), 60); // one a second
    await sleep(800);
    await limiter.acquire();
    const cancel = new Cancellation(Infinity);
    const cancelled = limiter.acquire(cancel);
    const reason = new Error('client went away');
    cancel.cancel(reason);
    await t.rejects(cancelled, reason);
    const stopped = (p: Promise<void>) =>
      p.then(
        () => 'granted',
        (err) => (err instanceof LimiterStoppedError ? 'stopped' : String(err)),
      );
    const pending = stopped(limiter.acquire());
    await limiter.close();
    t.equal(await pending, 'stopped', 'a waiting request fails with LimiterStoppedError');
    t.equal(await stopped(limiter.acquire()), 'stopped', 'closed for good');
  });

  t.test('Redis losing its state: each instance goes on at its share, then they share again', async (t) => {
    const [a, b] = await twoInstances(t, redis.url, 2);
    const id = endpoint();
    const limiters = [a!.factory(id, 600), b!.factory(id, 600)]; // 100 ms shared, 200 ms each alone
    t.teardown(() => Promise.all(limiters.map((l) => l.close())));
    await sleep(800);
    await Promise.all(limiters.map((l) => l.acquire()));
    await a!.redis.flushall(); // as a restart without persistence would
    const grants: Array<{ at: number; who: number }> = [];
    const start = performance.now();
    await Promise.all(
      limiters.flatMap((l, who) =>
        Array.from({ length: 12 }, () => l.acquire().then(() => grants.push({ at: performance.now() - start, who }))),
      ),
    );
    // During the quarantine (0.5 s + horizon + interval: 625 ms from the epoch's re-creation, which the first request
    // after the flush makes, at `start` or just after) each instance spaces its own grants 200 ms apart. Past 625 ms
    // the instances may share again (100 ms apart): only grants inside the quarantine for sure are read here.
    for (const who of [0, 1]) {
      const own = grants.filter((g) => g.who === who && g.at < 600).map((g) => g.at);
      const gaps = own.slice(1).map((x, i) => x - own[i]!);
      t.ok(
        gaps.every((g) => g >= 180),
        `instance ${who} alone: gaps ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`,
      );
    }
    const lastQuarter = grants.filter((g) => g.at >= 1200);
    t.ok(lastQuarter.length > 0, 'shared again after the quarantine');
    const inFirstSecond = grants.filter((g) => g.at < 1000).length;
    t.ok(
      inFirstSecond <= 10 + 1,
      `never above the rate: ${inFirstSecond} grants in the first second (10 allowed, +1 per other instance)`,
    );
    t.ok(Number(await a!.redis.get(EPOCH_KEY)) > 0, 'the epoch was recreated');
  });
});
