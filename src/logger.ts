// Logger options: structured pino lines with every place a credential could appear redacted by configuration.
import type { IncomingMessage } from 'node:http';
import type { Bindings, ChildLoggerOptions, DestinationStream, Level, LogFn, Logger, LoggerOptions } from 'pino';
import { redactUrl } from './redaction.js';

/** Paths pino replaces with "[Redacted]" wherever a line carries them. */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'authorization',
  'api_key',
  '*.api_key',
  '*.*.api_key',
  '*.*.*.api_key',
  'secrets',
  '*.secrets',
];

/** The request as fastify logs it, but with a key in the query string (or a token anywhere in the URL) masked. */
function request(req: IncomingMessage & { ip?: string; host?: string }) {
  return {
    method: req.method,
    url: redactUrl(req.url ?? ''),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** How deep an error's cause and its plain-object fields are followed. */
const MAX_ERROR_DEPTH = 4;

/**
 * An error as a log line shows it: its type, message and stack, and its own fields that are plain
 * values (a code, a status, a reason), plain objects or arrays. Bytes are left out: node's parse
 * errors carry the client's raw packet as a Buffer (`rawPacket`), which holds whatever the client
 * sent (a key in a header) and which the wildcard redaction paths cannot walk (they throw inside
 * a Buffer's getters). Other objects (sockets, requests) are left out too.
 */
export function serializeError(err: unknown, depth = 0): unknown {
  if (typeof err === 'function' || typeof err === 'symbol') return undefined;
  if (typeof err === 'bigint') return String(err);
  if (err === null || typeof err !== 'object') return err;
  if (depth > MAX_ERROR_DEPTH || ArrayBuffer.isView(err) || err instanceof ArrayBuffer) return undefined;
  if (Array.isArray(err)) return err.map((item) => serializeError(item, depth + 1));
  const isError = err instanceof Error;
  const proto = Object.getPrototypeOf(err) as unknown;
  if (!isError && proto !== Object.prototype && proto !== null) return undefined;
  const out: Record<string, unknown> = {};
  if (isError) {
    out.type = err.constructor?.name ?? err.name;
    out.message = err.message;
    out.stack = err.stack;
  }
  for (const [key, value] of Object.entries(err)) {
    if (key === 'rawPacket') continue;
    const plain = serializeError(value, depth + 1);
    if (plain !== undefined) out[key] = plain;
  }
  if (isError && err.cause !== undefined && !('cause' in out)) {
    const cause = serializeError(err.cause, depth + 1);
    if (cause !== undefined) out.cause = cause;
  }
  return out;
}

export function loggerOptions(
  level: string,
  stream?: DestinationStream,
): LoggerOptions & { stream?: DestinationStream } {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
    serializers: { req: request, err: serializeError },
    ...(stream ? { stream } : {}),
  };
}

/**
 * A request's logger (fastify's `request.log`), made into pino's child only when a line is written at a level that is
 * on. fastify makes one per request, and with the redaction paths above each child runs them over its bindings (the
 * request id): about a twentieth of the bytes a request allocated, for a logger that most requests never write to
 * (their one line comes from plugins/request-log.ts). The child, once made, is the one fastify would have made.
 */
export class RequestLogger {
  private made: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get real(): Logger {
    return (this.made ??= this.parent.child(this.bindings, this.options));
  }

  /** Whether a line at `level` would be written; asked of the parent while the child's own level is the parent's. */
  private enabled(level: Level): boolean {
    return this.made || this.options.level !== undefined
      ? this.real.isLevelEnabled(level)
      : this.parent.isLevelEnabled(level);
  }

  private write(level: Level, args: Parameters<LogFn>): void {
    if (this.enabled(level)) this.real[level](...args);
  }

  get level(): string {
    return this.made || this.options.level !== undefined ? this.real.level : this.parent.level;
  }

  set level(level: string) {
    this.real.level = level;
  }

  fatal(...args: Parameters<LogFn>): void {
    this.write('fatal', args);
  }

  error(...args: Parameters<LogFn>): void {
    this.write('error', args);
  }

  warn(...args: Parameters<LogFn>): void {
    this.write('warn', args);
  }

  info(...args: Parameters<LogFn>): void {
    this.write('info', args);
  }

  debug(...args: Parameters<LogFn>): void {
    this.write('debug', args);
  }

  trace(...args: Parameters<LogFn>): void {
    this.write('trace', args);
  }

  silent(): void {}

  isLevelEnabled(level: Level): boolean {
    return this.enabled(level);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.real.child(bindings, options);
  }
}
