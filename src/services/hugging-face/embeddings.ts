// The text embedding call to Hugging Face: build the request, send it, map failures, parse the answer.
import { errors, EsError } from '../../errors.js';
import { BatchSendError } from '../../limiter/batch-queue.js';
import { type HttpTransport, RESPONSE_TOO_LARGE } from '../http-transport.js';
import type { Embedding } from '../types.js';
import { parseEmbeddingResponse } from './responses.js';
import type { HfSecrets, HfServiceSettings } from './settings.js';
import { mapNetworkError, mapUpstreamStatus } from './upstream-errors.js';

export interface HfEndpoint {
  inferenceId: string;
  settings: HfServiceSettings;
  secrets: HfSecrets;
}

/** A `url` is used as given; hosted mode (`model_id` alone) targets the serverless API's feature-extraction pipeline. */
export function embeddingUrl(settings: HfServiceSettings, hfApiBase: string): string {
  if (settings.url) return settings.url;
  return `${hfApiBase}/models/${settings.model_id}/pipeline/feature-extraction`;
}

export function requestHeaders(apiKey: string): Record<string, string> {
  return {
    authorization: `Bearer ${apiKey}`,
    'content-type': 'application/json',
    accept: 'application/json',
  };
}

/** Cuts each input to `max_input_tokens × 3` characters, when that setting is present. */
export function truncateInput(text: string, settings: HfServiceSettings): string {
  const max = settings.max_input_tokens;
  return max !== undefined && text.length > max * 3 ? text.slice(0, max * 3) : text;
}

/**
 * Embeds `inputs` (one upstream request). Throws BatchSendError carrying the mapped error and
 * the retry policy of SPEC §3.
 */
export async function embed(
  transport: HttpTransport,
  endpoint: HfEndpoint,
  hfApiBase: string,
  inputs: string[],
  signal: AbortSignal,
): Promise<Embedding[]> {
  const url = embeddingUrl(endpoint.settings, hfApiBase);
  let res;
  try {
    res = await transport.post(url, requestHeaders(endpoint.secrets.api_key), JSON.stringify({ inputs }), signal);
  } catch (err) {
    if (signal.aborted) throw err;
    if ((err as { code?: string }).code === RESPONSE_TOO_LARGE) {
      throw new BatchSendError({ error: errors.badUpstreamResponse(endpoint.inferenceId, 'the answer is larger than the limit for upstream answers'), retry: 'none' });
    }
    throw new BatchSendError(mapNetworkError(err, url, endpoint.inferenceId));
  }
  if (res.status < 200 || res.status >= 300) {
    throw new BatchSendError(mapUpstreamStatus(res.status, res.text, res.headers, endpoint.inferenceId));
  }
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    throw new BatchSendError({ error: errors.badUpstreamResponse(endpoint.inferenceId, 'the body is not JSON'), retry: 'none' });
  }
  try {
    const vectors = parseEmbeddingResponse(res.text, body, inputs.length, endpoint.inferenceId);
    const dims = endpoint.settings.dimensions;
    const got = vectors[0]!.values.length;
    if (dims !== undefined && got !== dims) {
      throw errors.badUpstreamResponse(endpoint.inferenceId, `received embeddings of ${got} dimensions where the endpoint has ${dims}`);
    }
    return vectors;
  } catch (err) {
    if (err instanceof EsError) throw new BatchSendError({ error: err, retry: 'none' });
    throw err;
  }
}
