// Faults of the shared infrastructure: Redis restarting under load or absent, PostgreSQL stopping, notifications
// missed, an instance killed mid-write.
// Each fault is done to a server this test starts itself; the shared ones on the standard ports are never stopped.
import crypto from 'node:crypto';
import t from 'tap';
import { Cluster, measureSpacing, offerLoad, send, timeUntil } from '../helpers/cluster-harness.js';
import { measureTiming } from '../helpers/timing.js';
import { startServer } from '../helpers/process.js';
import {
  canRunOwnPostgres,
  createDatabase,
  freePort,
  OwnPostgres,
  OwnRedis,
  runAlone,
  servicesAvailable,
  sql,
  TEST_REDIS_URL,
} from '../helpers/backing-services.js';
import { UpstreamProcess } from '../helpers/upstream-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = crypto.randomBytes(3).toString('hex');
const embed = (base: string, id: string) =>
  fetch(`${base}/_inference/text_embedding/${id}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: 'hi' }),
  }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));
const logLines = (lines: string[]) =>
  lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as { level: number; msg: string }];
    } catch {
      return [];
    }
  });

t.test('a Redis restart under twice the limit: the global rate stays within it, and no request fails', async (t) => {
  if (!(await servicesAvailable(t, { postgres: true }))) return;
  await runAlone(t, 'cluster-timing');
  const redis = await OwnRedis.start(t);
  const cluster = await Cluster.start({ owner: t, size: 3, databaseUrl: await createDatabase(t), redisUrl: redis.url });
  t.teardown(() => cluster.close());
  const rpm = 600;
  const id = `restart-${run}`;
  t.equal((await cluster.createEndpoint(0, id, rpm)).status, 200);
  const bases = [0, 1, 2].map((i) => cluster.url(i));
  for (const base of bases) t.equal((await embed(base, id)).status, 200);
  const seconds = 12;
  let restarts = 0;
  // Arrival counts in short windows carry the machine's scheduling noise: same rule as the spacing figure.
  await measureTiming(t, 'rate through a Redis restart', 10, async () => {
    await sleep(1500);
    await cluster.upstream.reset();
    const load = offerLoad({ bases, inferenceId: id, perSecond: (2 * rpm) / 60, seconds, graceMs: 1000 });
    await sleep(4000);
    await redis.kill(); // a crash: every reservation and the epoch are gone
    await sleep(3000);
    await redis.start();
    restarts++;
    const answers = await load;
    const s = measureSpacing(
      (await cluster.upstream.received()).map((r) => r.at),
      rpm,
      seconds * 1000,
    );
    const failures = answers.errors.length + answers.statuses.filter((x) => x !== 200).length;
    // While Redis is away each instance spaces its own share (rate / 3) from its own last grant.
    // The three schedules are not aligned with each other, so a window may hold one request more
    // per other instance than perfect spacing would (a fencepost each), never more.
    return {
      met:
        s.count <= s.allowed + 2 &&
        s.maxPerSecond <= s.allowedPerSecond + 2 &&
        s.count >= 0.8 * s.allowed &&
        failures === 0,
      text: `restart at 4 s, back at 7 s: ${s.count} upstream requests of ${s.allowed} allowed, most in one second ${s.maxPerSecond} (${s.allowedPerSecond} at perfect spacing), smallest gap ${s.minGap.toFixed(1)} ms, ${failures} failed`,
      check: () => {
        t.ok(
          s.count <= s.allowed + 2,
          `within the limit over the run: ${s.count} for ${s.allowed} allowed at perfect spacing`,
        );
        t.ok(
          s.maxPerSecond <= s.allowedPerSecond + 2,
          `at most ${s.allowedPerSecond + 2} in any one second: ${s.maxPerSecond}`,
        );
        t.ok(s.count >= 0.8 * s.allowed, `the restart cost little throughput: ${s.count} of ${s.allowed}`);
        t.strictSame(answers.errors, [], 'no network failure');
        t.strictSame(
          [...new Set(answers.statuses)],
          [200],
          `every answered request succeeded (${answers.statuses.length} answered, ${answers.unanswered} still queued)`,
        );
      },
    };
  });
  for (const [i, instance] of cluster.instances.entries()) {
    const lines = logLines(instance.stdout).filter((l) => /^Redis at /.test(l.msg));
    const once = [
      "Redis at URL cannot be reached: each endpoint's rate limit falls back to requests_per_minute / 3 in this instance until it is back",
      'Redis at URL is back: rate limits are shared by every instance again',
    ];
    t.strictSame(
      lines.map((l) => l.msg.replace(redis.url, 'URL')),
      Array.from({ length: restarts }, () => once).flat(),
      `instance ${i} logged the fallback once and the return once per restart (${restarts})`,
    );
  }
});

t.test(
  'Redis absent: requests_per_minute / CLUSTER_SIZE locally, logged once; shared again when Redis comes',
  async (t) => {
    if (!(await servicesAvailable(t, { postgres: true }))) return;
    await runAlone(t, 'cluster-timing');
    const port = await freePort();
    const redis = new OwnRedis(port);
    t.teardown(() => redis.kill());
    const upstream = await UpstreamProcess.start();
    t.teardown(() => upstream.close());
    const server = await startServer(t, {
      DATABASE_URL: await createDatabase(t),
      REDIS_URL: redis.url,
      CLUSTER_SIZE: '4',
      SECRETS_KEY: crypto.randomBytes(32).toString('base64'),
      DATA_DIR: t.testdir(),
    });
    t.teardown(() => {
      server.child.kill('SIGKILL');
    });
    const id = `absent-${run}`;
    const created = await send(server.url, 'PUT', `/_inference/text_embedding/${id}`, {
      service: 'hugging_face',
      // 1200/min: 50 ms apart when shared, 200 ms apart as one instance of four. batch_size 1: one request, one
      // upstream call.
      service_settings: {
        api_key: 'hf_cluster_key_x',
        url: `${upstream.url}/embed`,
        dimensions: upstream.dims,
        batch_size: 1,
        rate_limit: { requests_per_minute: 1200 },
      },
      chunking_settings: { strategy: 'none' },
    });
    t.equal(created.status, 200);
    const gapsOf = async (count: number) => {
      await upstream.reset();
      const answers = await Promise.all(Array.from({ length: count }, () => embed(server.url, id)));
      t.strictSame([...new Set(answers.map((a) => a.status))], [200]);
      const times = (await upstream.received()).map((r) => r.at).sort((a, b) => a - b);
      return times.slice(1).map((x, i) => x - times[i]!);
    };
    // 10% of scheduling noise allowed, as for the shared spacing (90 ms at 100 ms).
    const gapFigures = (gaps: number[], low: number, high: number, what: string) => ({
      met: Math.min(...gaps) >= low && Math.max(...gaps) < high,
      text: `${what}: gaps ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`,
      check: () =>
        t.ok(
          Math.min(...gaps) >= low && Math.max(...gaps) < high,
          `${what}: gaps ${gaps.map((g) => g.toFixed(0)).join(', ')} ms, within ${low}..${high}`,
        ),
    });
    await measureTiming(t, 'local fallback', 20, async () =>
      gapFigures(await gapsOf(6), 180, 260, 'without Redis, a quarter of the rate'),
    );
    const warnings = () =>
      logLines(server.stdout).filter((l) => /^Redis at .* (cannot be reached|is not reachable yet)/.test(l.msg));
    t.equal(
      logLines(server.stdout).filter((l) => /^Redis at .* cannot be reached/.test(l.msg)).length,
      1,
      'the fallback is logged once, however many attempts fail',
    );
    t.ok(warnings().length >= 1);

    await redis.start();
    const back = await timeUntil(
      async () => logLines(server.stdout).some((l) => /^Redis at .* is back/.test(l.msg)),
      5000,
    );
    t.ok(back < 5000, `it noticed Redis after ${back.toFixed(0)} ms`);
    // Past the quarantine of a Redis that has no state yet.
    await sleep(1000);
    await measureTiming(t, 'shared again', 5, async () =>
      gapFigures(await gapsOf(6), 45, 150, 'shared again at the full rate'),
    );
  },
);

t.test(
  'PostgreSQL stopped: clear 503 answers, live endpoints still served, no crash, and back when it returns',
  async (t) => {
    if (!canRunOwnPostgres()) {
      t.pass('PostgreSQL server programs cannot run here (not installed, or no switching to the postgres user)', {
        skip: 'no initdb to run',
      });
      return;
    }
    const own = await OwnPostgres.start(t);
    const upstream = await UpstreamProcess.start();
    t.teardown(() => upstream.close());
    const server = await startServer(t, {
      DATABASE_URL: own.url,
      SECRETS_KEY: crypto.randomBytes(32).toString('base64'),
      DATA_DIR: t.testdir(),
    });
    t.teardown(() => {
      server.child.kill('SIGKILL');
    });
    const body = {
      service: 'hugging_face',
      service_settings: { api_key: 'hf_cluster_key_x', url: `${upstream.url}/embed`, dimensions: upstream.dims },
      chunking_settings: { strategy: 'none' },
    };
    t.equal((await send(server.url, 'PUT', '/_inference/text_embedding/live', body)).status, 200);
    t.equal((await embed(server.url, 'live')).status, 200);

    own.stop('fast');
    const unavailable = {
      error: {
        root_cause: [
          {
            type: 'status_exception',
            reason: 'The inference endpoint store is unavailable: PostgreSQL cannot be reached; retry later',
          },
        ],
        type: 'status_exception',
        reason: 'The inference endpoint store is unavailable: PostgreSQL cannot be reached; retry later',
      },
      status: 503,
    };
    for (const [method, path, payload] of [
      ['GET', '/_inference', undefined],
      ['GET', '/_inference/live', undefined],
      ['PUT', '/_inference/text_embedding/other', body],
      ['PUT', '/_inference/live/_update', { service_settings: { api_key: 'hf_cluster_key_y' } }],
      ['DELETE', '/_inference/live', undefined],
      ['POST', '/_inference/text_embedding/unknown', { input: 'x' }],
    ] as const) {
      const res = await send(server.url, method, path, payload);
      t.equal(res.status, 503, `${method} ${path}`);
      t.equal(res.headers.get('retry-after'), '1');
      t.strictSame(await res.json(), unavailable);
    }
    t.equal(
      (await embed(server.url, 'live')).status,
      200,
      'an endpoint in use keeps working from what the instance holds',
    );
    t.equal(server.child.exitCode, null, 'still running');

    own.start();
    const took = await timeUntil(
      async () => (await send(server.url, 'GET', '/_inference/live')).status === 200,
      10_000,
    );
    t.ok(took < 10_000, `reads work again ${took.toFixed(0)} ms after PostgreSQL is back`);
    t.equal((await send(server.url, 'PUT', '/_inference/text_embedding/other', body)).status, 200, 'and writes');
    t.equal((await send(server.url, 'GET', '/_inference')).status, 200);
    t.ok(
      logLines(server.stdout).some((l) => l.level === 40 && /PostgreSQL/.test(l.msg)),
      'the lost PostgreSQL connections were logged as warnings',
    );
  },
);

t.test(
  'an instance that missed notifications (its listener cut off) reloads what it holds; one heard late changes nothing',
  async (t) => {
    if (!(await servicesAvailable(t, { postgres: true, redis: true }))) return;
    const databaseUrl = await createDatabase(t);
    const cluster = await Cluster.start({ owner: t, size: 2, databaseUrl, redisUrl: TEST_REDIS_URL });
    t.teardown(() => cluster.close());
    const id = `missed-${run}`;
    t.equal((await cluster.createEndpoint(0, id, 60_000)).status, 200);
    t.equal((await embed(cluster.url(1), id)).status, 200, 'live on instance 1');
    // Deleted behind the service's back: no notification is sent, as when one is lost.
    await sql(databaseUrl, 'DELETE FROM endpoints WHERE inference_id = $1', [id]);
    await sleep(300);
    t.equal((await embed(cluster.url(1), id)).status, 200, 'unheard of: still served from what instance 1 holds');
    const database = new URL(databaseUrl).pathname.slice(1);
    const cut = await sql(
      databaseUrl,
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2',
      [database, 'hf-inference-gateway listener'],
    );
    t.equal(cut.length, 2, 'both listeners cut off');
    const took = await timeUntil(async () => (await embed(cluster.url(1), id)).status === 404, 3000);
    t.ok(took < 1000, `reloaded after reconnecting: 404 after ${took.toFixed(0)} ms`);

    // Heard late: a "created" for an endpoint instance 1 already serves must not fail its waiting requests.
    const late = `late-${run}`;
    t.equal((await cluster.createEndpoint(0, late, 60, { batch_size: 1 })).status, 200);
    const waiting = [embed(cluster.url(1), late), embed(cluster.url(1), late)];
    await sleep(300);
    await sql(databaseUrl, 'SELECT pg_notify($1, $2)', [
      'hf_inference_gateway_changes',
      JSON.stringify({ origin: 'another-instance', table: 'endpoints', op: 'created', id: late }),
    ]);
    const answers = await Promise.all(waiting);
    t.strictSame(
      answers.map((a) => a.status),
      [200, 200],
      'both requests answered, the second one a second later',
    );
  },
);

t.test('SIGKILL during concurrent PUTs on PostgreSQL loses no acknowledged endpoint', async (t) => {
  if (!(await servicesAvailable(t, { postgres: true, redis: true }))) return;
  const databaseUrl = await createDatabase(t);
  const cluster = await Cluster.start({ owner: t, size: 2, databaseUrl, redisUrl: TEST_REDIS_URL });
  t.teardown(() => cluster.close());
  const acknowledged = new Set<string>();
  const inFlight = new Set<string>();
  let next = 0;
  for (let round = 0; round < 5; round++) {
    let stop = false;
    const worker = async (instance: number) => {
      while (!stop) {
        const id = `k${round}-${next++}`;
        inFlight.add(id);
        try {
          const res = await cluster.createEndpoint(instance, id, 1000 + next);
          await res.text();
          if (res.status === 200) acknowledged.add(id);
        } catch {
          if (instance === 0) return; // its process was killed: the outcome of this PUT is unknown
          throw new Error(`instance 1 failed a PUT of ${id}`);
        } finally {
          inFlight.delete(id);
        }
      }
    };
    const workers = [0, 0, 0, 0, 1, 1].map(worker);
    await sleep(150 + Math.floor(Math.random() * 300));
    cluster.instances[0]!.child.kill('SIGKILL');
    await cluster.instances[0]!.exited;
    await sleep(100);
    stop = true;
    await Promise.all(workers);
    const stored = new Set(
      (await sql<{ inference_id: string }>(databaseUrl, 'SELECT inference_id FROM endpoints')).map(
        (r) => r.inference_id,
      ),
    );
    const lost = [...acknowledged].filter((id) => !stored.has(id));
    t.strictSame(lost, [], `round ${round}: every acknowledged PUT is stored (${acknowledged.size} so far)`);
    await cluster.restart(0);
  }
  // Whatever was stored decrypts and reads whole, through the restarted instance.
  const listed = (await (await send(cluster.url(0), 'GET', '/_inference')).json()) as {
    endpoints: Array<{ inference_id: string }>;
  };
  t.ok(
    listed.endpoints.length >= acknowledged.size,
    `${listed.endpoints.length} stored, ${acknowledged.size} acknowledged`,
  );
  const some = listed.endpoints[listed.endpoints.length - 1]!.inference_id;
  t.equal(
    (
      await send(cluster.url(0), 'PUT', `/_inference/${some}/_update`, {
        service_settings: { api_key: 'hf_after_kill' },
      })
    ).status,
    200,
    'secrets decrypt',
  );
});
