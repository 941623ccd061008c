// rerank: documents scored against a query, split into upstream requests of at most batch_size, merged back, sorted,
// cut to top_n.
import { RerankRequest, RerankResult } from '../../schemas/rerank.js';
import { errors } from '../errors.js';
import { parseBooleanParam } from '../request-params.js';
import type { RerankOptions } from '../services/inference-service.js';
import { batchedLifecycle, halve } from './batched.js';
import { submitAll, type QueueState } from './queue-lifecycle.js';
import { inputChecker, readInputs } from './input.js';
import { PROBE_TEXT, type Task } from './task-module.js';

/** Documents per upstream request unless the endpoint sets `batch_size`: TEI's max_client_batch_size. */
const DEFAULT_BATCH_SIZE = 32;

/** One request's query and what it asks of the upstream: its documents batch only with each other. */
interface RerankGroup {
  query: string;
  options: RerankOptions;
}

const checkStructure = inputChecker('rerank', RerankRequest);

/** `?top_n=2&return_documents=true`, as Elasticsearch 8 clients send them, read like the body fields. */
function fromQuery(query: Readonly<Record<string, string | undefined>>): Partial<RerankRequest> {
  const out: Partial<RerankRequest> = {};
  if (query.top_n !== undefined) {
    const n = /^-?\d+$/.test(query.top_n) ? Number(query.top_n) : NaN;
    if (!Number.isSafeInteger(n))
      throw errors.badRequest(`Failed to parse value [${query.top_n}] of parameter [top_n] as an integer`);
    out.top_n = n;
  }
  if (query.return_documents !== undefined) out.return_documents = parseBooleanParam(query.return_documents);
  return out;
}

/** One document of a rerank answer: its index in the input, its score, and the caller's own text when asked. */
export interface RankedDocument {
  index: number;
  score: number;
  text?: string;
}

/**
 * The documents best first (ties keep input order), at most `topN`. `text` is the caller's own document as sent: the
 * upstream's copy may be cut (TEI truncates long texts, and a document refused as too large is halved before it is
 * sent again). A document the upstream left out (it honoured `top_n`) is below the best `topN` of its own upstream
 * request, so below the answer's.
 */
function ranked(
  scores: ReadonlyArray<number | undefined>,
  inputs: readonly string[],
  topN: number | undefined,
  returnDocuments: boolean,
): RankedDocument[] {
  const order = scores
    .flatMap((score, i) => (score === undefined ? [] : [i]))
    .sort((a, b) => scores[b]! - scores[a]! || a - b);
  const kept = topN === undefined ? order : order.slice(0, topN);
  return kept.map((i) =>
    returnDocuments ? { index: i, score: scores[i]!, text: inputs[i]! } : { index: i, score: scores[i]! },
  );
}

/** `{"rerank":[{"index":…,"relevance_score":…,"text"?:…}]}`. */
function rerankJson(documents: readonly RankedDocument[]): string {
  const entries = documents.map((d) => {
    const head = `{"index":${d.index},"relevance_score":${JSON.stringify(d.score)}`;
    return d.text === undefined ? `${head}}` : `${head},"text":${JSON.stringify(d.text)}}`;
  });
  return `{"rerank":[${entries.join(',')}]}`;
}

export const rerankTask: Task<
  'rerank',
  RerankRequest,
  QueueState<string, number | undefined, RerankGroup>,
  RerankRequest,
  RankedDocument[]
> = {
  taskType: 'rerank',
  requestSchema: RerankRequest,
  resultSchema: RerankResult,
  chunked: false,
  queryParameters: ['top_n', 'return_documents'],

  checkBody(body, query, named) {
    const request = checkStructure(body, query, named);
    const extra = fromQuery(query);
    return {
      ...request,
      top_n: request.top_n ?? extra.top_n,
      return_documents: request.return_documents ?? extra.return_documents,
    };
  },

  ...batchedLifecycle<'rerank', string, number | undefined, RerankGroup>(
    DEFAULT_BATCH_SIZE,
    (context) => (texts, group, signal) =>
      context.current().operations.score(group.query, texts, group.options, signal),
    halve,
  ),

  async run(state, endpoint, body, lifetime) {
    if (body.query === undefined || body.query === null) throw errors.queryNull('rerank');
    const inputs = readInputs(body.input);
    // Top-level fields override the request's task_settings, which override the stored ones.
    const settings = endpoint.taskSettings(body.task_settings);
    const topN = body.top_n ?? settings.top_n;
    if (topN !== undefined && topN !== null && topN <= 0)
      throw errors.validation([`[top_n] Invalid value [${topN}]. [top_n] must be a positive integer`]);
    const returnDocuments = body.return_documents ?? settings.return_documents ?? undefined;
    state.queue.checkRoom();
    // Sent upstream as Elasticsearch sends them, and applied here as well (docs/api.md#rerank).
    const options = { returnText: returnDocuments, topN: topN ?? undefined };
    const scores = await submitAll(state.queue, inputs, lifetime, { query: body.query, options });
    return ranked(scores, inputs, topN ?? undefined, returnDocuments ?? false);
  },

  resultJson: rerankJson,

  // One text scored against one query, with the endpoint's stored top_n and return_documents as Elasticsearch's check
  // sends them: the smallest call the rerank wire makes.
  async validate(endpoint, signal) {
    const { top_n, return_documents } = endpoint.taskSettings(undefined);
    await endpoint.operations.score(PROBE_TEXT, [PROBE_TEXT], { returnText: return_documents, topN: top_n }, signal);
    return {};
  },
};
