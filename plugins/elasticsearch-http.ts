// Makes fastify speak Elasticsearch's HTTP: JSON media types, the product header, the error envelope everywhere.
import { maxHeaderSize, ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import secureJson from 'secure-json-parse';
import type { DoorErrorAnswer } from '../src/doors/door-errors.js';
import { EsError, errors, type ErrorCause } from '../src/errors.js';
import { maskSecrets, secretValues } from '../src/redaction.js';
import { bodyIssue, fieldName, type SchemaIssue } from '../src/request-body.js';
import type { EventSink, EventStream } from '../src/tasks/task-module.js';

/**
 * How the routes of another protocol (the doors: OpenAI's and Hugging Face's, docs/doors.md) write an error, once it
 * is the service's error with every secret masked. Routes without one answer Elasticsearch's envelope.
 */
export type ErrorWriter = (error: EsError, request: FastifyRequest) => DoorErrorAnswer;

declare module 'fastify' {
  interface FastifyContextConfig {
    errorWriter?: ErrorWriter;
  }
}

/** Media types whose bodies are JSON: what curl, the official clients (compatible-with=8|9) and Kibana send. */
const JSON_MEDIA_TYPES = new Set(['application/json', 'application/vnd.elasticsearch+json']);

function queryIssue(issues: readonly SchemaIssue[], request: FastifyRequest): EsError {
  const path = request.url.split('?')[0] ?? request.url;
  const extra = issues.flatMap((i) =>
    i.keyword === 'additionalProperties' ? ((i.params?.additionalProperties as string[]) ?? []) : [],
  );
  if (extra.length > 0) return errors.unrecognizedParameters(path, extra);
  const field = fieldName(issues[0]?.instancePath ?? '');
  return errors.badRequest(`request [${path}] has an invalid value for parameter [${field}]`);
}

/**
 * A JSON.parse failure in V8's words but without the snippet of the body V8 quotes (it may hold
 * a key): `Expected ':' after property name at line 1, column 6`, `unexpected token 'h'`.
 */
function describeJsonError(err: Error, text: string): string {
  if (/prototype|constructor/i.test(err.message))
    return 'the body contains a forbidden property name [__proto__] or [constructor]';
  const at = /^(.*) in JSON at position (\d+)/.exec(err.message);
  if (at) {
    const offset = Number(at[2]);
    const before = text.slice(0, offset);
    return `${at[1]} at line ${before.split('\n').length}, column ${offset - before.lastIndexOf('\n')}`;
  }
  const token = /^Unexpected token '(.)'/.exec(err.message);
  if (token) return `malformed JSON: unexpected token '${token[1]}'`;
  return /end of JSON input/i.test(err.message) ? 'unexpected end of input' : 'malformed JSON';
}

/** Maps anything thrown while handling a request to the error a client sees. */
function toEsError(err: unknown, request: FastifyRequest, bodyLimit: number): EsError {
  if (err instanceof EsError) return err;
  const e = err as FastifyError & { validation?: SchemaIssue[]; validationContext?: string };
  if (e.validation) {
    return e.validationContext === 'body' ? bodyIssue(e.validation, request.body) : queryIssue(e.validation, request);
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return errors.bodyTooLarge(bodyLimit);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return errors.unsupportedMediaType(String(request.headers['content-type'] ?? ''));
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new EsError(e.statusCode, 'illegal_argument_exception', e.message);
  }
  return errors.internal();
}

/**
 * The error with every credential the request carried (an api key put in another field, at any
 * depth of the body) and every Hugging Face token masked: a message never echoes a key.
 */
function withoutSecrets(error: EsError, request: FastifyRequest): EsError {
  const secrets = secretValues(request.body);
  const mask = (text: string) => maskSecrets(text, secrets);
  const maskCause = (cause: ErrorCause | undefined): ErrorCause | undefined =>
    cause && {
      ...cause,
      reason: mask(cause.reason),
      ...(cause.caused_by ? { caused_by: maskCause(cause.caused_by) } : {}),
    };
  const reason = mask(error.reason);
  const causedBy = maskCause(error.causedBy);
  if (reason === error.reason && JSON.stringify(causedBy) === JSON.stringify(error.causedBy)) return error;
  return new EsError(error.status, error.type, reason, causedBy, error.headers);
}

/** Sends `error` in the route's shape (`writer`, else the route's `errorWriter`, else Elasticsearch's envelope). */
export function sendError(reply: FastifyReply, error: EsError, writer?: ErrorWriter): FastifyReply {
  return sendMasked(reply, withoutSecrets(error, reply.request), writer);
}

/** The headers every answer carries (Elasticsearch's clients check the product header; X-Opaque-Id is echoed). */
function productHeaders(request: FastifyRequest): Record<string, string> {
  const opaqueId = request.headers['x-opaque-id'];
  return typeof opaqueId === 'string'
    ? { 'x-elastic-product': 'Elasticsearch', 'x-opaque-id': opaqueId }
    : { 'x-elastic-product': 'Elasticsearch' };
}

/**
 * Sends server-sent events: the head and the events already read go out at once, in one write, and the rest as the
 * stream gives them. fastify's own sending of a stream (onSend hooks, end-of-stream watchers on both sides, a pipe
 * that starts a turn later) took about a tenth of a stream's time to its first event (docs/performance.md), so the
 * reply is hijacked: the headers the onSend hooks would add are written here (`headers` adds a route's own), and the
 * request's log line still comes from its onResponse hook. A client that goes away closes the events (which ends
 * their upstream request).
 *
 * The runner's streams write themselves to the response (EventStream.writeTo); a door's stream, which re-frames them in
 * its own protocol, is piped. Events that fail after the head are logged and cut the connection, as fastify does.
 */
export function sendEvents(
  reply: FastifyReply,
  events: EventStream | Readable,
  headers: Record<string, string> = {},
): FastifyReply {
  reply.hijack();
  const res = reply.raw;
  // getHeaders() is a copy: the head is built in it.
  const head = Object.assign(reply.getHeaders() as Record<string, string>, productHeaders(reply.request), headers);
  head['cache-control'] = 'no-cache';
  head['content-type'] = 'text/event-stream';
  res.writeHead(200, head);
  if (!(events instanceof Readable)) {
    res.once('close', () => events.close());
    events.writeTo(connectionSink(res));
    return reply;
  }
  // As fastify's sending of a stream did: the failure logged (credentials masked), the connection cut.
  events.on('error', (err) => {
    reply.log.warn(
      { err: { type: err.name, message: maskSecrets(String(err.message), secretValues(reply.request.body)) } },
      'the stream failed after its head was sent',
    );
    res.destroy();
  });
  res.once('close', () => {
    if (!events.readableEnded) events.destroy();
  });
  // What the stream holds already (its first event) is written with the head, not a turn later by the pipe.
  const first: unknown = events.read();
  if (first !== null) res.write(first);
  events.pipe(res);
  return reply;
}

/** A settled promise: what is written in a turn is flushed in a reaction to it. */
const SETTLED = Promise.resolve();

/** `text` as one HTTP/1.1 chunk: its size in bytes (hexadecimal), a line end, the text, a line end. */
const chunkOf = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;

/**
 * Where a runner's stream writes its events: the head and the first text through the response (node sends them, the
 * text framed here), then straight to the connection as HTTP/1.1 chunks framed here. A chunked response's write()
 * corks the socket, writes the chunk's size line, its text and its line end apart and uncorks on the next tick: three
 * buffered writes, a tick and a writev for every event, and a fifth of what a stream allocated. Here the texts written
 * in one turn (the events of one upstream read, which undici hands over chunk by chunk) become one chunk, written once
 * at the end of the turn (docs/performance.md#events-written-to-the-connection). The last text goes out with the
 * body's end in the same write, and the response is then ended with nothing left to write (its `finish`, the
 * request's log line).
 *
 * Only where the two are the same: a chunked response that node writes itself (an injected response's write is not
 * the socket's) and that owns its connection (a pipelined answer waiting for its turn is held by the response). That
 * is asked after the first write, a turn later (at the next write or the end), not right after it: node 24's response
 * holds the texts of a turn itself (it corks itself, not only the socket) until the turn's end, while node 20 and 22
 * hand them to the socket at once (docs/performance.md#the-bodys-end-in-the-last-write).
 */
export function connectionSink(res: ServerResponse): EventSink {
  if (!res.chunkedEncoding || res.write !== ServerResponse.prototype.write) return res;
  /** The head and a first text have gone through the response. */
  let begun = false;
  /** Undefined until asked after the first text; then the connection written to directly, or null: the response. */
  let socket: Socket | null | undefined;
  /** Where the texts after the first go (asked once, after the first, a turn later than it). */
  const connection = (): Socket | null =>
    // Nothing held by the response: the head and what went before are on the connection (buffered there, in order).
    (socket ??= res.socket !== null && res.writableLength === res.socket.writableLength ? res.socket : null);
  /** The turn's texts, not yet written. */
  let pending = '';
  const flush = () => {
    const text = pending;
    pending = '';
    if (text !== '' && socket?.writable) socket.write(chunkOf(text));
  };
  return {
    write(text) {
      if (!begun) {
        begun = true;
        if (text === '') return res.write(text);
        // The head and the first text in one piece: the text framed here, and the response told, for this write, that
        // its body is not chunked, so that it adds the head alone. A chunked write would be four pieces (the size line,
        // a line end, the text, a line end) in one writev.
        res.chunkedEncoding = false;
        const written = res.write(chunkOf(text));
        res.chunkedEncoding = true;
        return written;
      }
      const to = connection();
      if (to === null) return res.write(text);
      // A connection that is closing takes nothing more: reading waits (for a `drain` that will not come) until its
      // `close` ends the stream, as it would behind a full response.
      if (!to.writable) return false;
      // At the end of the turn: a reaction to a settled promise (queueMicrotask makes an AsyncResource and a bound
      // function each time).
      if (pending === '') void SETTLED.then(flush);
      pending += text;
      // Full once the connection says so (after a flush): its `drain` then follows.
      return !to.writableNeedDrain;
    },
    end(text) {
      const to = begun ? connection() : null;
      if (!to?.writable) {
        flush();
        res.end(text);
        return;
      }
      // The turn's texts, the last one and the body's end (a chunk of size 0) in one write. The response is then told
      // that its chunks are done, so that its end() writes nothing more and only finishes it (its `finish`, once the
      // connection has taken what it holds).
      const last = pending + text;
      pending = '';
      to.write(`${last === '' ? '' : chunkOf(last)}0\r\n\r\n`);
      res.chunkedEncoding = false;
      res.end();
    },
    once: (event, listener) => (socket ?? res).once(event, listener),
  };
}

/** Sends an error already passed through withoutSecrets. */
function sendMasked(reply: FastifyReply, safe: EsError, writer?: ErrorWriter): FastifyReply {
  (reply.request.trace ??= {}).error = safe.type;
  const write = writer ?? reply.request.routeOptions.config?.errorWriter;
  if (write) {
    const answer = write(safe, reply.request);
    return reply
      .code(answer.status)
      .headers({ ...safe.headers, ...answer.headers })
      .type('application/json')
      .send(JSON.stringify(answer.body));
  }
  // Also set here: errors raised before routing (a malformed URL) skip the onSend hook. Sent as
  // text: the envelope is never re-shaped by a response schema's serializer.
  return reply
    .header('X-Elastic-Product', 'Elasticsearch')
    .code(safe.status)
    .headers(safe.headers)
    .type('application/json')
    .send(JSON.stringify(safe.toEnvelope()));
}

/**
 * The part of a connection error (node's `clientError`) read here: never its `rawPacket`, the bytes the client sent.
 */
export interface ClientError extends Error {
  code?: string;
  reason?: unknown;
}

/**
 * Connections answered by answerClientError, with that answer: a request fastify had begun on one is logged with it.
 */
const refusedConnections = new WeakMap<Socket, EsError>();

/** The answer answerClientError gave on this connection (a request not read in time: 408), if it gave one. */
export function refusedWith(socket: Socket | null | undefined): EsError | undefined {
  return socket ? refusedConnections.get(socket) : undefined;
}

/** How long a refused client has to read its answer before the connection is cut. */
const CLIENT_ERROR_GRACE_MS = 2000;

/** The error for a request node's HTTP parser refused: the parser's reason only, never what the client sent. */
function clientErrorOf(err: ClientError, readTimeoutMs: number): EsError {
  if (err.code === 'HPE_HEADER_OVERFLOW') return errors.headersTooLarge(maxHeaderSize);
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return errors.requestNotRead(readTimeoutMs % 1000 === 0 ? `${readTimeoutMs / 1000}s` : `${readTimeoutMs}ms`);
  const why =
    typeof err.reason === 'string' && /^[\w .,'-]{1,200}$/.test(err.reason)
      ? err.reason
      : (err.code ?? 'unreadable request');
  return errors.malformedHttp(why);
}

/**
 * Answers a request fastify never sees (node's parser refused it: malformed, or a request line
 * and headers over the limit) or never got in full (not read within REQUEST_READ_TIMEOUT: 408)
 * in the error envelope, and logs a small line with the parser's code
 * and the client's address. It replaces fastify's default handler, whose log line carried the
 * error with the client's raw bytes. Like node's own handler, it writes nothing once an answer
 * on the connection has begun, and then closes the connection.
 */
export function answerClientError(
  err: ClientError,
  socket: Socket,
  log: FastifyBaseLogger,
  readTimeoutMs: number,
): void {
  // A reset connection: nobody is there to answer. An ended one was answered already: the parser
  // errs again on each further chunk the client sends.
  if (err.code === 'ECONNRESET' || socket.destroyed || socket.writableEnded) return;
  const error = clientErrorOf(err, readTimeoutMs);
  log.debug(
    { code: err.code, status: error.status, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort },
    `client error: ${error.reason}`,
  );
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    refusedConnections.set(socket, error);
    const body = JSON.stringify(error.toEnvelope());
    socket.write(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Elastic-Product: Elasticsearch\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  // Not destroy() at once: a client still sending (a long URL) would get a reset instead of the
  // answer. The answer is flushed and the connection closed; one that lingers is cut after a grace.
  socket.destroySoon();
  setTimeout(() => socket.destroy(), CLIENT_ERROR_GRACE_MS).unref();
}

/** Turns a route pattern (`/_inference/:task_type/_all`) into a matcher for the 405 check. */
const patternToRegExp = (url: string) =>
  new RegExp('^' + url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z_]+/g, '[^/]+') + '/?$');

export function elasticsearchHttp(app: FastifyInstance, opts: { bodyLimit: number }): void {
  const routes: Array<{ method: string; matcher: RegExp }> = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat())
      routes.push({ method: String(method), matcher: patternToRegExp(route.url ?? route.path) });
  });

  app.removeAllContentTypeParsers();
  // Registered for the JSON media types by name as well as for any other: fastify remembers the parser of a named
  // type, but looks the catch-all up again (parsing the Content-Type header) on every request.
  app.addContentTypeParser(
    [...JSON_MEDIA_TYPES, '*'],
    { parseAs: 'string', bodyLimit: opts.bodyLimit },
    (request, body, done) => {
      const header = request.headers['content-type'];
      const mediaType = (header ?? '').split(';')[0]!.trim().toLowerCase();
      if (header !== undefined && header !== '' && !JSON_MEDIA_TYPES.has(mediaType)) {
        done(errors.unsupportedMediaType(header), undefined);
        return;
      }
      const text = body as string;
      // An empty or all-blank body is no body (without copying the text to find out).
      let first = 0;
      while (
        first < text.length &&
        (text[first] === ' ' || text[first] === '\n' || text[first] === '\r' || text[first] === '\t')
      )
        first++;
      if (first === text.length) {
        done(null, undefined);
        return;
      }
      try {
        done(null, secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
      } catch (err) {
        done(errors.malformedJson(describeJsonError(err as Error, text)), undefined);
      }
    },
  );

  // A callback hook, not an async one: it runs on every response and needs no promise.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.headers(productHeaders(request));
    const query = request.query as Record<string, string> | undefined;
    if (
      query &&
      query.pretty !== undefined &&
      query.pretty !== 'false' &&
      (typeof payload === 'string' || Buffer.isBuffer(payload))
    ) {
      try {
        done(null, JSON.stringify(JSON.parse(payload.toString()), null, 2) + '\n');
        return;
      } catch {
        // not JSON: sent as it is
      }
    }
    done(null, payload);
  });

  app.setErrorHandler((err, request, reply) => {
    const error = withoutSecrets(toEsError(err, request, opts.bodyLimit), request);
    // Only the unexpected (a bug) is logged with its stack, every credential of the request masked.
    // Upstream faults were logged at warn where they happened; every answer has its request line.
    if (error.status >= 500 && !(err instanceof EsError)) {
      const secrets = secretValues(request.body);
      const e = err as Error;
      request.log.error(
        {
          err: {
            type: e?.name,
            message: maskSecrets(String(e?.message), secrets),
            stack: maskSecrets(String(e?.stack), secrets),
          },
        },
        'request failed',
      );
    } else request.log.debug({ type: error.type, reason: error.reason }, 'request rejected');
    return sendMasked(reply, error);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    const allowed = [...new Set(routes.filter((r) => r.matcher.test(path)).map((r) => r.method))].filter(
      (m) => m !== 'HEAD',
    );
    const error =
      allowed.length > 0
        ? errors.methodNotAllowed(request.method, path, allowed)
        : errors.noHandler(request.method, path);
    return sendError(reply, error);
  });
}
