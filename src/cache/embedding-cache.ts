// The embedding cache (docs/embedding-cache.md): what an upstream answered for one text, kept under a key made of
// everything that determines it, in memory (bounded in bytes and age) and, with Redis, shared by every instance.
import crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** The cache's figures, for the metrics. */
export interface CacheStats {
  /** Estimated bytes held in memory (keys and values; see ENTRY_OVERHEAD), never above `maxBytes`. */
  bytes: number;
  maxBytes: number;
  entries: number;
  /** Entries dropped to make room (least recently used first). */
  evictions: number;
  /** Entries dropped for their age. */
  expirations: number;
}

/**
 * The shared tier (Redis): slower than memory, shared by every instance. It never throws: a tier that is away answers
 * misses and drops writes.
 */
export interface SharedCacheTier {
  get(keys: readonly string[]): Promise<Array<string | undefined>>;
  set(entries: ReadonlyArray<readonly [string, string]>, ttlMs: number): void;
  /** Removes every entry whose key starts with `prefix`, on every instance; resolves to the shared entries removed. */
  clear(prefix: string): Promise<number>;
  /** Called with a prefix another instance cleared, so this instance's memory drops it too. */
  onCleared(listener: (prefix: string) => void): void;
  /**
   * Claims the texts this instance is about to send, so other instances wait for its answer instead of sending them
   * too. A claimed key is settled by `set` (its value) or `release` (its call failed). Never throws: while the tier is
   * away every text is this instance's to send.
   */
  claim(keys: readonly string[]): Promise<Claim[]>;
  /** Gives up this instance's claims of keys whose call failed, so one of the instances waiting for them sends them. */
  release(keys: readonly string[]): void;
  /** Resolves when another instance's claim of `key` settles, or after `waitMs` (and a little more) at the latest. */
  settled(key: string, waitMs: number): Promise<void>;
}

/**
 * What a claim found: the value, stored meanwhile; the text is this instance's to send; or another instance is sending
 * it, and its claim runs `waitMs` more unless renewed.
 */
export type Claim = { readonly value: string } | { readonly lead: true } | { readonly waitMs: number };

/** What a text's upstream call, under way, will give: one per key, so concurrent identical misses cost one text. */
export interface Pending {
  readonly value: Promise<string>;
}

/**
 * Bytes counted per entry besides its key and value text: the LRU's bookkeeping (its slots, the map entry) and the
 * string headers, measured roughly on Node 20 (docs/embedding-cache.md#memory).
 */
const ENTRY_OVERHEAD = 96;

export interface EmbeddingCacheOptions {
  maxBytes: number;
  ttlMs: number;
  shared?: SharedCacheTier;
}

const LEAD: Claim = { lead: true };

/** SHA-256 in base64url: node's one-shot `crypto.hash` (Node 20.12) where there is one, a Hash object otherwise. */
const sha256: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'base64url')
    : (text) => crypto.createHash('sha256').update(text).digest('base64url');

/**
 * The key prefix of one upstream identity: a hash, so the identity (urls, model ids) is never stored as such. Made once
 * per endpoint, when it is bound.
 */
export const cacheScope = (identity: string): string => `${sha256(identity).slice(0, 22)}:`;

export class EmbeddingCache {
  private readonly memory: LRUCache<string, string>;
  private readonly pending = new Map<string, Pending>();
  private evictions = 0;
  private expirations = 0;

