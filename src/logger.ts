// Logger options: structured pino lines with every place a credential could appear redacted by configuration.
import type { DestinationStream, LoggerOptions } from 'pino';

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

export function loggerOptions(level: string, stream?: DestinationStream): LoggerOptions & { stream?: DestinationStream } {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
    ...(stream ? { stream } : {}),
  };
}
