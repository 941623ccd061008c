// Reading user settings maps: take each known key out, collect every problem, leave the unknown keys behind.
import { SECRET_NAME } from './redaction.js';
import type { SettingsMap } from './store/endpoint-store.js';

/** Java's Double.toString for the numbers a setting can hold: 60 → "60.0". */
const javaDouble = (n: number) => (Number.isInteger(n) ? `${n}.0` : String(n));

/** Java int range: the integer settings Elasticsearch reads as `int`. */
export const MAX_INT = 2147483647;

interface IntegerRule {
  required?: boolean;
  min?: number;
  max?: number;
  /** How the "must be positive" message names the type: Elasticsearch says `long` for rate limits. */
  kind?: 'integer' | 'long';
  /** Allow 0 (for settings that may be zero). */
  allowZero?: boolean;
}

/**
 * A copy of one settings object (`service_settings`, `chunking_settings`, …). Every `take…`
 * removes its key, so what is left at the end are the keys nobody knew.
 */
export class SettingsReader {
  private readonly map: SettingsMap;

  constructor(
    source: SettingsMap | null | undefined,
    readonly scope: string,
    private readonly problems: string[],
  ) {
    this.map = { ...(source ?? {}) };
  }

  has(key: string): boolean {
    return this.map[key] !== undefined && this.map[key] !== null;
  }

  keys(): string[] {
    return Object.keys(this.map);
  }

  problem(message: string): void {
    this.problems.push(message);
  }

  missing(key: string): void {
    this.problem(`[${this.scope}] does not contain the required setting [${key}]`);
  }

  private take(key: string): unknown {
    const value = this.map[key];
    delete this.map[key];
    return value === null ? undefined : value;
  }

  /** Removes a key without reading it (for keys the caller has handled by other means). */
  drop(key: string): void {
    delete this.map[key];
  }

  takeRaw(key: string): unknown {
    return this.take(key);
  }

  takeString(key: string, opts: { required?: boolean } = {}): string | undefined {
    const value = this.take(key);
    if (value === undefined) {
      if (opts.required) this.missing(key);
      return undefined;
    }
    // Never echo the value: it may be a secret.
    if (typeof value !== 'string') {
      this.problem(`[${this.scope}] field [${key}] is not of the expected type; it must be a string`);
      return undefined;
    }
    if (value.trim() === '') {
      this.problem(`[${this.scope}] Invalid value empty string. [${key}] must be a non-empty string`);
      return undefined;
    }
    return value;
  }

  takeInteger(key: string, rule: IntegerRule = {}): number | undefined {
    const value = this.take(key);
    if (value === undefined) {
      if (rule.required) this.missing(key);
      return undefined;
    }
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      this.problem(`[${this.scope}] field [${key}] is not of the expected type; it must be an integer`);
      return undefined;
    }
    if (value < 0 || (value === 0 && !rule.allowZero)) {
      const sign = rule.allowZero ? 'non-negative' : 'positive';
      this.problem(`[${this.scope}] Invalid value [${value}]. [${key}] must be a ${sign} ${rule.kind ?? 'integer'}`);
      return undefined;
    }
    if (rule.min !== undefined && value < rule.min) {
      this.problem(
        `[${this.scope}] Invalid value [${javaDouble(value)}]. [${key}] must be a greater than or equal to [${javaDouble(rule.min)}]`,
      );
      return undefined;
    }
    if (rule.max !== undefined && value > rule.max) {
      this.problem(
        `[${this.scope}] Invalid value [${javaDouble(value)}]. [${key}] must be a less than or equal to [${javaDouble(rule.max)}]`,
      );
      return undefined;
    }
    return value;
  }

  /** A finite number within [min, max] (`exclusiveMin`: strictly above min; no `max`: no upper bound). */
  takeNumber(key: string, rule: { min: number; max?: number; exclusiveMin?: boolean }): number | undefined {
    const value = this.take(key);
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      this.problem(`[${this.scope}] field [${key}] is not of the expected type; it must be a number`);
      return undefined;
    }
    if (value < rule.min || (rule.exclusiveMin && value === rule.min) || (rule.max !== undefined && value > rule.max)) {
      const low = rule.exclusiveMin
        ? `greater than [${javaDouble(rule.min)}]`
        : `greater than or equal to [${javaDouble(rule.min)}]`;
      const high = rule.max === undefined ? '' : ` and less than or equal to [${javaDouble(rule.max)}]`;
      this.problem(`[${this.scope}] Invalid value [${javaDouble(value)}]. [${key}] must be ${low}${high}`);
      return undefined;
    }
    return value;
  }

  /** A list of at most `max` non-empty strings. */
  takeStringList(key: string, rule: { max: number }): string[] | undefined {
    const value = this.take(key);
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
      this.problem(`[${this.scope}] field [${key}] is not of the expected type; it must be a list of strings`);
      return undefined;
    }
    if (value.length > rule.max) {
      this.problem(
        `[${this.scope}] Invalid value: [${key}] holds ${value.length} strings; it takes at most ${rule.max}`,
      );
      return undefined;
    }
    if (value.some((v) => v === '')) {
      this.problem(`[${this.scope}] Invalid value empty string. [${key}] must hold non-empty strings`);
      return undefined;
    }
    return value;
  }

  takeBoolean(key: string): boolean | undefined {
    const value = this.take(key);
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') {
      this.problem(`[${this.scope}] field [${key}] is not of the expected type; it must be a boolean`);
      return undefined;
    }
    return value;
  }

  /** A reader over the map under `key` (absent: an empty one) that reports into the same problem list. */
  nested(key: string, scope = key): SettingsReader {
    return new SettingsReader(this.takeMap(key), scope, this.problems);
  }

  takeMap(key: string): SettingsMap | undefined {
    const value = this.take(key);
    if (value === undefined) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.problem(`[${this.scope}] field [${key}] is not of the expected type; it must be an object`);
      return undefined;
    }
    return value as SettingsMap;
  }

  /** The keys nobody took. */
  leftovers(): SettingsMap {
    return { ...this.map };
  }
}

/** Any `hf_` word: in a settings value even a short one is masked (an id never appears there). */
const TOKEN_LIKE = /\bhf_[A-Za-z0-9]{6,}/g;

/**
 * How deep and how long a rendered settings value may get: a hostile body must not make a huge message or overflow the
 * stack.
 */
const RENDER_MAX_DEPTH = 16;
const RENDER_MAX_LENGTH = 2000;

/**
 * Renders a map as Java's Map.toString does (`{a=1, b={c=x}}`), which is what Elasticsearch's
 * "unknown settings" message shows, except that secrets (by key name or by the shape of a
 * Hugging Face token) are replaced by `[REDACTED]`: an error message never carries a key.
 * Deeper than 16 levels renders as `...`; the whole is cut at 2,000 characters.
 */
export function renderSettings(value: unknown): string {
  const text = renderValue(value, undefined, 0);
  return text.length > RENDER_MAX_LENGTH ? text.slice(0, RENDER_MAX_LENGTH) + '...' : text;
}

function renderValue(value: unknown, key: string | undefined, depth: number): string {
  if (key !== undefined && SECRET_NAME.test(key) && value !== null && value !== undefined) return '[REDACTED]';
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'object' && depth >= RENDER_MAX_DEPTH) return '...';
  if (Array.isArray(value)) return `[${value.map((v) => renderValue(v, undefined, depth + 1)).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value as SettingsMap)
      .map(([k, v]) => `${k}=${renderValue(v, k, depth + 1)}`)
      .join(', ')}}`;
  }
  return String(value).replace(TOKEN_LIKE, '[REDACTED]');
}
