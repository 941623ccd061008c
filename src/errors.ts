// The Elasticsearch error envelope and every named error the service raises (docs/api.md#errors).

export interface ErrorCause {
  type: string;
  reason: string;
  caused_by?: ErrorCause;
}

export interface ErrorEnvelope {
  error: { root_cause: Array<{ type: string; reason: string }>; type: string; reason: string; caused_by?: ErrorCause };
  status: number;
}

/** An error a client sees: an HTTP status, an Elasticsearch exception type and a reason. */
export class EsError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly reason: string,
    readonly causedBy?: ErrorCause,
    readonly headers: Record<string, string> = {},
  ) {
    // No stack trace: an EsError is an answer, never a bug to debug, and under a flood of
    // refused requests capturing stacks is a large share of the work.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(reason);
    Error.stackTraceLimit = limit;
    this.name = 'EsError';
  }

  toEnvelope(): ErrorEnvelope {
    const error: ErrorEnvelope['error'] = {
      root_cause: [{ type: this.type, reason: this.reason }],
      type: this.type,
      reason: this.reason,
    };
    if (this.causedBy) error.caused_by = this.causedBy;
    return { error, status: this.status };
  }

  toCause(): ErrorCause {
    return this.causedBy
      ? { type: this.type, reason: this.reason, caused_by: this.causedBy }
      : { type: this.type, reason: this.reason };
  }
}

const status = (code: number, reason: string, causedBy?: ErrorCause) =>
  new EsError(code, 'status_exception', reason, causedBy);

/**
 * A duration as Elasticsearch writes one (`39s`, `38.98s`, `250ms`); `roundUp` rounds up to whole
 * seconds (to ms under one), for a time left that is already shrinking as it is written.
 */
function durationText(ms: number, roundUp = false): string {
  if (roundUp) return ms >= 1000 ? `${Math.ceil(ms / 1000)}s` : `${Math.ceil(ms)}ms`;
  return ms >= 1000 ? `${Number((ms / 1000).toFixed(3))}s` : `${Number(ms.toFixed(1))}ms`;
}

/**
 * `Validation Failed: 1: a;2: b;`: every problem found, numbered, as Elasticsearch's ValidationException prints them.
 */
function validationReason(messages: readonly string[]): string {
  return 'Validation Failed: ' + messages.map((m, i) => `${i + 1}: ${m};`).join('');
}

