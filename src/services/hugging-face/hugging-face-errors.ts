// Hugging Face upstream failures → service errors, and whether to retry, split or give up
// (docs/hugging-face-protocols.md#upstream-errors).
import { errors } from '../../errors.js';
import { maskKeyEcho } from '../../redaction.js';
import { DEFAULT_RETRY, retryDelay } from '../../dispatch/retry.js';
import { SendError, type SendFailure } from '../send-error.js';
import { CALL_TIMED_OUT } from '../upstream/http-transport.js';
import { BLOCKED_HOST } from '../upstream/upstream-guard.js';
import { isJsonObject } from './json.js';

const MAX_MESSAGE = 1000;

/**
 * The upstream's own message: `{"error": "…"}` (serverless, TEI, TGI), else the body's text. The
 * key is masked in the message as it will be shown, after the JSON is decoded (a key echoed as
 * `sec\"ret` is `sec"ret` only then) and before it is cut short (which could keep half a key).
 */
function upstreamMessage(body: string, apiKey: string): { message: string; json: Record<string, unknown> | undefined } {
  // Masked before the JSON is read too: a key echoed raw inside a JSON string (`#\"/#`) is decoded into
  // something else (`#"/#`) that the mask after would no longer find, yet all but one character of it.
  const text = maskKeyEcho(body, apiKey);
  let json: Record<string, unknown> | undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (isJsonObject(parsed)) json = parsed;
  } catch {
    json = undefined;
  }
  const error = json?.error;
  const raw = typeof error === 'string' ? error : Array.isArray(error) ? error.map(String).join('; ') : text.trim();
  const message = maskKeyEcho(raw, apiKey);
  return { message: message.length > MAX_MESSAGE ? message.slice(0, MAX_MESSAGE) + '...' : message, json };
}

/** `Retry-After: 3` or an HTTP date → milliseconds. */
function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const BATCH_LIMIT = /batch size \d+ > maximum allowed batch size (\d+)/i;

/**
 * A paused Inference Endpoint: its proxy answers 400 `Bad Request: Invalid state` (as reported to
 * Elasticsearch, elastic/elasticsearch#112033), the router `Bad Request: The endpoint is paused, …`.
 */
const PAUSED = /\binvalid state\b|\bendpoint is paused\b/i;

/** Said after the upstream's words when a paused endpoint answered: only resuming it helps. */
const PAUSED_HINT =
  'The Hugging Face Inference Endpoint is paused: resume it (on its page at https://endpoints.huggingface.co, or through the Inference Endpoints API) and try again.';

/**
 * TGI's answer on its chat route for a model without a chat template (a base model): 422 `Template error: template not
 * found` (its router's InferError::TemplateError of minijinja's TemplateNotFound, router/src/infer/mod.rs).
 */
const NO_CHAT_TEMPLATE = /\bTemplate error: template not found\b/i;

/** Whether a failure is a chat route's refusal for want of a chat template. */
export function missingChatTemplate(err: unknown): err is SendError {
  return (
    err instanceof SendError && err.failure.error.status === 422 && NO_CHAT_TEMPLATE.test(err.failure.error.reason)
  );
}

/** How long the shipped retry policy keeps trying a failure before it gives up: the waits between its attempts. */
function retrySeconds(failure: SendFailure): number {
  let ms = 0;
  for (let attempt = 1; attempt < DEFAULT_RETRY.maxAttempts; attempt++)
    ms += retryDelay(DEFAULT_RETRY, attempt, failure);
  return Math.round(ms / 100) / 10;
}

/**
 * Said after the upstream's words on a 503 that is not a serverless model loading: an Inference
 * Endpoint scaled to zero answers 503 while a replica starts (Hugging Face's autoscaling guide),
 * which takes minutes, longer than the retries last.
 */
function wakingHint(seconds: number): string {
  return (
    'The Hugging Face endpoint is not ready: an Inference Endpoint scaled to zero answers 503 while it wakes up, which can take a few minutes. ' +
    `Inference requests are retried for up to ${seconds} s; try again shortly, or keep at least one replica running.`
  );
}

/**
 * An upstream's error answer as the service's error. Its message is quoted in the reason, which
 * reaches the caller and the warn line: an upstream that echoes the key it was sent (in any
 * encoding) gets it masked here, the one place every upstream failure passes.
 */
export function mapUpstreamStatus(
  status: number,
  bodyText: string,
  headers: Record<string, string | string[] | undefined>,
  inferenceId: string,
  apiKey: string,
): SendFailure {
  const { message, json } = upstreamMessage(bodyText, apiKey);
  const reason = (prefix: string) =>
    `${prefix} for request from inference entity id [${inferenceId}] status [${status}]. Error message: [${message}]`;
  const waitMs = retryAfterMs(headers['retry-after']);
  // TEI answers a batch above its maximum with 413 up to v1.8 and with 422 since v1.9, with the same message.
  const batchLimit = status === 422 || status === 413 ? BATCH_LIMIT.exec(message) : null;

  if (status === 429)
    return { error: errors.upstream(429, reason('Received a rate limit status code')), retry: 'backoff', waitMs };
  if (status === 502 || status === 503) {
    const estimated = typeof json?.estimated_time === 'number' ? json.estimated_time * 1000 : undefined;
    const failure: SendFailure = {
      error: errors.upstream(400, reason('Received a rate limit status code')),
      retry: 'backoff',
      waitMs: estimated ?? waitMs,
    };
    if (status === 503 && estimated === undefined) {
      failure.error = errors.upstream(
        400,
        `${reason('Received a rate limit status code')}. ${wakingHint(retrySeconds(failure))}`,
      );
    }
    return failure;
  }
  if (status >= 500)
    return { error: errors.upstream(400, reason('Received a server error status code')), retry: 'none' };
  if (status === 413 || batchLimit) {
    return {
      error: errors.upstream(413, reason('Received a content too large status code')),
      retry: 'split',
      maxBatchSize: batchLimit ? Number(batchLimit[1]) : undefined,
    };
  }
  if (status === 401 || status === 403)
    return { error: errors.upstream(401, reason('Received an authentication error status code')), retry: 'none' };
  if (status >= 300 && status < 400)
    return { error: errors.upstream(status, reason('Unhandled redirection')), retry: 'none' };
  if (status === 400 && PAUSED.test(message)) {
    return {
      error: errors.upstream(400, `${reason('Received an unsuccessful status code')}. ${PAUSED_HINT}`),
      retry: 'none',
    };
  }
  return { error: errors.upstream(status, reason('Received an unsuccessful status code')), retry: 'none' };
}

