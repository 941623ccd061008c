// TGI's native protocol on the wire: POST /generate and /generate_stream with {"inputs","parameters"}, the answer, and
// the stream's token events.
import type { GenerationChunk, GenerationRequest } from '../inference-service.js';
import { badAnswer, describeShape, isJsonObject, type JsonAnswer } from './call.js';
import {
  eventObject,
  normaliseFinishReason,
  promptOf,
  type GenerationProtocol,
  type StreamReading,
} from './generation-protocol.js';
import { isDone } from '../upstream/sse.js';

/**
 * `/generate` and `/generate_stream` of the server a url names: its base, either route itself, or its chat route (a
 * completion endpoint the creation check moved from chat to `/generate`, docs/hugging-face-protocols.md#text-generation).
 */
export function generateUrls(url: string): { generate: string; stream: string } {
  const parsed = new URL(url);
  const base = parsed.pathname
    .replace(/\/+$/, '')
    .replace(/\/generate(_stream)?$|(\/v1)?\/chat\/completions$|\/v1$/, '');
  const at = (route: string) => {
    const u = new URL(parsed.toString());
    u.pathname = `${base}/${route}`;
    return u.toString();
  };
  return { generate: at('generate'), stream: at('generate_stream') };
}

/**
 * `parameters` of TGI and of the text2text pipeline (TGI's `GenerateParameters`, and transformers'
 * `generate()` arguments of the same names). `temperature` 0 is not sent (TGI refuses it;
 * leaving it out is greedy decoding, which is what 0 asks for); `top_p` 1 is not sent (TGI
 * refuses it; it means no filtering).
 */
export function samplingParameters(request: GenerationRequest): Record<string, unknown> {
  const parameters: Record<string, unknown> = {};
  if (request.maxTokens !== undefined) parameters.max_new_tokens = request.maxTokens;
  if (request.temperature !== undefined && request.temperature > 0) parameters.temperature = request.temperature;
  if (request.topP !== undefined && request.topP < 1) parameters.top_p = request.topP;
  if (request.topK !== undefined) parameters.top_k = request.topK;
  if (request.repetitionPenalty !== undefined) parameters.repetition_penalty = request.repetitionPenalty;
  return parameters;
}

/**
 * The body: the prompt as `inputs`, the answer without the prompt, and on streams `details`,
 * without which TGI reports no finish reason. `seed` is TGI's alone (text2text has none).
 */
export function generateRequest(request: GenerationRequest, stream: boolean): string {
  const parameters = samplingParameters(request);
  if (request.seed !== undefined) parameters.seed = request.seed;
  if (request.stop !== undefined && request.stop.length > 0) parameters.stop = request.stop;
  parameters.return_full_text = false;
  if (stream) parameters.details = true;
  return JSON.stringify({ inputs: promptOf(request.messages), parameters });
}

/** `{"generated_text": …}` (TGI) or `[{"generated_text": …}]` (its compat route, the serverless API, text2text). */
export function parseGeneratedText(answer: JsonAnswer, inferenceId: string): string {
  const body = answer.body;
  const first: unknown = Array.isArray(body) && body.length === 1 ? body[0] : body;
  if (!isJsonObject(first) || typeof first.generated_text !== 'string') {
    throw badAnswer(inferenceId, `expected {"generated_text": string} or a list of one, got ${describeShape(body)}`);
  }
  return first.generated_text;
}

/**
 * One event of `/generate_stream`: a token (special ones, like the closing `</s>`, carry no text
 * for the reader), the last one with `details.finish_reason`; or `{"error","error_type"}`.
 * TGI sends no `[DONE]`; one from a proxy is understood.
 */
export function readGenerateEvent(data: string, inferenceId: string): StreamReading {
  if (isDone(data)) return { done: true };
  const payload = eventObject(data, inferenceId, 'a token event');
  if ('error' in payload) return { error: payload };
  const token = isJsonObject(payload.token) ? payload.token : undefined;
  const text =
    token && token.special !== true && typeof token.text === 'string' && token.text !== '' ? token.text : undefined;
  const finish = normaliseFinishReason(isJsonObject(payload.details) ? payload.details.finish_reason : undefined);
  if (text === undefined && finish === undefined) return undefined;
  const chunk: GenerationChunk = { choices: [{ index: 0, delta: text === undefined ? {} : { content: text } }] };
  if (finish !== undefined) chunk.choices[0]!.finish_reason = finish;
  return { chunk };
}

/** TGI native at the server `url` names. */
export function textGenerationProtocol(url: string): GenerationProtocol {
  const urls = generateUrls(url);
  return {
    streams: true,
    urls: [urls.generate, urls.stream],
    request: (request, stream) => ({
      url: stream ? urls.stream : urls.generate,
      body: generateRequest(request, stream),
    }),
    parseAnswer: parseGeneratedText,
    readEvent: readGenerateEvent,
  };
}
