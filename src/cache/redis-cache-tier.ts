// The embedding cache's shared tier (docs/embedding-cache.md#shared-by-every-instance): Redis, on the connection the
// rate limiters use, behind each instance's memory. It never fails a request: while Redis is away it answers misses
// and drops writes. It also holds the claims that make identical misses on several instances cost one upstream text
// (docs/embedding-cache.md#identical-misses-on-several-instances).
import { randomUUID } from 'node:crypto';
import type { Redis, Result } from 'ioredis';
import type { Claim, SharedCacheTier } from './embedding-cache.js';

/** Every key of the shared tier starts with this (the entry's own key is a hash: no text, no url in Redis). */
const KEY_PREFIX = 'hf-gateway:embedding:';
/** A text some instance is sending: its value is that instance's token. */
const CLAIM_PREFIX = 'hf-gateway:embedding-claim:';
/** Where an instance that cleared an identity tells the others, so their memory forgets it too. */
const CLEARED_CHANNEL = 'hf-gateway:embedding-cache-cleared';
/** Where a claimant says which of its claims ended (answered or given up), one key a line. */
const SETTLED_CHANNEL = 'hf-gateway:embedding-claims-settled';
/** Keys per command: an answer of a few megabytes at most, well inside the connection's command timeout. */
const READ_CHUNK = 256;
/**
 * A claim's life unless its instance renews it: how long the others wait for an instance that died with its texts
 * under way before one of them sends the text itself.
 */
const CLAIM_LEASE_MS = 3000;
/** How often an instance renews the claims of the texts it is still sending. */
const RENEW_EVERY_MS = 1000;
/** Waited past a claim's end, for the renewal of a claimant that is alive but a little late. */
const LEASE_MARGIN_MS = 100;

/**
 * For each text (a value key, then its claim key): its value if one is stored; else 0 if this instance holds the claim
 * now (new, or already its own); else how long the other instance's claim still runs, in ms.
 */
const CLAIM_SCRIPT = `
local out = {}
for i = 1, #KEYS, 2 do
  local value = redis.call('GET', KEYS[i])
  if value then
    out[#out + 1] = value
  elseif redis.call('SET', KEYS[i + 1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[#out + 1] = 0
  elseif redis.call('GET', KEYS[i + 1]) == ARGV[1] then
    out[#out + 1] = 0
  else
    out[#out + 1] = math.max(redis.call('PTTL', KEYS[i + 1]), 1)
  end
end
return out
`;

