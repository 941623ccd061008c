// Rate limiters shared by every instance through Redis: one reservation clock per endpoint, a Lua script, and a local
// fallback while Redis is away.
//
// Why not bottleneck's Redis clustering (the design card's first choice): on Redis 7 its
// recovery path never runs after Redis loses its keys (a restart without persistence), so every
// limiter stays broken with "ERR SETTINGS_KEY_NOT_FOUND" (SGrondin/bottleneck#205, #219; fixes
// unmerged, last release 2020); patched, it doubles the rate for as long as its backlog of
// reservations after a restart. Measured in the research notes (infra.md §1–2).
//
// The design here: each process keeps its own queue of waiters and one "pump" per endpoint that
// holds at most one reservation in Redis at a time, at most HORIZON ahead. The script reads
// Redis's own clock (no client clock skew) and keeps, per endpoint, the time of the last slot
// handed out; the next slot is `last + interval`, with the interval the caller passes, so a rate
// changed by `_update` applies from the next reservation on. When Redis has lost its state (the
// epoch key is gone), every limiter waits out a quarantine that covers the reservations made
// before the loss and the instances still reconnecting; meanwhile, and whenever Redis cannot be
// reached, each instance grants locally at rate / CLUSTER_SIZE, so the sum never exceeds the rate.
import { Redis, type Result } from 'ioredis';
import type { Cancellation } from '../cancellation.js';
import { hideUrlPassword } from '../redaction.js';
import {
  intervalMs,
  LimiterStoppedError,
  waitInLine,
  type RateLimiter,
  type RateLimiterFactory,
  type Waiter,
} from './rate-limiter.js';

/**
 * How far ahead a reservation may be. Short, so that reservations are made just in time: it
 * bounds what a Redis restart leaves in flight, and lets a late send push the next slot back.
 */
const HORIZON_MS = 25;
/** A request sent this much later than its slot pushes the shared clock to its real send time. */
const LATE_MS = 3;
/** Longest wait between reconnection attempts: every instance is back within this of Redis. */
const MAX_RECONNECT_DELAY_MS = 500;
/**
 * A command not answered by then is a miss (a half-open connection answers nothing). Generous:
 * a busy machine answers late, and a miss must not send an instance to its local fallback
 * while the others share the rate.
 */
const COMMAND_TIMEOUT_MS = 1000;
/** Unanswered commands in a row (on a connection that looks alive) before it is treated as dead and reopened. */
const MISSES_BEFORE_RECONNECT = 2;
/** How long a limiter's clock outlives its last slot in Redis once idle. */
const IDLE_TTL_MS = 60_000;

/** The key of one endpoint's clock; the braces keep a limiter's keys in one Redis Cluster slot. */
export const limiterKey = (limiterId: string) => `rl:{${limiterId}}:last`;
/** Exists as long as Redis has kept its state; its value is when it was (re)created, in µs of Redis's clock. */
export const EPOCH_KEY = 'rl:epoch';

/**
 * ARGV: interval µs, horizon µs, quarantine µs, op (`reserve` | `note`).
 * reserve → {wait µs ≥ 0, 0} a slot is reserved; {-1, µs} busy further out than the horizon
 * (ask again then); {-2, µs} Redis lost its state: grant locally for that long.
 * note → records a slot this instance granted locally, so shared slots come after it.
 * Numbers are integers (a Lua number in a reply is truncated), times in µs of Redis's clock.
 */
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, horizon, quarantine = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local epoch = tonumber(redis.call('GET', KEYS[2]) or '-1')
if epoch < 0 then
  epoch = now
  redis.call('SET', KEYS[2], now)
end
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
local ttl = math.floor(interval / 1000) + ${IDLE_TTL_MS}
if ARGV[4] == 'note' then
  if last < now then redis.call('SET', KEYS[1], now, 'PX', ttl) end
  return {0, 0}
