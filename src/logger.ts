// Logger options: structured pino lines with every place a credential could appear redacted by configuration.
import type { IncomingMessage } from 'node:http';
import type { DestinationStream, LoggerOptions } from 'pino';
import { redactUrl } from './redaction.js';

/** Paths pino replaces with "[Redacted]" wherever a line carries them. */
export const REDACT_PATHS = [
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

export function loggerOptions(level: string, stream?: DestinationStream): LoggerOptions & { stream?: DestinationStream } {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
    serializers: { req: request },
    ...(stream ? { stream } : {}),
  };
}
