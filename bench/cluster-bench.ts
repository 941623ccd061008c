// The cluster benchmark: three instances on PostgreSQL and Redis — the global rate at twice the limit, through a Redis
// restart, and how fast changes reach every instance.
import crypto from 'node:crypto';
import { Cluster, measureSpacing, offerLoad, send, timeUntil } from '../test/helpers/cluster-harness.js';
import { NoiseMeter } from '../test/helpers/timing.js';
import {
  ADMIN_DATABASE_URL,
  freePort,
  makeDatabase,
  OwnRedis,
  postgresReachable,
} from '../test/helpers/backing-services.js';
import type { Row } from './load.js';

const RPM = 600;
const SECONDS = 12;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const embed = (base: string, id: string) =>
  fetch(`${base}/_inference/text_embedding/${id}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"input":"x"}',
  }).then(async (r) => {
    await r.arrayBuffer();
    return r.status;
  });

export async function clusterFigures(): Promise<Row[]> {
  const why = await postgresReachable(ADMIN_DATABASE_URL);
  if (why) {
    console.error(`cluster section skipped: PostgreSQL at ${ADMIN_DATABASE_URL} cannot be reached (${why})`);
    return [{ section: 'cluster', case: 'skipped: no PostgreSQL', figure: '-', value: 0 }];
  }
  // A Redis of its own (a free port), so that it can be restarted; the database is thrown away after.
  const redis = new OwnRedis(await freePort());
  await redis.start();
  const database = await makeDatabase();
  const cluster = await Cluster.start({
    owner: { teardown: () => undefined },
    size: 3,
    databaseUrl: database.url,
    redisUrl: redis.url,
  });
  const rows: Row[] = [];
  const row = (c: string, figure: string, value: number, target?: string, met?: boolean) =>
    rows.push({ section: 'cluster', case: c, figure, value, target, met });
  try {
    const bases = [0, 1, 2].map((i) => cluster.url(i));
    const run = crypto.randomBytes(3).toString('hex');

    // Twice the limit through all three.
    const id = `load-${run}`;
    await cluster.createEndpoint(0, id, RPM);
    for (const base of bases) await embed(base, id);
    await sleep(1500);
    await cluster.upstream.reset();
    const meter = new NoiseMeter().start();
    const steady = await offerLoad({
      bases,
      inferenceId: id,
      perSecond: (2 * RPM) / 60,
      seconds: SECONDS,
      graceMs: 1000,
    });
    const stall = meter.stop();
    const s = measureSpacing(
      (await cluster.upstream.received()).map((r) => r.at),
      RPM,
      SECONDS * 1000,
    );
    const c1 = `3 instances, 2x offered @ ${RPM}/min, ${SECONDS} s`;
    row(c1, 'upstream requests', s.count);
    row(c1, 'allowed (+1)', s.allowed);
    row(c1, 'accuracy', s.accuracy, '0.95 .. 1.00', s.accuracy >= 0.95 && s.accuracy <= 1);
    row(c1, 'smallest gap ms', s.minGap, '>= 90', s.minGap >= 90);
    row(c1, 'most in any 1 s', s.maxPerSecond);
    // Above ~10 ms the machine itself moves arrivals by more than the spacing figure's margin.
    row(c1, 'longest stall of the bench ms', stall);
    row(
      c1,
      'failed answers',
      steady.errors.length + steady.statuses.filter((x) => x !== 200).length,
      '= 0',
      steady.errors.length === 0 && steady.statuses.every((x) => x === 200),
    );

    // The same load with Redis killed at 4 s and back at 7 s.
    const rid = `restart-${run}`;
    await cluster.createEndpoint(0, rid, RPM);
    for (const base of bases) await embed(base, rid);
    await sleep(1500);
    await cluster.upstream.reset();
    const during = offerLoad({ bases, inferenceId: rid, perSecond: (2 * RPM) / 60, seconds: SECONDS, graceMs: 1000 });
    await sleep(4000);
    await redis.kill();
    await sleep(3000);
    await redis.start();
    const restarted = await during;
    const r = measureSpacing(
      (await cluster.upstream.received()).map((x) => x.at),
      RPM,
      SECONDS * 1000,
    );
    const c2 = `Redis killed at 4 s, back at 7 s`;
    row(c2, 'upstream requests', r.count);
    row(c2, 'allowed (+1)', r.allowed);
    row(c2, 'accuracy', r.accuracy, '<= 1.00 (+2 fenceposts)', r.count <= r.allowed + 2);
    row(
      c2,
      'most in any 1 s',
      r.maxPerSecond,
      `<= ${r.allowedPerSecond + 2}`,
      r.maxPerSecond <= r.allowedPerSecond + 2,
    );
    const failed = restarted.errors.length + restarted.statuses.filter((x) => x !== 200).length;
    row(c2, 'failed answers', failed, '= 0', failed === 0);
    await sleep(1000);

    // Changes made on instance 0, seen on instances 1 and 2.
    const [a, b, c] = bases as [string, string, string];
    const both = async (check: (base: string) => Promise<boolean>) => (await check(b)) && (await check(c));
    const cid = `created-${run}`;
    const created = await cluster.createEndpoint(0, cid, 60_000);
    await created.arrayBuffer();
    row(
      'create on one, served by the others',
      'ms',
      await timeUntil(() => both(async (x) => (await embed(x, cid)) === 200)),
      '< 1000',
    );
    await cluster.upstream.requireKey('hf_cluster_key_0');
    await both(async (x) => (await embed(x, cid)) === 200);
    await cluster.upstream.requireKey('hf_rotated');
    await (
      await send(a, 'PUT', `/_inference/${cid}/_update`, { service_settings: { api_key: 'hf_rotated' } })
    ).arrayBuffer();
    row(
      'key rotated on one, used by the others',
      'ms',
      await timeUntil(() => both(async (x) => (await embed(x, cid)) === 200)),
      '< 1000',
    );
    await cluster.upstream.requireKey(undefined);
    await (await send(a, 'DELETE', `/_inference/${cid}`)).arrayBuffer();
    row(
      'DELETE on one, refused by the others',
      'ms',
      await timeUntil(() => both(async (x) => (await embed(x, cid)) === 404)),
      '< 1000',
    );
    for (const x of rows.slice(-3)) x.met = x.value < 1000;
  } finally {
    await cluster.close();
    await redis.kill();
    await database.drop();
  }
  return rows;
}
