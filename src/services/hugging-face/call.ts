// One POST to a Hugging Face server with the service's headers: transport failures, error statuses and non-JSON answers
// become SendErrors.
import type { StopSignal } from '../../cancellation.js';
import { SendError } from '../send-error.js';
import { EsError, errors, type ErrorCause } from '../../errors.js';
import { maskKeyEcho } from '../../redaction.js';
import type { EndpointTelemetry } from '../../telemetry.js';
import { CALL_TIMED_OUT, RESPONSE_TOO_LARGE, type HttpTransport } from '../upstream/http-transport.js';
import { mapNetworkError, mapUpstreamStatus } from './hugging-face-errors.js';

export function requestHeaders(apiKey: string, accept = 'application/json'): Record<string, string> {
  return {
    authorization: `Bearer ${apiKey}`,
    'content-type': 'application/json',
    accept,
  };
}

/** A parsed JSON value that is an object (not null, not an array). */
export { isJsonObject } from './json.js';

/**
 * A short description of a JSON value's shape for error messages; never the values themselves.
 * An object's keys are named, though, and an upstream may put anything there (the key it was
 * sent too): maskingFailures masks the key in the message this ends up in.
 */
export function describeShape(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    if (value.length === 0) return 'an empty array';
    const kinds = [
      ...new Set(value.slice(0, 50).map((v) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v))),
    ];
    return `an array of ${value.length} (${kinds.join(', ')})`;
  }
  if (typeof value === 'object') return `an object with keys [${Object.keys(value).slice(0, 10).join(', ')}]`;
  return `a ${typeof value}`;
}

/** Where one endpoint's requests go, with what key, and where each request is reported. */
export interface UpstreamCall {
  url: string;
  apiKey: string;
  inferenceId: string;
  telemetry?: EndpointTelemetry;
}

/** The status label of an upstream request that got no HTTP status. */
export const noStatus = (code: string | undefined) =>
  code === CALL_TIMED_OUT ? 'timeout' : code === RESPONSE_TOO_LARGE ? 'too_large' : 'network_error';

/**
 * A 2xx answer: its text as the upstream sent it (vectors can be passed through from it unchanged),
 * and its parsed body, parsed when first asked for; a parser that reads the text alone pays no
 * JSON.parse. A body that is not JSON throws the SendError of a malformed answer.
 */
export class JsonAnswer {
  private parsed: { value: unknown } | undefined;

  constructor(
    readonly text: string,
    private readonly inferenceId: string,
  ) {}

  get body(): unknown {
    if (!this.parsed) {
      try {
        this.parsed = { value: JSON.parse(this.text) as unknown };
      } catch {
        throw badAnswer(this.inferenceId, 'the body is not JSON');
      }
    }
    return this.parsed.value;
  }
}

/**
 * POSTs `payload` (already JSON) to `url` and answers the 2xx body, parsed. Throws SendError
 * carrying the mapped error and its retry policy (docs/hugging-face-protocols.md#upstream-errors); an abort is rethrown
 * as it is.
 */
export async function postJson(
  transport: HttpTransport,
  call: UpstreamCall,
  payload: string,
  signal: StopSignal,
): Promise<JsonAnswer> {
  const started = performance.now();
  let res;
  try {
    res = await transport.post(call.url, requestHeaders(call.apiKey), payload, signal);
  } catch (err) {
    if (signal.aborted) throw err;
    call.telemetry?.upstreamRequest(noStatus((err as { code?: string }).code), (performance.now() - started) / 1000);
    if ((err as { code?: string }).code === RESPONSE_TOO_LARGE) {
      throw new SendError({
        error: errors.badUpstreamResponse(call.inferenceId, 'the answer is larger than the limit for upstream answers'),
        retry: 'none',
      });
    }
    throw new SendError(mapNetworkError(err, call.url, call.inferenceId));
  }
  call.telemetry?.upstreamRequest(res.status, (performance.now() - started) / 1000);
  return answerOf(res, call.inferenceId, call.apiKey);
}

/**
 * A whole upstream answer: a 2xx JSON body parsed, anything else the SendError of
 * docs/hugging-face-protocols.md#upstream-errors.
 */
export function answerOf(
  res: { status: number; text: string; headers: Record<string, string | string[] | undefined> },
  inferenceId: string,
  apiKey: string,
): JsonAnswer {
  if (res.status < 200 || res.status >= 300) {
    throw new SendError(mapUpstreamStatus(res.status, res.text, res.headers, inferenceId, apiKey));
  }
  return new JsonAnswer(res.text, inferenceId);
}

/** A malformed answer: a 502 naming the problem, never retried. */
export function badAnswer(inferenceId: string, detail: string): SendError {
  return new SendError({ error: errors.badUpstreamResponse(inferenceId, detail), retry: 'none' });
}

const maskCause = (cause: ErrorCause, apiKey: string): ErrorCause => {
  const out: ErrorCause = { type: cause.type, reason: maskKeyEcho(cause.reason, apiKey) };
  if (cause.caused_by) out.caused_by = maskCause(cause.caused_by, apiKey);
  return out;
};

/**
 * `error` with `apiKey` masked in its reason and its causes' (any length, as upstreamMessage does); itself when it
 * holds no key.
 */
export function maskedError(error: EsError, apiKey: string): EsError {
  const reason = maskKeyEcho(error.reason, apiKey);
  const causedBy = error.causedBy && maskCause(error.causedBy, apiKey);
  if (reason === error.reason && JSON.stringify(causedBy) === JSON.stringify(error.causedBy)) return error;
  return new EsError(error.status, error.type, reason, causedBy, error.headers);
}

/** A failure (a SendError, an EsError, anything else as it is) with `apiKey` masked in what it says. */
function maskedFailure(err: unknown, apiKey: string): unknown {
  if (err instanceof SendError) {
    const error = maskedError(err.failure.error, apiKey);
    return error === err.failure.error ? err : new SendError({ ...err.failure, error });
  }
  return err instanceof EsError ? maskedError(err, apiKey) : err;
}

/**
 * An endpoint's operations whose failures never say its key. Messages are built from what an
 * upstream sent (describeShape names an unexpected answer's object keys, and the key may be one
 * of them), by every wire module: masking them here, where the key is known, covers them all
 * (docs/operations.md#storage-and-secrets).
 */
export function maskingFailures<O extends object>(operations: O, apiKey: string): O {
  const out: Record<string, unknown> = {};
  for (const [name, op] of Object.entries(operations)) {
    if (typeof op !== 'function') {
      out[name] = op;
      continue;
    }
    out[name] = (...args: unknown[]): unknown => {
      let result: unknown;
      try {
        result = (op as (...a: unknown[]) => unknown).apply(operations, args);
      } catch (err) {
        throw maskedFailure(err, apiKey);
      }
      return result instanceof Promise
        ? result.catch((err: unknown) => Promise.reject(maskedFailure(err, apiKey) as Error))
        : result;
    };
  }
  return out as O;
}
