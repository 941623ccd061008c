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

/** A promise settled from outside: the value of a text this request sends, before it knows who sends it. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Rejects with the request's cancellation, so a request never outlives its deadline waiting for another's call. */
async function untilCancelled<T>(lifetime: Cancellation, work: Promise<T>): Promise<T> {
  let off: () => void = () => undefined;
  const cancelled = new Promise<never>((_, reject) => {
    off = lifetime.onCancel(reject);
  });
  try {
    return await Promise.race([work, cancelled]);
  } finally {
    off();
  }
}

/**
 * Every item's result, in order, as `submitAll` gives them, with the cache in front when the endpoint caches. A text
 * another request sends (on this instance, or with a shared tier on another) is waited for; if that call fails, this
 * request sends the text itself rather than fail with another request's error.
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
  const answers: Array<ReturnType<typeof deferred<string>>> = [];
  const scope = own.scope;
  const keys = items.map((item) => cache.keyOf(scope, codec.keyText(item)));

  /** Sends one text as its claimant: its value is kept (and the claim settled), or the claim given up. */
  const sendOne = (key: string, item: I): Promise<string> =>
    state.queue.submit([item], lifetime, undefined)[0]!.then(
      (result) => {
        const value = codec.encode(result);
        cache.remember([[key, value]]);
        return value;
      },
      (err: unknown) => {
        cache.release([key]);
        throw err;
      },
    );
  /** A text no call here is sending: the shared tier's value, another instance's answer, or this request's call. */
  const obtain = async (key: string, item: I): Promise<string> => {
    const [claim] = await cache.claim([key]);
    if (claim !== undefined && 'value' in claim) return claim.value;
    if (claim !== undefined && 'waitMs' in claim) {
      const value = await cache.follow(key, claim.waitMs);
      if (value !== undefined) return value;
    }
    return sendOne(key, item);
  };
  const assign = (value: Promise<string>, indexes: readonly number[]) =>
    watch(
      work,
      value.then((text) => {
        const result = codec.decode(text);
        for (const i of indexes) results[i] = result;
      }),
    );

  // All in memory (a re-index of what was embedded before): no wait, not even for a promise.
  const looked = cache.lookup(keys);
  const found = Array.isArray(looked) ? looked : await looked;
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
      // Someone else's call failed (its request went away, say): this request obtains the text itself, once.
      const value = pending.value.catch(() => {
        const again = cache.inFlight(key);
        if (again) return again.value;
        const mineNow = obtain(key, items[i]!);
        cache.begin(key, mineNow);
        return mineNow;
      });
      assign(value, [i]);
      return;
    }
    sent.set(key, [i]);
    sendItems.push(items[i]!);
    sendKeys.push(key);
    // Under way from now on: a request that arrives while this one asks the shared tier waits for this one.
    const answer = deferred<string>();
    cache.begin(key, answer.promise);
    answers.push(answer);
  });

  // Of the texts this instance sends, those another instance is sending already are waited for (docs/embedding-cache.md).
  const claims = sendKeys.length > 0 ? await cache.claim(sendKeys) : [];
  const leadItems: I[] = [];
  const leadAnswers: typeof answers = [];
  const leadKeys: string[] = [];
  claims.forEach((claim, j) => {
    const key = sendKeys[j]!;
    const answer = answers[j]!;
    if ('lead' in claim) {
      leadItems.push(sendItems[j]!);
      leadKeys.push(key);
      leadAnswers.push(answer);
      return;
    }
    hits++;
    if ('value' in claim) {
      answer.resolve(claim.value);
      const result = codec.decode(claim.value);
      for (const i of sent.get(key)!) results[i] = result;
      return;
    }
    cache
      .follow(key, claim.waitMs)
      .then((value) => value ?? sendOne(key, sendItems[j]!))
      .then(answer.resolve, answer.reject);
    assign(answer.promise, sent.get(key)!);
  });
  lifetime.cacheHits = (lifetime.cacheHits ?? 0) + hits;
  state.telemetry.cacheLookups(hits, leadItems.length);
  try {
    if (leadItems.length > 0) {
      let promises: Array<Promise<O>>;
      try {
        promises = state.queue.submit(leadItems, lifetime, undefined);
      } catch (err) {
        // Refused whole (a full queue, say): nobody waits for these texts from this request.
        cache.release(leadKeys);
        for (const answer of leadAnswers) answer.reject(err);
        throw err;
      }
      promises.forEach((promise, j) => {
        const key = leadKeys[j]!;
        const answer = leadAnswers[j]!;
        const done = promise.then(
          (result) => {
            const value = codec.encode(result);
            cache.remember([[key, value]]);
            for (const i of sent.get(key)!) results[i] = result;
            answer.resolve(value);
          },
          (err: unknown) => {
            cache.release([key]);
            answer.reject(err);
            throw err;
          },
        );
        watch(work, done);
      });
    }
    if (work.length > 0) await untilCancelled(lifetime, Promise.all(work));
    return results;
  } catch (err) {
    // As submitAll: a cancelled request answers with its cancellation's reason; one failed text ends the request.
    if (lifetime.cancelled) throw lifetime.reason;
    lifetime.cancel(err);
    throw err;
  }
}
