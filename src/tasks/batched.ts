// What the batched task types share: inputs cut into chunks, every chunk submitted to the endpoint's queue, results regrouped per input.
import type { Cancellation } from '../cancellation.js';
import { chunkText, type Chunk } from '../chunking/chunker.js';
import type { ChunkingSettings } from '../chunking/settings.js';
import type { BatchQueue } from '../dispatch/batch-queue.js';
import type { DispatchSettings } from '../services/types.js';

/** Each input's chunks, and every chunk's text as it is sent (cut to the endpoint's input limit), flattened in input order. */
export interface ChunkedInputs {
  inputs: string[];
  chunks: Chunk[][];
  texts: string[];
  /** Whether each flattened text was cut before it was sent. */
  truncated: boolean[];
}

export function chunkInputs(inputs: string[], settings: ChunkingSettings, prepare: (text: string) => string): ChunkedInputs {
  const chunks = inputs.map((input) => chunkText(input, settings));
  const texts: string[] = [];
  const truncated: boolean[] = [];
  chunks.forEach((list, i) => {
    for (const c of list) {
      const original = inputs[i]!.slice(c.start, c.end);
      const sent = prepare(original);
      texts.push(sent);
      truncated.push(sent.length < original.length);
    }
  });
  return { inputs, chunks, texts, truncated };
}

/** Results of the flattened chunks, handed back per input. */
export function perInput<R>(chunked: ChunkedInputs, results: readonly R[]): R[][] {
  let next = 0;
  return chunked.chunks.map((list) => results.slice(next, (next += list.length)));
}

/**
 * Submits a request's items and waits for all of them. A cancelled request (timed out, client
 * gone) answers with the cancellation's reason (408), not the queue's; when one item fails, the
 * rest of the request's work is no longer wanted.
 */
export async function submitAll<I, O, G>(queue: BatchQueue<I, O, G>, items: readonly I[], lifetime: Cancellation, group: G): Promise<O[]> {
  try {
    return await Promise.all(queue.submit(items, lifetime, group));
  } catch (err) {
    if (lifetime.cancelled) throw lifetime.reason;
    lifetime.cancel(err);
    throw err;
  }
}

/** An input the upstream found too large on its own, cut in half for another try. */
export const halve = (text: string): string | undefined => (text.length <= 1 ? undefined : text.slice(0, Math.ceil(text.length / 2)));

/**
 * An `_update`'s dispatch settings applied to a live queue. The batch size is set only when the
 * configured one changed, so a size learned from the upstream survives other updates.
 */
export function applyDispatch<I, O, G>(queue: BatchQueue<I, O, G>, next: DispatchSettings, previous: DispatchSettings, defaultBatchSize: number): void {
  if (next.batchSize !== previous.batchSize) queue.setBatchSize(next.batchSize ?? defaultBatchSize);
  if (next.maxConcurrentRequests !== previous.maxConcurrentRequests) queue.setMaxInFlight(next.maxConcurrentRequests);
}
