// rerank on the wire (docs/hugging-face-protocols.md#rerank): TEI's /rerank and Inference Endpoints' sentence-ranking
// body, every spelling of the answer, and the operation they make.
import type { RerankOptions } from '../inference-service.js';
import { badAnswer, describeShape, isJsonObject, postJson, type JsonAnswer } from './call.js';
import type { TaskWire, WireContext } from './task-wire.js';

/**
 * Elasticsearch's hugging_face rerank body, in its order: `texts`, `query`, then `return_text` and `top_n` when the
 * request or the endpoint gives them (false included). TEI reads `return_text` and ignores `top_n`, answering every
 * text; a server that honours `top_n` answers the best only.
 */
function rerankRequest(query: string, texts: readonly string[], { returnText, topN }: RerankOptions): string {
  return JSON.stringify({ texts, query, return_text: returnText, top_n: topN });
}

/**
 * One score per text sent, in the order sent. Accepts `[{"index","score","text"?}]` (TEI),
 * `relevance_score` for `score`, and the list under `results`; a text the upstream sends back
 * (`text`, `document.text`) is not used. With `topN` sent, at least the best min(topN, texts) may be all that comes
 * back: the others are undefined.
 * Anything else, an index out of range, a text scored twice or too few scored throws SendError.
 */
function parseRerank(
  answer: JsonAnswer,
  textCount: number,
  inferenceId: string,
  topN: number | undefined,
): Array<number | undefined> {
  const body = answer.body;
  const list = isJsonObject(body) && Array.isArray(body.results) ? body.results : body;
  if (!Array.isArray(list))
    throw badAnswer(inferenceId, `expected a list of ${textCount} scores, got ${describeShape(body)}`);
  const out = new Array<number | undefined>(textCount);
  for (const [i, item] of list.entries()) {
    const score = isJsonObject(item) ? (item.score ?? item.relevance_score) : undefined;
    const index = isJsonObject(item) ? item.index : undefined;
    if (typeof score !== 'number' || !Number.isFinite(score) || typeof index !== 'number') {
      throw badAnswer(
        inferenceId,
        `score [${i}] is not {"index": number, "score": number}: got ${describeShape(item)}`,
      );
    }
    if (!Number.isInteger(index) || index < 0 || index >= textCount) {
      throw badAnswer(inferenceId, `score [${i}] has index [${index}] but ${textCount} texts were sent`);
    }
    if (out[index] !== undefined) throw badAnswer(inferenceId, `text [${index}] was scored twice`);
    out[index] = score;
  }
  if (topN === undefined ? list.length < textCount : list.length < Math.min(topN, textCount)) {
    const asked = topN === undefined ? '' : ` with top_n [${topN}]`;
    throw badAnswer(inferenceId, `sent ${textCount} texts${asked} but received ${list.length} scores`);
  }
  return out;
}

/** One rerank endpoint: one POST per batch of texts, to its url. */
export function rerankWire({ transport }: WireContext): TaskWire<'rerank'> {
  return ({ inferenceId, settings, apiKey, telemetry }) => {
    const call = { url: settings.url!, apiKey, inferenceId, telemetry };
    return {
      upstreamUrls: [call.url],
      operations: {
        score: async (query, texts, options, signal) =>
          parseRerank(
            await postJson(transport, call, rerankRequest(query, texts, options), signal),
            texts.length,
            inferenceId,
            options.topN,
          ),
      },
    };
  };
}
