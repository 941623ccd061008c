// rerank on the wire (docs/hugging-face-protocols.md#rerank): TEI's /rerank and Inference Endpoints' sentence-ranking
// body, every spelling of the answer, and the operation they make.
import { badAnswer, describeShape, isJsonObject, postJson, type JsonAnswer } from './call.js';
import type { TaskWire, WireContext } from './task-wire.js';

/** `return_text` is sent only when documents are wanted; TEI has no `top_n` (the answer is cut locally). */
function rerankRequest(query: string, texts: readonly string[], returnText: boolean): string {
  return JSON.stringify(returnText ? { query, texts, return_text: true } : { query, texts });
}

/**
 * One score per text sent, in the order sent. Accepts `[{"index","score","text"?}]` (TEI),
 * `relevance_score` for `score`, and the list under `results`; a text the upstream sends back
 * (`text`, `document.text`) is not used.
 * Anything else, an index out of range, a text scored twice or not at all throws SendError.
 */
function parseRerank(answer: JsonAnswer, textCount: number, inferenceId: string): number[] {
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
  const missing = out.findIndex((s) => s === undefined);
  if (missing >= 0) {
    throw badAnswer(inferenceId, `sent ${textCount} texts but received ${list.length} scores`);
  }
  return out as number[];
}

/** One rerank endpoint: one POST per batch of texts, to its url. */
export function rerankWire({ transport }: WireContext): TaskWire<'rerank'> {
  return ({ inferenceId, settings, apiKey, telemetry }) => {
    const call = { url: settings.url!, apiKey, inferenceId, telemetry };
    return {
      upstreamUrls: [call.url],
      operations: {
        score: async (query, texts, returnText, signal) =>
          parseRerank(
            await postJson(transport, call, rerankRequest(query, texts, returnText), signal),
            texts.length,
            inferenceId,
          ),
      },
    };
  };
}
