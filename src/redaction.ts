// What counts as a secret in text the service writes (error messages, log lines), and how it is masked.

/** Names under which a value is a credential, wherever they appear (a body, a settings map, a query string). */
export const SECRET_NAME = /^(api[_-]?key|token|access[_-]?token|secret|password|authorization)$/i;

/**
 * A Hugging Face access token (`hf_` and 34 letters and digits), matched from 20 on: long
 * enough that an inference id such as `hf_minilm` is left alone.
 */
export const HF_TOKEN = /\bhf_[A-Za-z0-9]{20,}/g;

/**
 * Shorter values are not treated as secrets: masking `x` would mangle every message. An api key
 * this short is refused when it is set, so every key the service holds is long enough to mask.
 */
export const MIN_SECRET_LENGTH = 8;

/** How deep and how many values of a request body are searched for secrets (a hostile body may be huge). */
const MAX_DEPTH = 64;
const MAX_VALUES = 10_000;

/**
 * The credentials a request body carries: every string of at least 8 characters under a
 * secret name (`api_key`, `token`, …) at any depth, so that an error message can mask them
 * wherever else in the body the same value was put.
 */
export function secretValues(body: unknown): string[] {
  const found = new Set<string>();
  const pending: Array<{ value: unknown; depth: number }> = [{ value: body, depth: 0 }];
  let seen = 0;
  while (pending.length > 0 && seen < MAX_VALUES) {
    const { value, depth } = pending.pop()!;
    seen++;
    if (value === null || typeof value !== 'object' || depth >= MAX_DEPTH) continue;
    for (const [key, inner] of Array.isArray(value) ? value.entries() : Object.entries(value)) {
      if (typeof key === 'string' && SECRET_NAME.test(key) && typeof inner === 'string' && inner.length >= MIN_SECRET_LENGTH) found.add(inner);
      else pending.push({ value: inner, depth: depth + 1 });
    }
  }
  return [...found];
}

/** JSON's two-character escapes (RFC 8259 §7): `\/` is one of them, allowed though never needed. */
const JSON_SHORT_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', '\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't' };

const hex4 = (unit: number) => unit.toString(16).padStart(4, '0');
/** One hex digit in either case: `\u00e9` and `\u00E9`, `%c3` and `%C3` are the same text. */
const anyCaseHex = (digits: string) => [...digits].map((d) => (/[a-f]/.test(d) ? `[${d}${d.toUpperCase()}]` : d)).join('');

/**
 * Every way one character of a secret can be written in text an upstream sends back: as itself,
 * JSON-escaped (`\uXXXX` in either case, per UTF-16 unit, so an astral character may be two
 * escapes, or its short escape such as `\"`, `\\`, `\/`), or percent-encoded (its UTF-8 bytes
 * as `%XX`; a space also as `+`). A secret's characters may each be written differently.
 */
function characterPattern(char: string): string {
  const units = [...Array(char.length).keys()].map((i) => {
    const unit = char.charCodeAt(i);
    // Escapes first: `\\` is one escaped backslash, not a backslash and the start of the next escape.
    const ways = [`\\\\u${anyCaseHex(hex4(unit))}`];
    const short = JSON_SHORT_ESCAPES[char];
    if (short !== undefined) ways.push(`\\\\\\u${hex4(short.charCodeAt(0))}`);
    ways.push(`\\u${hex4(unit)}`);
    return `(?:${ways.join('|')})`;
  });
  const bytes = [...new TextEncoder().encode(char)].map((b) => `%${anyCaseHex(b.toString(16).padStart(2, '0'))}`).join('');
  // Longest first, though any order finds the key: `%25` is a percent sign, not `%` followed by `25`.
  return `(?:${bytes}|${units.join('')}${char === ' ' ? '|\\+' : ''})`;
}

/** The patterns of the secrets masked lately: an endpoint's key is masked again at each of its failures. */
const patterns = new Map<string, RegExp>();
const MAX_PATTERNS = 256;

function encodedPattern(secret: string): RegExp {
  let pattern = patterns.get(secret);
  if (!pattern) {
    if (patterns.size >= MAX_PATTERNS) patterns.clear();
    // By code point: the units of an astral character are escaped one by one, its bytes encoded together.
    pattern = new RegExp([...secret].map(characterPattern).join(''), 'g');
    patterns.set(secret, pattern);
  }
  return pattern;
}

/**
 * `text` with every given secret (of 8 characters or more, or `minLength`) and every Hugging Face
 * token replaced by `mask`: the secret as itself and in every encoding characterPattern lists, so
 * that text which is decoded later (a JSON body parsed, a URL's query read) cannot give it back.
 */
export function maskSecrets(text: string, secrets: readonly string[], mask = '[REDACTED]', minLength = MIN_SECRET_LENGTH): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= Math.max(1, minLength)) out = out.replace(encodedPattern(secret), () => mask);
  return out.includes('hf_') ? out.replace(HF_TOKEN, mask) : out;
}

/**
 * A request URL fit for a log line: values of query parameters with a secret name, and any
 * Hugging Face token in the path or query, masked. Most URLs have neither and are returned as they are.
 */
export function redactUrl(url: string, mask = '[Redacted]'): string {
  const q = url.indexOf('?');
  if (q < 0 && !url.includes('hf_')) return url;
  const path = url.slice(0, q < 0 ? url.length : q);
  const query =
    q < 0
      ? ''
      : '?' +
        url
          .slice(q + 1)
          .split('&')
          .map((pair) => {
            const eq = pair.indexOf('=');
            const name = eq < 0 ? pair : pair.slice(0, eq);
            let decoded = name;
            try {
              decoded = decodeURIComponent(name);
            } catch {
              // a malformed escape: judged by its raw text
            }
            return eq >= 0 && SECRET_NAME.test(decoded) ? `${name}=${mask}` : pair;
          })
          .join('&');
  return maskSecrets(path + query, [], mask);
}

/**
 * A connection URL (PostgreSQL, Redis) as it may be shown: the password replaced by `***`, the
 * rest exactly as given, whatever characters the password holds. A URL that parses has its
 * user info where the URL standard puts it: up to the last `@` before the first `/`, `?` or `#`
 * after the scheme (so `my@pw` is masked whole). One that does not parse (a password with a raw
 * `/` or `#`) is masked up to the last `@` of the text: more is hidden rather than less.
 */
export function hideUrlPassword(raw: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw);
  let parses = false;
  try {
    new URL(raw);
    parses = true;
  } catch {
    // masked by the rule for text below
  }
  let start: number;
  let at: number;
  if (scheme) {
    start = scheme[0].length;
    const rest = raw.slice(start);
    const authorityEnd = parses ? start + (rest.search(/[/?#]/) < 0 ? rest.length : rest.search(/[/?#]/)) : raw.length;
    at = raw.lastIndexOf('@', authorityEnd - 1);
  } else {
    // Not a URL at all (`user:secret@host` in a message): the word holding the last `@`.
    at = raw.lastIndexOf('@');
    start = Math.max(...[' ', '\t', '\n', '['].map((c) => raw.lastIndexOf(c, at))) + 1;
  }
  if (at < start) return raw;
  const colon = raw.indexOf(':', start);
  return colon < 0 || colon > at ? raw : `${raw.slice(0, colon + 1)}***${raw.slice(at)}`;
}
