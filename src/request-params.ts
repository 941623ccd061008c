// Query parameters as Elasticsearch reads them: booleans and time values such as `30s`.
import { errors } from './errors.js';

/** `?flag`, `?flag=true` → true; absent or `false` → false; anything else → 400. */
export function parseBooleanParam(value: string | undefined): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === '' || value === 'true') return true;
  throw errors.badBooleanParameter(value);
}

const TIME_UNITS: Record<string, number> = {
  nanos: 1e-6,
  micros: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

export const DEFAULT_TIMEOUT = '30s';

/**
 * `500ms`, `30s`, `2m`, `1h`, `1d` (and `nanos`, `micros`) → milliseconds; `-1` → Infinity (no timeout).
 */
export function parseTimeValue(setting: string, value: string): number {
  const raw = value.trim().toLowerCase();
  if (raw === '-1') return Infinity;
  const m = /^(-?\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(raw);
  if (!m) throw errors.badTimeValue(setting, value, 'unit is missing or unrecognized');
  const unit = TIME_UNITS[m[2]!];
  if (unit === undefined) throw errors.badTimeValue(setting, value, 'unit is missing or unrecognized');
  const amount = Number(m[1]);
  if (amount < 0) throw errors.badTimeValue(setting, value, 'negative durations are not supported');
  const ms = amount * unit;
  if (!Number.isFinite(ms) || ms > 2 ** 31 - 1) throw errors.badTimeValue(setting, value, 'the duration is too long');
  return ms;
}
