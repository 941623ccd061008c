// The embedding cache's memory bound: a million unique entries never hold more than the configured bytes.
import t from 'tap';
import { cacheScope, EmbeddingCache } from '../../../src/cache/embedding-cache.js';

t.test('a million unique texts stay within the byte bound, the oldest evicted', async (t) => {
  const maxBytes = 1024 * 1024;
  const cache = new EmbeddingCache({ maxBytes, ttlMs: 60_000 });
  const scope = cacheScope('identity');
  const vector = JSON.stringify(Array.from({ length: 16 }, (_, i) => i / 7));
  for (let i = 0; i < 1_000_000; i++) {
    cache.remember([[cache.keyOf(scope, `text ${i}`), vector]]);
    if (i % 100_000 === 0) t.ok(cache.stats().bytes <= maxBytes, `after ${i}: ${cache.stats().bytes} bytes`);
  }
  const stats = cache.stats();
  t.ok(stats.bytes <= maxBytes && stats.bytes > maxBytes * 0.9, `${stats.bytes} bytes at the end`);
  t.equal(stats.evictions + stats.entries, 1_000_000, 'every entry is held or was evicted');
  t.strictSame(await cache.lookup([cache.keyOf(scope, 'text 999999'), cache.keyOf(scope, 'text 0')]), [
    vector,
    undefined,
  ]);
});

t.test('entries of one identity are cleared, those of another kept; another identity never reads them', async (t) => {
  const cache = new EmbeddingCache({ maxBytes: 1024 * 1024, ttlMs: 60_000 });
  const a = cacheScope('a');
  const b = cacheScope('b');
  cache.remember([
    [cache.keyOf(a, 'x'), '[1]'],
    [cache.keyOf(b, 'x'), '[2]'],
  ]);
  t.strictSame(await cache.lookup([cache.keyOf(a, 'x'), cache.keyOf(b, 'x')]), ['[1]', '[2]']);
  t.equal(await cache.clear(a), 1);
  t.strictSame(await cache.lookup([cache.keyOf(a, 'x'), cache.keyOf(b, 'x')]), [undefined, '[2]']);
});
