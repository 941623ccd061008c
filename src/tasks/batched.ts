// What the batched task types share: inputs cut into chunks, their queue's batches of batch_size, results regrouped per
// input.
import { chunkInput, type Chunk } from '../chunking/chunker.js';
import { DEFAULT_CHUNKING_SETTINGS, type ChunkingSettings } from '../chunking/chunking-settings.js';
import type { SendBatch } from '../dispatch/endpoint-queue.js';
import type { BoundEndpoint, InputType } from '../services/inference-service.js';
import type { SettingsMap } from '../store/endpoint-store.js';
import type { TaskType } from '../inference-task-type.js';
import { inputPrefix, readInputs } from './input.js';
import { queueLifecycle } from './queue-lifecycle.js';
import type { DispatchContext } from './task-module.js';

/**
 * Each input's chunks, and every chunk's text as it is sent (after the input type's prefix, cut to the endpoint's input
 * limit), flattened in input order.
 */
export interface ChunkedInputs {
  inputs: string[];
  chunks: Chunk[][];
  texts: string[];
  /** Whether each flattened text was cut before it was sent. */
  truncated: boolean[];
}

function chunkInputs(
  inputs: string[],
  settings: ChunkingSettings,
  prefix: string,
  prepare: (text: string) => string,
): ChunkedInputs {
  const chunks = inputs.map((input) => chunkInput(input, settings));
  const texts: string[] = [];
  const truncated: boolean[] = [];
  chunks.forEach((list, i) => {
    for (const c of list) {
      // The prefix goes to the upstream only: offsets and chunk texts in the answer are the input's.
      const whole = prefix + inputs[i]!.slice(c.start, c.end);
      const sent = prepare(whole);
      texts.push(sent);
      truncated.push(sent.length < whole.length);
    }
  });
  return { inputs, chunks, texts, truncated };
}

/**
 * An embedding request's inputs, checked and chunked: its input_type (the prefix `prefixOf` gives it, or refused
 * without one) and task_settings checked, room in the endpoint's queue checked before any chunking work, then each
 * input cut into chunks.
 */
export function chunkRequest(
  queue: { checkRoom(): void },
  endpoint: BoundEndpoint<'text_embedding' | 'sparse_embedding'>,
  body: { input?: string | string[] | null; input_type?: string | null; task_settings?: SettingsMap | null },
  prefixOf?: (inputType: InputType) => string | undefined,
): ChunkedInputs {
  const inputs = readInputs(body.input);
  const prefix = inputPrefix(body.input_type, prefixOf);
  endpoint.taskSettings(body.task_settings);
  queue.checkRoom();
  return chunkInputs(inputs, endpoint.chunking ?? DEFAULT_CHUNKING_SETTINGS, prefix, endpoint.operations.prepare);
}

/** Results of the flattened chunks, handed back per input. */
export function perInput<R>(chunked: ChunkedInputs, results: readonly R[]): R[][] {
  let next = 0;
  return chunked.chunks.map((list) => results.slice(next, (next += list.length)));
}

/** An input the upstream found too large on its own, cut in half for another try. */
export const halve = (text: string): string | undefined =>
  text.length <= 1 ? undefined : text.slice(0, Math.ceil(text.length / 2));

/**
 * The lifecycle of a batched task type (embeddings, rerank): batches of the endpoint's batch_size
 * (`defaultBatchSize` unless it sets one) under the service-wide bound on upstream requests in
 * flight. `send` makes the endpoint's upstream call for one batch; `shrink` cuts an item the
 * upstream found too large.
 */
export function batchedLifecycle<T extends TaskType, I, O, G>(
  defaultBatchSize: number,
  send: (context: DispatchContext<T>) => SendBatch<I, O, G>,
  shrink: (item: I) => I | undefined,
) {
  return queueLifecycle<T, I, O, G>(
    (dispatch) => dispatch.batchSize ?? defaultBatchSize,
    (context) => ({ send: send(context), shrink, inflight: context.inflight }),
  );
}
