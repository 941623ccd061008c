// What counts as a secret in text the service writes (error messages, log lines), and how it is masked.

/** Names under which a value is a credential, wherever they appear (a body, a settings map, a query string). */
export const SECRET_NAME = /^(api[_-]?key|token|access[_-]?token|secret|password|authorization)$/i;

/**
 * A Hugging Face access token (`hf_` and 34 letters and digits), matched from 20 on: long
 * enough that an inference id such as `hf_minilm` is left alone.
 */
export const HF_TOKEN = /\bhf_[A-Za-z0-9]{20,}/g;

/** Shorter values are not treated as secrets: masking `x` would mangle every message. */
const MIN_SECRET_LENGTH = 8;

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

/** `text` with every given secret (of 8 characters or more) and every Hugging Face token replaced by `mask`. */
export function maskSecrets(text: string, secrets: readonly string[], mask = '[REDACTED]'): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= MIN_SECRET_LENGTH && out.includes(secret)) out = out.split(secret).join(mask);
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