export const errors = {
  endpointNotFound: (id: string) =>
    new EsError(404, 'resource_not_found_exception', `Inference endpoint not found [${id}]`),
  endpointExists: (id: string) =>
    new EsError(400, 'resource_already_exists_exception', `Inference endpoint [${id}] already exists`),
  validation: (messages: readonly string[]) => new EsError(400, 'validation_exception', validationReason(messages)),
  invalidInferenceId: (id: string) =>
    new EsError(
      400,
      'action_request_validation_exception',
      validationReason([
        `Invalid inference_id; '${id}' can contain lowercase alphanumeric (a-z and 0-9), hyphens or underscores; must start and end with alphanumeric`,
      ]),
    ),
  unknownTaskType: (value: string) => status(400, `Unknown task_type [${value}]`),
  unsupportedTaskType: (service: string, taskType: string) =>
    status(400, `The [${service}] service does not support task type [${taskType}]`),
  missingTaskType: () => status(400, 'model is missing required setting [task_type]'),
  conflictingTaskType: (url: string, body: string) =>
    status(
      400,
      `Cannot resolve conflicting task_type parameter in the request URL [${url}] and the request body [${body}]`,
    ),
  missingService: () => status(400, 'Inference endpoint configuration is missing the [service] setting'),
  unknownService: (name: string) => status(400, `Unknown service [${name}]`),
  missingField: (field: string) => status(400, `Missing required field [${field}]`),
  unknownSettings: (service: string, rendered: string) =>
    status(400, `Model configuration contains settings [${rendered}] unknown to the [${service}] service`),
  taskTypeMismatchOnRead: (requested: string, actual: string) =>
    status(400, `Requested task type [${requested}] does not match the inference endpoint's task type [${actual}]`),
  taskTypeMismatchOnInference: (requested: string, actual: string) =>
    status(400, `Incompatible task_type, the requested type [${requested}] does not match the model type [${actual}]`),
  serviceMismatchOnUpdate: (requested: string, actual: string) =>
    status(
      400,
      `Service [${requested}] does not match the inference endpoint's service [${actual}]; the service cannot be updated`,
    ),
  requestBodyRequired: () => new EsError(400, 'parse_exception', 'request body is required'),
  malformedJson: (detail: string) => new EsError(400, 'parse_exception', `Failed to parse request body: ${detail}`),
  fieldParse: (field: string, detail: string) =>
    new EsError(400, 'x_content_parse_exception', `Failed to parse field [${field}]: ${detail}`),
  bodyTooLarge: (limit: number) =>
    new EsError(413, 'content_too_long_exception', `Request body is too large: the limit is [${limit}] bytes`),
  unsupportedMediaType: (contentType: string) =>
    new EsError(406, 'media_type_header_exception', `Content-Type header [${contentType}] is not supported`),
  unrecognizedParameters: (path: string, names: readonly string[]) =>
    new EsError(
      400,
      'illegal_argument_exception',
      `request [${path}] contains unrecognized parameter${names.length > 1 ? 's' : ''}: [${names.join(', ')}]`,
    ),
  badBooleanParameter: (value: string) =>
    new EsError(
      400,
      'illegal_argument_exception',
      `Failed to parse value [${value}] as only [true] or [false] are allowed.`,
    ),
  badTimeValue: (setting: string, value: string, why: string) =>
    new EsError(
      400,
      'parse_exception',
      `failed to parse setting [${setting}] with value [${value}] as a time value: ${why}`,
    ),
  noHandler: (method: string, url: string) =>
    new EsError(404, 'resource_not_found_exception', `no handler found for uri [${url}] and method [${method}]`),
  methodNotAllowed: (method: string, url: string, allowed: readonly string[]) =>
    new EsError(
      405,
      'status_exception',
      `Incorrect HTTP method for uri [${url}] and method [${method}], allowed: [${allowed.join(', ')}]`,
      undefined,
      { Allow: allowed.join(', ') },
    ),
  badRequest: (reason: string) => new EsError(400, 'illegal_argument_exception', reason),
  /**
   * Bytes node's HTTP parser could not read as a request; `why` is the parser's own reason (`Invalid header token`),
   * never the bytes.
   */
  malformedHttp: (why: string) => new EsError(400, 'illegal_argument_exception', `Malformed HTTP request: ${why}`),
  /** The request line and headers together (a long URL counts) exceed node's limit (`--max-http-header-size`). */
  headersTooLarge: (limit: number) =>
    new EsError(431, 'too_long_http_header_exception', `The request line and headers are larger than [${limit}] bytes`),
  // Inference (docs/api.md#errors and docs/hugging-face-protocols.md#upstream-errors)
  inputNull: () =>
    new EsError(400, 'action_request_validation_exception', validationReason(['Field [input] cannot be null'])),
  queryNull: (taskType: string) =>
    new EsError(
      400,
      'action_request_validation_exception',
      validationReason([`Field [query] cannot be null for task type [${taskType}]`]),
    ),
  inputEmpty: () =>
    new EsError(
      400,
      'action_request_validation_exception',
      validationReason(['Field [input] cannot be an empty array']),
    ),
  /** Elasticsearch's request validation: `input_type` is for text_embedding (and the path without a task type). */
  inputTypeNotAllowed: (taskType: string) =>
    new EsError(
      400,
      'action_request_validation_exception',
      validationReason([`Field [input_type] cannot be specified for task type [${taskType}]`]),
    ),
  /** The hugging_face service's own check of an input type it does not use (docs/api.md#input_type). */
  inputTypeNotSupported: (inputType: string) =>
    new EsError(
      400,
      'validation_exception',
      validationReason([`Invalid input_type [${inputType}]. The input_type option is not supported by this service`]),
    ),
  queueFull: (id: string) =>
    new EsError(
      429,
      'es_rejected_execution_exception',
      `Failed to execute task for inference id [${id}] because the request service queue is full`,
    ),
  requestExceedsQueue: (id: string, texts: number, limit: number, batches: number, batchSize: number) =>
    status(
      400,
      `The request for inference id [${id}] makes [${texts}] texts (inputs after chunking), more than the [${limit}] the endpoint's queue can ever hold ` +
        `([${batches}] upstream requests of [${batchSize}]); send at most [${limit}] per request`,
    ),
  requestCannotFinish: (
    id: string,
    texts: number,
    batchSize: number,
    calls: number,
    requestsPerMinute: number,
    neededMs: number,
    leftMs: number,
  ) =>
    status(
      400,
      `The request for inference id [${id}] makes [${texts}] texts (inputs after chunking): [${calls}] upstream requests of at most [${batchSize}], ` +
        `which at [${requestsPerMinute}] requests_per_minute take at least [${durationText(neededMs)}], and the request times out within ` +
        `[${durationText(leftMs, true)}]; send fewer texts per request, or raise its timeout or the endpoint's batch_size or requests_per_minute`,
    ),
  timeout: (value: string) => status(408, `Request timed out after [${value}]`),
  /** A client that had not sent its whole request (headers and body) within REQUEST_READ_TIMEOUT. */
  requestNotRead: (value: string) => status(408, `Request not received in full within [${value}]`),
  /** The answer to a request whose client went away: nobody reads it, and it is no failure of the service. */
  clientGone: () => new EsError(499, 'task_cancelled_exception', 'The client closed the connection before the answer'),
  streamingNotAllowed: (service: string, taskType: string) =>
    status(405, `Streaming is not allowed for service [${service}] and task [${taskType}]`),
  streamingOnly: (taskType: string, id: string) =>
    status(400, `The [${taskType}] task type only supports streaming; use POST /_inference/${taskType}/${id}/_stream`),
  streamOneInput: (count: number) =>
    new EsError(
      400,
      'action_request_validation_exception',
      validationReason([`Field [input] must hold one text when streaming, got [${count}]`]),
    ),
  /** `_unified` with a task type in the path other than chat_completion (Elasticsearch's UnifiedCompletionAction). */
  unifiedTaskTypeInPath: () =>
    new EsError(
      400,
      'action_request_validation_exception',
      validationReason(['Field [taskType] must be [chat_completion]']),
    ),
  /** `POST /_inference/<id>/_unified` naming an endpoint of another task type (`any`: the path names none). */
  unifiedIncompatibleTaskType: (requested: string) =>
    status(
      400,
      `Incompatible task_type for unified API, the requested type [${requested}] must be one of [chat_completion]`,
    ),
  /**
   * A field of the chat body that Elasticsearch's own parsers refuse for its value rather than its type: one
   * `[Parser] failed to parse field [f]` per nested parser, outermost first, caused by what refused it.
   */
  chatBodyField: (levels: ReadonlyArray<readonly [parser: string, field: string]>, cause: ErrorCause) => {
    const failed = ([parser, field]: readonly [string, string]) => `[${parser}] failed to parse field [${field}]`;
    let inner = cause;
    for (const level of levels.slice(1).reverse())
      inner = { type: 'x_content_parse_exception', reason: failed(level), caused_by: inner };
    return new EsError(400, 'x_content_parse_exception', failed(levels[0]!), inner);
  },
  messagesNull: () =>
    new EsError(400, 'action_request_validation_exception', validationReason(['Field [messages] cannot be null'])),
  messagesEmpty: () =>
    new EsError(
      400,
      'action_request_validation_exception',
      validationReason(['Field [messages] cannot be an empty array']),
    ),
  /** A stream whose upstream went quiet for longer than UPSTREAM_TIMEOUT after its first event. */
  upstreamSilent: (id: string, after: string) =>
    status(408, `The upstream of inference entity id [${id}] sent nothing for [${after}]; the stream was ended`),
  /**
   * An upstream answer mapped by the service's error table: `<prefix> for request from inference entity id [id] status
   * [N]. Error message: [msg]`.
   */
  upstream: (code: number, reason: string) => status(code, reason),
  /**
   * A host name that did not resolve. No such name (ENOTFOUND) is a 400, as Elasticsearch answers a
   * DNS failure, since asking again will not help; a name server that did not answer (EAI_AGAIN) is a
   * 502 like any other unreachable upstream. Either way the reason says what failed, not that the url is wrong.
   */
  hostNotResolved: (id: string, host: string, answer: 'ENOTFOUND' | 'EAI_AGAIN') =>
    status(
      answer === 'ENOTFOUND' ? 400 : 502,
      `Failed to send request from inference entity id [${id}]: the host name [${host}] could not be resolved (DNS answered ${
        answer === 'ENOTFOUND'
          ? 'ENOTFOUND: no such name'
          : 'EAI_AGAIN: temporary failure, the name server may be unreachable'
      })`,
    ),
  upstreamUnreachable: (id: string, detail: string) =>
    status(502, `Failed to send request from inference entity id [${id}]: ${detail}`),
  upstreamRefused: (id: string, why: string) =>
    status(400, `Refused to call the upstream of inference entity id [${id}]: ${why}`),
  badUpstreamResponse: (id: string, detail: string) =>
    status(502, `Failed to parse the response for inference entity id [${id}]: ${detail}`),
  creationValidationFailed: (cause: EsError) =>
    status(
      400,
      'Could not complete inference endpoint creation as validation call to service threw an exception.',
      cause.toCause(),
    ),
  internal: () => new EsError(500, 'exception', 'An internal error occurred; it has been logged'),
  /** The shared store (PostgreSQL) cannot be reached: nothing was read or written; the client may retry. */
  storeUnavailable: () =>
    new EsError(
      503,
      'status_exception',
      'The inference endpoint store is unavailable: PostgreSQL cannot be reached; retry later',
      undefined,
      {
        'Retry-After': '1',
      },
    ),
};