end
local at = now
if last >= 0 and last + interval > at then at = last + interval end
if epoch + quarantine > at then return {-2, epoch + quarantine - now} end
if at - now > horizon then return {-1, at - now} end
redis.call('SET', KEYS[1], at, 'PX', math.floor((at - now) / 1000) + ttl)
return {at - now, 0}
`;

/**
 * Marks Redis's state as (re)created now if it was lost: the quarantine then runs from the reconnection, not from a
 * limiter's first use.
 */
const EPOCH_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], tonumber(t[1]) * 1000000 + tonumber(t[2]))
end
return 0
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    rateLimitEpoch(epoch: string): Result<number, Context>;
    rateLimitSlot(
      last: string,
      epoch: string,
      intervalUs: number,
      horizonUs: number,
      quarantineUs: number,
      op: 'reserve' | 'note',
    ): Result<[number, number], Context>;
  }
}

interface SharedLimiterLog {
  warn(message: string): void;
  info(message: string): void;
}

export interface RedisRateLimitersOptions {
  url: string;
  /** Instances sharing the limits: each grants requests_per_minute / clusterSize while Redis is away. */
  clusterSize: number;
  log: SharedLimiterLog;
}

/** The connection to Redis and the factory of every endpoint's shared limiter. */
export class RedisRateLimiters {
  readonly location: string;
  readonly clusterSize: number;
  readonly redis: Redis;
  private down = false;
  private closed = false;
  private misses = 0;
  /** performance.now() when Redis was last lost. */
  lostAt = -Infinity;

  constructor(private readonly opts: RedisRateLimitersOptions) {
    this.location = hideUrlPassword(opts.url);
    this.clusterSize = opts.clusterSize;
    this.redis = new Redis(opts.url, {
      // Fail fast while Redis is away: a waiting request is granted locally, never held by a queued command.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: 1000,
      retryStrategy: (attempt) => Math.min(attempt * 50, MAX_RECONNECT_DELAY_MS),
      lazyConnect: false,
    });
    this.redis.defineCommand('rateLimitSlot', { numberOfKeys: 2, lua: SCRIPT });
    this.redis.defineCommand('rateLimitEpoch', { numberOfKeys: 1, lua: EPOCH_SCRIPT });
    // Without a listener ioredis prints every failed attempt; the fallback is logged once per outage instead.
    this.redis.on('error', () => this.markDown());
    this.redis.on('close', () => this.markDown());
    this.redis.on('ready', () => {
      if (this.down && !this.closed)
        opts.log.info(`Redis at ${this.location} is back: rate limits are shared by every instance again`);
      this.down = false;
      this.redis.rateLimitEpoch(EPOCH_KEY).catch(() => {});
    });
  }

  private markDown(): void {
    if (this.down || this.closed) return;
    this.down = true;
    this.lostAt = performance.now();
    this.opts.log.warn(
      `Redis at ${this.location} cannot be reached: each endpoint's rate limit falls back to requests_per_minute / ${this.clusterSize} in this instance until it is back`,
    );
  }

  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  /** A command was answered: the connection works. */
  answered(): void {
    this.misses = 0;
  }

  /**
   * A command got no answer on a connection that looks alive (a stalled Redis, a half-open
   * socket, or just a busy machine). Some in a row: the connection is reopened, and counts as
   * down until it is ready again.
   */
  missed(): void {
    if (++this.misses < MISSES_BEFORE_RECONNECT) return;
    this.misses = 0;
    this.redis.disconnect(true);
  }

  /** Resolves when connected, or after `ms` (Redis down at start-up: limiters start in fallback). */
  whenReady(ms: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        resolve(false);
      }, ms);
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.redis.once('ready', onReady);
    });
  }

  readonly factory: RateLimiterFactory = (inferenceId, requestsPerMinute) =>
    new SharedRateLimiter(this, `inference:${inferenceId}`, requestsPerMinute);

  async close(): Promise<void> {
    this.closed = true;
    this.redis.disconnect();
  }
}

/**
 * One endpoint's limiter, shared through Redis with every instance; local at rate / CLUSTER_SIZE while Redis is away.
 */
class SharedRateLimiter implements RateLimiter {
  private interval: number;
  private readonly key: string;
  private readonly waiters: Waiter[] = [];
  private pumping = false;
  private stopped = false;
  /** performance.now() of this instance's last grant: its own grants are never closer than the interval. */
  private lastOwn = -Infinity;
  /** performance.now() until which Redis said it is quarantined (it lost its state): grants are local until then. */
  private quarantinedUntil = 0;
  /** performance.now() at which the last shared grant's slot was due, until its request is sent. */
  private slotAt: number | undefined;
  private sleeping: { interruptible: boolean; end: () => void } | undefined;

  constructor(
    private readonly shared: RedisRateLimiters,
    limiterId: string,
    requestsPerMinute: number,
  ) {
    this.interval = intervalMs(requestsPerMinute);
    this.key = limiterKey(limiterId);
  }

  acquire(cancel?: Cancellation): Promise<void> {
    if (this.stopped) return Promise.reject(new LimiterStoppedError());
    // A cancellation's reason is the service error the caller gets.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    if (cancel?.cancelled) return Promise.reject(cancel.reason);
    const granted = waitInLine(this.waiters, cancel);
    if (!this.pumping) void this.pump();
    return granted;
  }

