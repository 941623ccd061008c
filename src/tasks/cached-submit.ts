// A request's texts through the embedding cache (docs/embedding-cache.md): those answered before come from the
// cache, those another request is sending wait for its answer, and only the rest go to the endpoint's queue,
// batched as any other work.
import type { Cancellation } from '../cancellation.js';
import type { BoundEndpoint } from '../services/inference-service.js';
import { submitAll, type QueueState } from './queue-lifecycle.js';

/** How a task's items and results are kept: the text that keys an item, and a result as text and back. */
export interface CacheCodec<I, O> {
  /** Everything of the item that determines its result (the text as sent, and for sparse its truncation). */
  keyText(item: I): string;
  encode(result: O): string;
  decode(value: string): O;
}

/** Work the request waits for; a failure after the request already failed is not reported as unhandled. */
function watch(work: Array<Promise<unknown>>, promise: Promise<unknown>): void {
  promise.catch(() => undefined);
  work.push(promise);
}

/**
 * Every item's result, in order, as `submitAll` gives them, with the cache in front when the endpoint caches. A
 * failure of the call another request made for a text is not this request's: it sends that text itself.
 */
export async function submitCached<I, O>(
  state: QueueState<I, O, undefined>,
  endpoint: Pick<BoundEndpoint, 'cache'>,
  items: readonly I[],
  lifetime: Cancellation,
  codec: CacheCodec<I, O>,
): Promise<O[]> {
  const cache = state.cache;
  const own = endpoint.cache;
  if (cache === undefined || own === undefined || !own.enabled)
    return submitAll(state.queue, items, lifetime, undefined);
  const results = new Array<O>(items.length);
  const work: Array<Promise<unknown>> = [];
  let hits = 0;
  // Texts this request sends: each key once, with every index that wants its answer.
  const sent = new Map<string, number[]>();
  const sendItems: I[] = [];
  const sendKeys: string[] = [];
  const scope = own.scope;
  const keys = items.map((item) => cache.keyOf(scope, codec.keyText(item)));
  const found = await cache.lookup(keys);
  found.forEach((value, i) => {
    const key = keys[i]!;
    if (value !== undefined) {
      results[i] = codec.decode(value);
      hits++;
      return;
    }
    const mine = sent.get(key);
    if (mine) {
      mine.push(i);
      hits++;
      return;
    }
    const pending = cache.inFlight(key);
    if (pending) {
      hits++;
      watch(
        work,
        pending.value.then(
          (text) => void (results[i] = codec.decode(text)),
          // Someone else's call failed (its request went away, say): this request sends the text itself.
          () =>
            state.queue.submit([items[i]!], lifetime, undefined)[0]!.then((result) => {
              results[i] = result;
              cache.remember([[key, codec.encode(result)]]);
            }),
        ),
      );
      return;
    }
    sent.set(key, [i]);
    sendItems.push(items[i]!);
    sendKeys.push(key);
  });
  lifetime.cacheHits = (lifetime.cacheHits ?? 0) + hits;
  state.telemetry.cacheLookups(hits, sendItems.length);
  try {
    if (sendItems.length > 0) {
      const promises = state.queue.submit(sendItems, lifetime, undefined);
      promises.forEach((promise, j) => {
        const key = sendKeys[j]!;
        const encoded = promise.then((result) => {
          const value = codec.encode(result);
          cache.remember([[key, value]]);
          for (const i of sent.get(key)!) results[i] = result;
          return value;
        });
        cache.begin(key, encoded);
        watch(work, encoded);
      });
    }
    await Promise.all(work);
    return results;
  } catch (err) {
    // As submitAll: a cancelled request answers with its cancellation's reason; one failed text ends the request.
    if (lifetime.cancelled) throw lifetime.reason;
    lifetime.cancel(err);
    throw err;
  }
}
