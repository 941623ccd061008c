// Hugging Face upstream failures → service errors, and whether to retry, split or give up (SPEC §3).
import { errors } from '../../errors.js';
import type { SendFailure } from '../../limiter/batch-queue.js';
import { CALL_TIMED_OUT } from '../http-transport.js';
import { BLOCKED_HOST } from '../upstream-guard.js';

const MAX_MESSAGE = 1000;

/** The upstream's own message: `{"error": "…"}` (serverless, TEI, TGI), else the body's text. */
export function upstreamMessage(text: string): { message: string; json: Record<string, unknown> | undefined } {
  let json: Record<string, unknown> | undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  const error = json?.error;
  const message = typeof error === 'string' ? error : Array.isArray(error) ? error.map(String).join('; ') : text.trim();
  return { message: message.length > MAX_MESSAGE ? message.slice(0, MAX_MESSAGE) + '...' : message, json };
}

/** `Retry-After: 3` or an HTTP date → milliseconds. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const BATCH_LIMIT = /batch size \d+ > maximum allowed batch size (\d+)/i;

export function mapUpstreamStatus(
  status: number,
  bodyText: string,
  headers: Record<string, string | string[] | undefined>,
  inferenceId: string,
): SendFailure {
  const { message, json } = upstreamMessage(bodyText);
  const reason = (prefix: string) =>
    `${prefix} for request from inference entity id [${inferenceId}] status [${status}]. Error message: [${message}]`;
  const waitMs = retryAfterMs(headers['retry-after']);
  const batchLimit = status === 422 ? BATCH_LIMIT.exec(message) : null;

  if (status === 429) return { error: errors.upstream(429, reason('Received a rate limit status code')), retry: 'backoff', waitMs };
  if (status === 502 || status === 503) {
    const estimated = typeof json?.estimated_time === 'number' ? json.estimated_time * 1000 : undefined;
    return { error: errors.upstream(400, reason('Received a rate limit status code')), retry: 'backoff', waitMs: estimated ?? waitMs };
  }
  if (status >= 500) return { error: errors.upstream(400, reason('Received a server error status code')), retry: 'none' };
  if (status === 413 || batchLimit) {
    return {
      error: errors.upstream(413, reason('Received a content too large status code')),
      retry: 'split',
      maxBatchSize: batchLimit ? Number(batchLimit[1]) : undefined,
    };
  }
  if (status === 401 || status === 403) return { error: errors.upstream(401, reason('Received an authentication error status code')), retry: 'none' };
  if (status >= 300 && status < 400) return { error: errors.upstream(status, reason('Unhandled redirection')), retry: 'none' };
  return { error: errors.upstream(status, reason('Received an unsuccessful status code')), retry: 'none' };
}

/** Network failures: all are retried; an unknown host ends as "Invalid host", the rest as unreachable. */
export function mapNetworkError(err: unknown, url: string, inferenceId: string): SendFailure {
  const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code ?? '';
  if (code === BLOCKED_HOST) {
    const reason = (err as Error).message ?? (err as { cause?: Error }).cause?.message;
    return { error: errors.upstreamRefused(inferenceId, reason), retry: 'none' };
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { error: errors.invalidHost(url), retry: 'backoff' };
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
