// The embedding cache's shared tier (docs/embedding-cache.md#shared-by-every-instance): Redis, on the connection the
// rate limiters use, behind each instance's memory. It never fails a request: while Redis is away it answers misses
// and drops writes.
import type { Redis } from 'ioredis';
import type { SharedCacheTier } from './embedding-cache.js';

/** Every key of the shared tier starts with this (the entry's own key is a hash: no text, no url in Redis). */
const KEY_PREFIX = 'hf-gateway:embedding:';
/** Where an instance that cleared an identity tells the others, so their memory forgets it too. */
const CLEARED_CHANNEL = 'hf-gateway:embedding-cache-cleared';
/** Keys per MGET: an answer of a few megabytes at most, well inside the connection's command timeout. */
const READ_CHUNK = 256;

export class RedisCacheTier implements SharedCacheTier {
  private subscriber: Redis | undefined;

  constructor(private readonly redis: Redis) {}

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
    if (!this.ready) return;
    const pipeline = this.redis.pipeline();
    for (const [key, value] of entries) pipeline.set(KEY_PREFIX + key, value, 'PX', ttlMs);
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
    // A subscribed connection takes no other command: a second one, made from the first.
    // It waits for its connection (and ioredis subscribes again after a reconnect), unlike the limiters' commands.
    this.subscriber = this.redis.duplicate({ enableOfflineQueue: true });
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, prefix: string) => listener(prefix));
    this.subscriber.subscribe(CLEARED_CHANNEL).catch(() => undefined);
  }

  close(): void {
    this.subscriber?.disconnect();
  }
}
