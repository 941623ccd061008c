// Several real service processes on one PostgreSQL database and one Redis, a shared test upstream, paced load through
// all of them, and the figures read from what the upstream received.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { startServer, type Owner, type ServerProcess } from './process.js';
import { measureTiming, type TapLike } from './timing.js';
import { UpstreamProcess } from './upstream-process.js';

export interface ClusterOptions {
  /** Kills the instances in its teardown (a test), or nothing (a benchmark: close() does). */
  owner: Owner;
  size: number;
  databaseUrl: string;
  redisUrl: string;
  /** Extra environment for every instance. */
  env?: Record<string, string>;
}

export class Cluster {
  readonly instances: ServerProcess[] = [];
  readonly secretsKey = crypto.randomBytes(32).toString('base64');
  private readonly dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-'));

  private constructor(
    readonly opts: ClusterOptions,
    /** In a process of its own, so its arrival times are not delayed by the test's work. */
    readonly upstream: UpstreamProcess,
  ) {}

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const cluster = new Cluster(opts, await UpstreamProcess.start());
    try {
      // One at a time: the first migrates the empty database, the others find it ready.
      for (let i = 0; i < opts.size; i++)
        cluster.instances.push(prioritise(await startServer(opts.owner, cluster.env(i))));
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  env(i: number): Record<string, string> {
    return {
      DATABASE_URL: this.opts.databaseUrl,
      REDIS_URL: this.opts.redisUrl,
      CLUSTER_SIZE: String(this.opts.size),
      SECRETS_KEY: this.secretsKey,
      DATA_DIR: path.join(this.dataDir, `instance-${i}`),
      // info: startServer waits for the "Server listening" line.
      LOG_LEVEL: 'info',
      // No embedding cache unless a test asks for one: tests count the texts the upstream receives.
      EMBEDDING_CACHE_SIZE: '0',
      ...this.opts.env,
    };
  }

  url(i: number): string {
    return this.instances[i]!.url;
  }

  /** Replaces instance i by a new process (after a kill). */
  async restart(i: number): Promise<ServerProcess> {
    this.instances[i] = prioritise(await startServer(this.opts.owner, this.env(i)));
    return this.instances[i];
  }

  async close(): Promise<void> {
    await Promise.all(
      this.instances.map(async (s) => {
        if (s.child.exitCode === null && s.child.signalCode === null) {
          s.child.kill('SIGKILL');
          await s.exited;
        }
      }),
    );
    await this.upstream.close();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Creates a text_embedding endpoint on the shared upstream through instance i. */
  async createEndpoint(
    i: number,
    id: string,
    requestsPerMinute: number,
    serviceSettings: Record<string, unknown> = {},
  ): Promise<Response> {
    return send(this.url(i), 'PUT', `/_inference/text_embedding/${id}`, {
      service: 'hugging_face',
      service_settings: {
        api_key: 'hf_cluster_key_0',
        url: `${this.upstream.url}/embed`,
        dimensions: this.upstream.dims,
        rate_limit: { requests_per_minute: requestsPerMinute },
        ...serviceSettings,
      },
      chunking_settings: { strategy: 'none' },
    });
  }
}

/**
 * The figures are about spacing at the upstream. On a machine shared with unrelated work (other
 * test suites), a process that is descheduled for 50 ms between writing a request and the
 * upstream reading it shifts one arrival, whatever the limiter did. When permitted, the
 * instances run ahead of unrelated work (the upstream further still): the limiter's logic is
 * unchanged, only the machine's noise is kept out of the measurement.
 */
function prioritise(server: ServerProcess): ServerProcess {
  try {
    os.setPriority(server.child.pid!, -5);
  } catch {
    // not permitted (not root): the figures then carry the machine's scheduling noise
  }
  return server;
}

export function send(
  base: string,
  method: string,
  urlPath: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(`${base}${urlPath}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
}

export interface LoadResult {
  /** Status of every answered request. */
  statuses: number[];
  /** Requests still waiting when the load ended (aborted by the client, as a client with a deadline would). */
  unanswered: number;
  /** Network errors other than the abort. */
  errors: string[];
}

/** One request of a paced load: where it goes and what it sends. */
export interface LoadRequest {
  base: string;
  path: string;
  body: unknown;
}

/**
 * Offers `perSecond` embedding requests per second, round-robin over `bases` (or the n-th request as `request(n)`
 * makes it), for `seconds`; then gives answers `graceMs` and aborts what is still waiting.
 */
export async function offerLoad(opts: {
  bases: string[];
  inferenceId: string;
  perSecond: number;
  seconds: number;
  graceMs?: number;
  request?: (n: number) => LoadRequest;
}): Promise<LoadResult> {
  const controller = new AbortController();
  const result: LoadResult = { statuses: [], unanswered: 0, errors: [] };
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  const total = Math.round(opts.perSecond * opts.seconds);
  for (let n = 0; n < total; n++) {
    const due = start + (n * 1000) / opts.perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const request = opts.request?.(n) ?? {
      base: opts.bases[n % opts.bases.length]!,
      path: `/_inference/text_embedding/${opts.inferenceId}`,
      body: { input: `load text ${n}` },
    };
    pending.push(
      send(request.base, 'POST', request.path, request.body, controller.signal).then(
        async (res) => {
          await res.arrayBuffer();
          result.statuses.push(res.status);
        },
        (err: Error) => {
          if (controller.signal.aborted) result.unanswered++;
          else result.errors.push(err.message);
        },
      ),
    );
  }
  await new Promise((r) => setTimeout(r, opts.graceMs ?? 0));
  controller.abort();
  await Promise.all(pending);
  return result;
}

export interface Spacing {
  /** Upstream requests in the window [first, first + windowMs]. */
  count: number;
  /** What the limit allows in that window: one at its start, then one per interval. */
  allowed: number;
  accuracy: number;
  /** Smallest gap between two consecutive upstream requests in the window (ms). */
  minGap: number;
  /** Most upstream requests in any sliding window of one second, and what the limit allows in one. */
  maxPerSecond: number;
  allowedPerSecond: number;
}

/** Reads the figures from upstream arrival times (ms), for a limit of `requestsPerMinute`. */
export function measureSpacing(times: readonly number[], requestsPerMinute: number, windowMs: number): Spacing {
  const interval = 60_000 / requestsPerMinute;
  const sorted = [...times].sort((a, b) => a - b);
  const t0 = sorted[0] ?? 0;
  const inWindow = sorted.filter((x) => x <= t0 + windowMs);
  const allowed = Math.floor(windowMs / interval) + 1;
  let minGap = Infinity;
  for (let i = 1; i < inWindow.length; i++) minGap = Math.min(minGap, inWindow[i]! - inWindow[i - 1]!);
  let maxPerSecond = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= 1000) j++;
    maxPerSecond = Math.max(maxPerSecond, i - j + 1);
  }
  return {
    count: inWindow.length,
    allowed,
    accuracy: inWindow.length / allowed,
    minGap,
    maxPerSecond,
    allowedPerSecond: Math.floor(1000 / interval) + (1000 % interval === 0 ? 0 : 1),
  };
}

/**
 * Polls `check` every few milliseconds until it is true; resolves to the milliseconds it took, or Infinity after `ms`.
 */
export async function timeUntil(check: () => Promise<boolean>, ms = 5000): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < ms) {
    if (await check()) return performance.now() - start;
    await new Promise((r) => setTimeout(r, 10));
  }
  return Infinity;
}

type TapChecks = TapLike & Pick<Test, 'ok' | 'strictSame'>;

/**
 * The cluster's spacing rule, measured (with `measureTiming`'s retries): paced load at twice the endpoint's limit
 * through `bases` (or as `request(n)` makes each request), and the upstream must see 95-100% of what the limit allows,
 * no two requests closer than 90 ms, and no failed request.
 */
export async function spacingAtTwiceTheLimit(
  t: TapChecks,
  what: string,
  opts: {
    upstream: UpstreamProcess;
    bases: string[];
    inferenceId: string;
    requestsPerMinute: number;
    seconds: number;
    request?: (n: number) => LoadRequest;
  },
): Promise<void> {
  const rpm = opts.requestsPerMinute;
  await measureTiming(t, what, 10, async () => {
    await new Promise((r) => setTimeout(r, 1500));
    await opts.upstream.reset();
    const load = await offerLoad({
      bases: opts.bases,
      inferenceId: opts.inferenceId,
      perSecond: (2 * rpm) / 60,
      seconds: opts.seconds,
      graceMs: 1000,
      ...(opts.request ? { request: opts.request } : {}),
    });
    const s = measureSpacing(
      (await opts.upstream.received()).map((r) => r.at),
      rpm,
      opts.seconds * 1000,
    );
    const failures = load.errors.length + load.statuses.filter((x) => x !== 200).length;
    return {
      met: s.accuracy >= 0.95 && s.accuracy <= 1 && s.minGap >= 90 && failures === 0,
      text: `upstream requests ${s.count} of ${s.allowed} allowed (${(s.accuracy * 100).toFixed(1)}%), smallest gap ${s.minGap.toFixed(1)} ms, most in one second ${s.maxPerSecond}, ${failures} failed`,
      check: () => {
        t.ok(
          s.accuracy >= 0.95 && s.accuracy <= 1,
          `upstream requests within 95-100% of the limit: ${s.count} of ${s.allowed}`,
        );
        t.ok(s.minGap >= 90, `no two upstream requests closer than 90 ms: smallest gap ${s.minGap.toFixed(1)} ms`);
        t.strictSame(load.errors, [], 'no request failed on the network');
        t.strictSame(
          [...new Set(load.statuses)],
          [200],
          `every answered request succeeded (${load.statuses.length} answered, ${load.unanswered} still queued at the end)`,
        );
      },
    };
  });
}
