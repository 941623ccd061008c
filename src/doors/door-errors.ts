// The service's errors as the doors' clients expect them: OpenAI's `{"error":{message,type,param,code}}` and the
// `{"error","error_type"}` of text-embeddings-inference and text-generation-inference, with the statuses those
// servers use (docs/doors.md#errors).
import { EsError } from '../errors.js';

/** An error answer: its status, its body and headers of its own (a Retry-After the error carries is kept). */
export interface DoorErrorAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** What went wrong, as far as a door's client cares. */
type Fault =
  | 'empty'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'no_route'
  | 'method'
  | 'input'
  | 'too_large'
  | 'timeout'
  | 'overloaded'
  | 'upstream_input'
  | 'upstream_overloaded'
  | 'upstream_unavailable'
  | 'upstream'
  | 'unavailable'
  | 'internal';

/** `… for request from inference entity id [x] status [N]. …`: an upstream's error answer, with its status. */
const UPSTREAM_STATUS = /for request from inference entity id \[[^\]]*\] status \[(\d{3})\]/;
/** The upstream could not be reached, answered what cannot be read, went silent, or may not be called. */
const UPSTREAM_FAILURE =
  /^(Failed to send request from inference entity id|Failed to parse the response for inference entity id|Refused to call the upstream of inference entity id|The upstream of inference entity id)/;

/** TEI's refusal of an empty `inputs` or `texts` (its ErrorType::Empty), e.g. `` `inputs` cannot be empty ``. */
export const emptyInput = (reason: string) => new EsError(400, EMPTY_INPUT, reason);
const EMPTY_INPUT = 'empty_input';

function faultOf(error: EsError): Fault {
  if (error.type === EMPTY_INPUT) return 'empty';
  const upstream = UPSTREAM_STATUS.exec(error.reason);
  if (upstream) {
    const status = Number(upstream[1]);
    if (status === 429) return 'upstream_overloaded';
    if (status === 503 || status === 502) return 'upstream_unavailable';
    // What the model's server refused as input (too long, a bad parameter) is the client's to change.
    if (status === 400 || status === 413 || status === 422) return 'upstream_input';
    return 'upstream';
  }
  if (UPSTREAM_FAILURE.test(error.reason)) return 'upstream';
  switch (error.status) {
    case 401:
      return 'unauthenticated';
    case 403:
      return 'forbidden';
    case 404:
      return error.type === 'resource_not_found_exception' ? 'not_found' : 'no_route';
    case 405:
      return 'method';
    case 408:
      return 'timeout';
    case 413:
      return 'too_large';
    case 429:
      return 'overloaded';
    case 503:
      return 'unavailable';
  }
  return error.status < 500 ? 'input' : 'internal';
}

/** The inference id a not-found error names (`Inference endpoint not found [x]`). */
const missingId = (error: EsError) => /\[([^\]]*)\]$/.exec(error.reason)?.[1];