/** The host part of a url, for messages (never its path or query, which may carry tokens). */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/**
 * Network failures: all are retried. A name that does not resolve says so (Elasticsearch's
 * "Invalid host [url], please check that the URL is correct" sends users to check a url that
 * is right); the rest say what happened to the connection.
 */
export function mapNetworkError(err: unknown, url: string, inferenceId: string): SendFailure {
  const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code ?? '';
  if (code === BLOCKED_HOST) {
    const reason = (err as Error).message ?? (err as { cause?: Error }).cause?.message;
    return { error: errors.upstreamRefused(inferenceId, reason), retry: 'none' };
  }
  // A name that does not exist will not exist a second later; a failed lookup (EAI_AGAIN) may succeed.
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return {
      error: errors.hostNotResolved(inferenceId, hostOf(url), code),
      retry: code === 'ENOTFOUND' ? 'none' : 'backoff',
    };
  const descriptions: Record<string, string> = {
    ECONNREFUSED: 'the connection was refused',
    ECONNRESET: 'the connection was reset',
    UND_ERR_SOCKET: 'the connection closed unexpectedly',
    UND_ERR_CONNECT_TIMEOUT: 'connecting timed out',
    UND_ERR_HEADERS_TIMEOUT: 'the upstream did not answer in time',
    UND_ERR_BODY_TIMEOUT: 'the upstream stopped sending its answer',
    EPIPE: 'the connection was closed while sending',
    [CALL_TIMED_OUT]: 'the upstream did not answer within UPSTREAM_TIMEOUT',
  };
  const detail = descriptions[code] ?? `a network error occurred${code ? ` [${code}]` : ''}`;
  return { error: errors.upstreamUnreachable(inferenceId, detail), retry: 'backoff' };
}

/** TGI's `error_type` values and the HTTP status each stands for when it arrives inside a 200 stream. */
const ERROR_TYPE_STATUS: Record<string, number> = {
  overloaded: 429,
  validation: 422,
  template_error: 422,
  tool_error: 422,
  missing_template_variable: 422,
  generation: 424,
  incomplete_generation: 500,
  incomplete_generation_stream: 500,
};

const OVERLOADED = /overloaded/i;

/**
 * An in-band error's payload read again from its text with the key masked first. A key echoed raw inside a JSON string
 * holding an escape (`\/`, `\\`) parses to a text that is no longer the key, which the mask after would not find;
 * masked in the text, it is `[REDACTED]` once parsed. The first reading stands when the text holds no key or the masked
 * text is no longer an error object.
 */
function reparsedMasked(raw: string, apiKey: string, parsed: Record<string, unknown>): Record<string, unknown> {
  const masked = maskKeyEcho(raw, apiKey);
  if (masked === raw) return parsed;
  try {
    const again: unknown = JSON.parse(masked);
    return isJsonObject(again) && 'error' in again ? again : parsed;
  } catch {
    return parsed;
  }
}

/**
 * An error an upstream sent inside a 2xx answer or stream, as the HTTP status it stands for
 * (the table in docs/hugging-face-protocols.md#upstream-errors then applies: an overload before the first token is
 * retried like a 429).
 * Shapes: `{"error":"…","error_type":"…"}` (TGI native, old TGI chat, serverless),
 * `{"error":{"message":"…","http_status_code":422}}` (TGI chat ≥ 2.4.1, 422 even for an overload),
 * `{"error":{"message","type","param","code"}}` (vLLM, OpenAI).
 */
export function mapInBandError(
  parsed: Record<string, unknown>,
  inferenceId: string,
  apiKey: string,
  /** The JSON text `parsed` was read from: read again with the key masked in it first, as upstreamMessage does. */
  raw?: string,
): SendFailure {
  const payload = raw === undefined ? parsed : reparsedMasked(raw, apiKey, parsed);
  const error = payload.error;
  const detail = isJsonObject(error) ? error : undefined;
  const message =
    typeof error === 'string'
      ? error
      : typeof detail?.message === 'string'
        ? detail.message
        : JSON.stringify(error ?? payload);
  const errorType = typeof payload.error_type === 'string' ? payload.error_type.toLowerCase() : undefined;
  const asStatus = (v: unknown) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{3}$/.test(v) ? Number(v) : NaN;
    return n >= 400 && n <= 599 ? n : undefined;
  };
  const status =
    errorType === 'overloaded' || OVERLOADED.test(message)
      ? 429
      : (asStatus(detail?.http_status_code) ??
        asStatus(detail?.code) ??
        (errorType ? ERROR_TYPE_STATUS[errorType] : undefined) ??
        500);
  return mapUpstreamStatus(status, JSON.stringify({ error: message }), {}, inferenceId, apiKey);
}