  constructor(private readonly opts: EmbeddingCacheOptions) {
    this.memory = new LRUCache<string, string>({
      maxSize: opts.maxBytes,
      sizeCalculation: (value, key) => key.length + value.length + ENTRY_OVERHEAD,
      ttl: opts.ttlMs,
      // An expired entry is dropped when it is next read or when room is needed; no timer per entry.
      ttlAutopurge: false,
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.evictions++;
        else if (reason === 'expire') this.expirations++;
      },
    });
    opts.shared?.onCleared((prefix) => this.dropLocal(prefix));
  }

  keyOf(scope: string, text: string): string {
    return scope + sha256(text);
  }

  /**
   * Each key's value, from memory, else from the shared tier (then kept in memory too); undefined: a miss. Answered at
   * once, without a promise, when memory holds every key or there is no shared tier to ask (a re-index of what was
   * embedded before waits for nothing).
   */
  lookup(keys: readonly string[]): Array<string | undefined> | Promise<Array<string | undefined>> {
    const found = new Array<string | undefined>(keys.length);
    const missing: number[] = [];
    for (let i = 0; i < keys.length; i++) {
      found[i] = this.memory.get(keys[i]!);
      if (found[i] === undefined) missing.push(i);
    }
    const shared = this.opts.shared;
    return shared && missing.length > 0 ? this.fromShared(shared, keys, found, missing) : found;
  }

  /** `found` with its `missing` looked up in the shared tier, and kept in memory when found there. */
  private async fromShared(
    shared: SharedCacheTier,
    keys: readonly string[],
    found: Array<string | undefined>,
    missing: number[],
  ): Promise<Array<string | undefined>> {
    const remote = await shared.get(missing.map((i) => keys[i]!));
    missing.forEach((index, j) => {
      const value = remote[j];
      if (value === undefined) return;
      found[index] = value;
      this.memory.set(keys[index]!, value);
    });
    return found;
  }

  /** A text's upstream answer, kept in memory and written to the shared tier. */
  remember(entries: ReadonlyArray<readonly [string, string]>): void {
    for (const [key, value] of entries) this.memory.set(key, value);
    if (entries.length > 0) this.opts.shared?.set(entries, this.opts.ttlMs);
  }

  /**
   * For the keys this instance is about to send (memory and shared tier missed them, no call under way here): whether
   * another instance sends them already. Without a shared tier every key is this instance's to send.
   */
  async claim(keys: readonly string[]): Promise<Claim[]> {
    const shared = this.opts.shared;
    if (!shared) return keys.map(() => LEAD);
    const claims = await shared.claim(keys);
    claims.forEach((claim, i) => {
      if ('value' in claim) this.memory.set(keys[i]!, claim.value);
    });
    return claims;
  }

  /**
   * Waits for another instance's call for `key` (a claim that runs `waitMs` more): its value, or undefined when the
   * text is now this instance's to send (that call failed or its instance went silent, and the claim passed here; or
   * the shared tier is away). Each wait is bounded by the claim's lease, which only a live claimant renews.
   */
  async follow(key: string, waitMs: number): Promise<string | undefined> {
    const shared = this.opts.shared;
    for (let wait = waitMs; shared;) {
      await shared.settled(key, wait);
      const [claim] = await this.claim([key]);
      if (claim === undefined || 'lead' in claim) return undefined;
      if ('value' in claim) return claim.value;
      wait = claim.waitMs;
    }
    return undefined;
  }

  /** Gives up this instance's claims of keys whose call failed (a no-op for keys it did not claim). */
  release(keys: readonly string[]): void {
    this.opts.shared?.release(keys);
  }

  /** The call under way for this key, if any. */
  inFlight(key: string): Pending | undefined {
    return this.pending.get(key);
  }

  /** Registers the call under way for `key` until it settles. */
  begin(key: string, value: Promise<string>): void {
    const entry: Pending = { value };
    this.pending.set(key, entry);
    const done = () => {
      if (this.pending.get(key) === entry) this.pending.delete(key);
    };
    value.then(done, done);
  }

  /** Forgets every entry of one identity's scope, here and in the shared tier; resolves to the entries removed. */
  async clear(scope: string): Promise<number> {
    const local = this.dropLocal(scope);
    const shared = this.opts.shared ? await this.opts.shared.clear(scope) : 0;
    return Math.max(local, shared);
  }

  private dropLocal(prefix: string): number {
    let removed = 0;
    for (const key of [...this.memory.keys()]) {
      if (key.startsWith(prefix) && this.memory.delete(key)) removed++;
    }
    return removed;
  }

  stats(): CacheStats {
    return {
      bytes: this.memory.calculatedSize,
      maxBytes: this.opts.maxBytes,
      entries: this.memory.size,
      evictions: this.evictions,
      expirations: this.expirations,
    };
  }
}