const OPENAI: Record<Fault, { status: number; type: string; code: string | null }> = {
  empty: { status: 400, type: 'invalid_request_error', code: null },
  unauthenticated: { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' },
  forbidden: { status: 403, type: 'permission_error', code: 'insufficient_permissions' },
  not_found: { status: 404, type: 'invalid_request_error', code: 'model_not_found' },
  no_route: { status: 404, type: 'invalid_request_error', code: null },
  method: { status: 405, type: 'invalid_request_error', code: null },
  input: { status: 400, type: 'invalid_request_error', code: null },
  too_large: { status: 413, type: 'invalid_request_error', code: null },
  timeout: { status: 408, type: 'timeout_error', code: 'timeout' },
  overloaded: { status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' },
  upstream_input: { status: 400, type: 'invalid_request_error', code: 'upstream_refused_input' },
  upstream_overloaded: { status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' },
  upstream_unavailable: { status: 503, type: 'server_error', code: 'upstream_unavailable' },
  upstream: { status: 502, type: 'server_error', code: 'upstream_error' },
  unavailable: { status: 503, type: 'server_error', code: null },
  internal: { status: 500, type: 'server_error', code: null },
};

/**
 * OpenAI's error shape, with the statuses its SDKs map to their error classes (401 AuthenticationError, 403
 * PermissionDeniedError, 404 NotFoundError, 400 BadRequestError, 429 RateLimitError, 5xx InternalServerError). An
 * unknown model reads as OpenAI's own words for one.
 */
export function openAiError(error: EsError): DoorErrorAnswer {
  const fault = faultOf(error);
  const { status, type, code } = OPENAI[fault];
  const id = fault === 'not_found' ? missingId(error) : undefined;
  const message =
    id === undefined ? error.reason : `The model \`${id}\` does not exist or you do not have access to it.`;
  return { status, body: { error: { message, type, param: fault === 'not_found' ? 'model' : null, code } } };
}

/** The `error_type` names of the two servers, and the status each of their types stands for. */
const HF: Record<'tei' | 'tgi', Record<Fault, { status: number; type: string }>> = {
  // text-embeddings-inference: ErrorType (Unhealthy 503, Backend 424, Overloaded 429, Validation 422, Empty 400),
  // router/src/lib.rs and router/src/http/server.rs; what it has no type for is named in its manner.
  tei: {
    empty: { status: 400, type: 'Empty' },
    unauthenticated: { status: 401, type: 'Unauthorized' },
    forbidden: { status: 403, type: 'Forbidden' },
    not_found: { status: 404, type: 'NotFound' },
    no_route: { status: 404, type: 'NotFound' },
    method: { status: 405, type: 'MethodNotAllowed' },
    input: { status: 422, type: 'Validation' },
    too_large: { status: 413, type: 'Validation' },
    timeout: { status: 408, type: 'Timeout' },
    overloaded: { status: 429, type: 'Overloaded' },
    upstream_input: { status: 422, type: 'Validation' },
    upstream_overloaded: { status: 429, type: 'Overloaded' },
    upstream_unavailable: { status: 503, type: 'Unhealthy' },
    upstream: { status: 424, type: 'Backend' },
    unavailable: { status: 503, type: 'Unhealthy' },
    internal: { status: 500, type: 'Backend' },
  },
  // text-generation-inference: InferError's types (validation 422, generation 424, overloaded 429,
  // incomplete_generation 500), router/src/server.rs.
  tgi: {
    empty: { status: 422, type: 'validation' },
    unauthenticated: { status: 401, type: 'unauthorized' },
    forbidden: { status: 403, type: 'forbidden' },
    not_found: { status: 404, type: 'not_found' },
    no_route: { status: 404, type: 'not_found' },
    method: { status: 405, type: 'method_not_allowed' },
    input: { status: 422, type: 'validation' },
    too_large: { status: 413, type: 'validation' },
    timeout: { status: 408, type: 'timeout' },
    overloaded: { status: 429, type: 'overloaded' },
    upstream_input: { status: 422, type: 'validation' },
    upstream_overloaded: { status: 429, type: 'overloaded' },
    upstream_unavailable: { status: 503, type: 'unhealthy' },
    upstream: { status: 424, type: 'generation' },
    unavailable: { status: 503, type: 'unhealthy' },
    internal: { status: 500, type: 'incomplete_generation' },
  },
};

/** Which server a Hugging Face door route plays: TEI for the embedding and rerank routes, TGI for generation. */
export type HfServer = keyof typeof HF;

/** `{"error","error_type"}` with the status the server it plays would use. */
export function hfError(error: EsError, server: HfServer): DoorErrorAnswer {
  const { status, type } = HF[server][faultOf(error)];
  return { status, body: { error: error.reason, error_type: type } };
}

/** An error inside a stream that has begun (TGI sends it as a data event): only the body. */
export const hfStreamError = (error: EsError, server: HfServer) => hfError(error, server).body;
export const openAiStreamError = (error: EsError) => openAiError(error).body;