/** Each claim key still holding this instance's token (ARGV[1]): removed, or, with ARGV[2], given a new lease. */
const OWN_CLAIMS_SCRIPT = `
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    if ARGV[2] then redis.call('PEXPIRE', KEYS[i], ARGV[2]) else redis.call('DEL', KEYS[i]) end
    n = n + 1
  end
end
return n
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    embeddingClaim(numKeys: number, ...keysThenArgs: Array<string | number>): Result<Array<string | number>, Context>;
    embeddingOwnClaims(numKeys: number, ...keysThenArgs: Array<string | number>): Result<number, Context>;
  }
}

export class RedisCacheTier implements SharedCacheTier {
  /** A subscribed connection takes no other command: a second one, made from the first. */
  private readonly subscriber: Redis;
  private clearedListener: ((prefix: string) => void) | undefined;
  /** This instance's claims, in every claim it takes: tells its claims from another instance's. */
  private readonly token = randomUUID();
  /** Keys this instance claimed and has not settled yet, renewed until then. */
  private readonly held = new Set<string>();
  private renewTimer: NodeJS.Timeout | undefined;
  /** Who waits for a key another instance claimed: called when that claim settles (or Redis is lost). */
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(private readonly redis: Redis) {
    redis.defineCommand('embeddingClaim', { lua: CLAIM_SCRIPT });
    redis.defineCommand('embeddingOwnClaims', { lua: OWN_CLAIMS_SCRIPT });
    // Without Redis no settle notice comes: whoever waits looks again at once (and then sends the text itself).
    redis.on('close', () => this.wakeAll());
    // It waits for its connection (and ioredis subscribes again after a reconnect), unlike the limiters' commands.
    this.subscriber = redis.duplicate({ enableOfflineQueue: true });
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === CLEARED_CHANNEL) this.clearedListener?.(message);
      else for (const key of message.split('\n')) this.wake(key);
    });
    this.subscriber.subscribe(CLEARED_CHANNEL, SETTLED_CHANNEL).catch(() => undefined);
  }

  private get ready(): boolean {
    return this.redis.status === 'ready';
  }

  async get(keys: readonly string[]): Promise<Array<string | undefined>> {
    const out = new Array<string | undefined>(keys.length).fill(undefined);
    if (!this.ready) return out;
    try {
      for (let start = 0; start < keys.length; start += READ_CHUNK) {
        const chunk = keys.slice(start, start + READ_CHUNK).map((k) => KEY_PREFIX + k);
        const values = await this.redis.mget(...chunk);
        values.forEach((v, i) => (out[start + i] = v ?? undefined));
      }
    } catch {
      // Redis went away meanwhile: what was not read is a miss.
    }
    return out;
  }

  set(entries: ReadonlyArray<readonly [string, string]>, ttlMs: number): void {
    const settled = entries.map(([key]) => key).filter((key) => this.held.delete(key));
    if (!this.ready) return;
    const pipeline = this.redis.pipeline();
    for (const [key, value] of entries) pipeline.set(KEY_PREFIX + key, value, 'PX', ttlMs);
    // In this order on one connection: whoever the notice wakes finds the value, and the claim gone.
    if (settled.length > 0) {
      pipeline.embeddingOwnClaims(settled.length, ...settled.map((k) => CLAIM_PREFIX + k), this.token);
      pipeline.publish(SETTLED_CHANNEL, settled.join('\n'));
    }
    pipeline.exec().catch(() => undefined);
  }

  async claim(keys: readonly string[]): Promise<Claim[]> {
    const out = new Array<Claim>(keys.length).fill({ lead: true });
    if (!this.ready || keys.length === 0) return out;
    try {
      for (let start = 0; start < keys.length; start += READ_CHUNK) {
        const chunk = keys.slice(start, start + READ_CHUNK);
        const args = chunk.flatMap((k) => [KEY_PREFIX + k, CLAIM_PREFIX + k]);
        const answers = await this.redis.embeddingClaim(args.length, ...args, this.token, CLAIM_LEASE_MS);
        answers.forEach((answer, i) => {
          if (typeof answer === 'string') out[start + i] = { value: answer };
          else if (answer === 0) this.hold(chunk[i]!);
          else out[start + i] = { waitMs: answer };
        });
      }
    } catch {
      // Redis went away meanwhile: the texts not yet claimed are sent without a claim (each instance its own).
    }
    return out;
  }

  release(keys: readonly string[]): void {
    const released = keys.filter((key) => this.held.delete(key));
    if (released.length === 0 || !this.ready) return;
    this.redis
      .pipeline()
      .embeddingOwnClaims(released.length, ...released.map((k) => CLAIM_PREFIX + k), this.token)
      .publish(SETTLED_CHANNEL, released.join('\n'))
      .exec()
      .catch(() => undefined);
  }

  settled(key: string, waitMs: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(key) ?? new Set();
      this.waiters.set(key, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
        resolve();
      };
      const timer = setTimeout(done, waitMs + LEASE_MARGIN_MS);
      set.add(done);
    });
  }

  private wake(key: string): void {
    const set = this.waiters.get(key);
    if (set) for (const done of [...set]) done();
  }

  private wakeAll(): void {
    for (const key of [...this.waiters.keys()]) this.wake(key);
  }

  private hold(key: string): void {
    this.held.add(key);
    this.renewTimer ??= setInterval(() => this.renew(), RENEW_EVERY_MS).unref();
  }

  /** A new lease for every claim this instance still holds: the others keep waiting for it, however long its queue. */
  private renew(): void {
    if (this.held.size === 0) {
      clearInterval(this.renewTimer);
      this.renewTimer = undefined;
      return;
    }
    if (!this.ready) return;
    const keys = [...this.held];
    const pipeline = this.redis.pipeline();
    for (let start = 0; start < keys.length; start += READ_CHUNK) {
      const chunk = keys.slice(start, start + READ_CHUNK).map((k) => CLAIM_PREFIX + k);
      pipeline.embeddingOwnClaims(chunk.length, ...chunk, this.token, CLAIM_LEASE_MS);
    }
    pipeline.exec().catch(() => undefined);
  }

  async clear(prefix: string): Promise<number> {
    let removed = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${KEY_PREFIX}${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) removed += await this.redis.unlink(...keys);
    } while (cursor !== '0');
    await this.redis.publish(CLEARED_CHANNEL, prefix);
    return removed;
  }

  onCleared(listener: (prefix: string) => void): void {
    this.clearedListener = listener;
  }

  close(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    this.wakeAll();
    this.subscriber.disconnect();
  }
}