  /**
   * The request granted last leaves now. If it leaves late (a busy event loop), the next slot
   * anywhere is pushed to one interval after now, when not handed out yet: a late request must
   * not crowd the next one at the upstream.
   */
  sent(): void {
    this.lastOwn = Math.max(this.lastOwn, performance.now());
    const slot = this.slotAt;
    this.slotAt = undefined;
    if (slot === undefined) return;
    // Checked once the request has been written (the next turn of the event loop): a stall
    // between here and the write counts too.
    setImmediate(() => {
      if (performance.now() - slot > LATE_MS && this.shared.ready && !this.stopped) {
        this.shared.redis
          .rateLimitSlot(this.key, EPOCH_KEY, Math.round(this.interval * 1000), HORIZON_MS * 1000, 0, 'note')
          .catch(() => {});
      }
    });
  }

  setRate(requestsPerMinute: number): void {
    this.interval = intervalMs(requestsPerMinute);
    // A pump waiting for a slot far out asks again with the new interval.
    this.wake();
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.wake();
    for (const waiter of this.waiters.splice(0)) {
      waiter.off?.();
      waiter.reject(new LimiterStoppedError());
    }
  }

  /** One slot at a time, for as long as anyone waits: reserve, sleep until it, grant the first waiter. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.waiters.length > 0 && !this.stopped) {
        if (this.shared.ready && performance.now() >= this.quarantinedUntil) {
          let answer: [number, number] | undefined;
          try {
            answer = await this.shared.redis.rateLimitSlot(
              this.key,
              EPOCH_KEY,
              Math.round(this.interval * 1000),
              HORIZON_MS * 1000,
              Math.round((MAX_RECONNECT_DELAY_MS + HORIZON_MS + this.interval) * 1000),
              'reserve',
            );
            this.shared.answered();
          } catch {
            answer = undefined;
          }
          if (!answer && this.shared.ready) {
            // No answer, yet the connection looks alive: the slot may have been taken. Ask again
            // shortly rather than grant on top of it; a dead connection is reopened after a few misses.
            this.shared.missed();
            await this.sleepUntil(performance.now() + 20, true);
            continue;
          }
          if (answer && answer[0] >= 0) {
            // The reserved slot, but never closer than the interval to this instance's own last grant.
            // Lateness is measured from the reserved slot (what Redis holds as the last grant), so a
            // request held back by this instance's own spacing is still reported and pushes the next.
            const reserved = performance.now() + answer[0] / 1000;
            await this.sleepUntil(Math.max(reserved, this.lastOwn + this.interval), false);
            if (this.grant()) this.slotAt = reserved;
            continue;
          }
          if (answer && answer[0] === -1) {
            // Others hold the slots up to there: ask again when the wanted one is within the horizon.
            await this.sleepUntil(performance.now() + answer[1] / 1000 - HORIZON_MS, true);
            continue;
          }
          if (answer) this.quarantinedUntil = performance.now() + answer[1] / 1000;
        }
        // The local fallback: this instance's share of the rate, spaced from its own last grant,
        // and not within one interval of losing Redis (slots handed out just before still go).
        const localAt = () =>
          Math.max(this.lastOwn + this.interval * this.shared.clusterSize, this.shared.lostAt + this.interval);
        await this.sleepUntil(localAt(), true);
        if (this.stopped || this.waiters.length === 0) continue;
        // Woken early (a new rate, Redis back): check again before granting.
        if (performance.now() < localAt()) continue;
        this.slotAt = undefined;
        this.grant();
        if (this.shared.ready) {
          this.shared.redis
            .rateLimitSlot(this.key, EPOCH_KEY, Math.round(this.interval * 1000), HORIZON_MS * 1000, 0, 'note')
            .catch(() => {});
        }
      }
    } finally {
      this.pumping = false;
    }
    if (this.waiters.length > 0 && !this.stopped) void this.pump();
  }

  /**
   * Grants the first waiter; false when everyone left while the slot was reserved (it goes unused, which never exceeds
   * the rate).
   */
  private grant(): boolean {
    const waiter = this.waiters.shift();
    if (!waiter) return false;
    this.lastOwn = performance.now();
    waiter.off?.();
    waiter.resolve();
    return true;
  }

  /**
   * Sleeps until performance.now() reaches `at`. An `interruptible` sleep also ends when woken
   * (a new rate); the wait for a reserved slot does not, or the grant would come before its slot.
   * Closing ends any sleep (nobody is left to grant).
   */
  private sleepUntil(at: number, interruptible: boolean): Promise<void> {
    const ms = at - performance.now();
    if (ms <= 0 || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        this.sleeping = undefined;
        resolve();
      };
      // Timers may fire up to a millisecond early; ceil keeps grants at or after their slot.
      const timer = setTimeout(end, Math.ceil(ms));
      this.sleeping = { interruptible, end };
    });
  }

  private wake(): void {
    if (this.sleeping && (this.sleeping.interruptible || this.stopped)) this.sleeping.end();
  }
}
