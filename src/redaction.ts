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
      if (
        typeof key === 'string' &&
        SECRET_NAME.test(key) &&
        typeof inner === 'string' &&
        inner.length >= MIN_SECRET_LENGTH
      )
        found.add(inner);
      else pending.push({ value: inner, depth: depth + 1 });
    }
  }
  return [...found];
}

/** JSON's two-character escapes (RFC 8259 §7): `\/` is one of them, allowed though never needed. */
const JSON_SHORT_ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  '\b': 'b',
  '\f': 'f',
  '\n': 'n',
  '\r': 'r',
  '\t': 't',
};

const hex4 = (unit: number) => unit.toString(16).padStart(4, '0');
/** One hex digit in either case: `\u00e9` and `\u00E9`, `%c3` and `%C3` are the same text. */
const anyCaseHex = (digits: string) =>
  [...digits].map((d) => (/[a-f]/.test(d) ? `[${d}${d.toUpperCase()}]` : d)).join('');

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
  const bytes = [...new TextEncoder().encode(char)]
    .map((b) => `%${anyCaseHex(b.toString(16).padStart(2, '0'))}`)
    .join('');
  // Longest first, though any order finds the key: `%25` is a percent sign, not `%` followed by `25`.
  return `(?:${bytes}|${units.join('')}${char === ' ' ? '|\\+' : ''})`;
}

/** What every encoded writing of a character has (characterPattern): a JSON escape, a percent sign or a plus. */
const ENCODING_MARKS = /[\\%+]/;

/** Secrets longer than this are masked as themselves only (a regular expression of one would be huge). */
const MAX_ENCODED_LENGTH = 256;
/** Characters times secret length searched for encoded writings in one call (about a tenth of a second at worst). */
const ENCODED_SEARCH_BUDGET = 64_000_000;
/** Backslashes in a secret up to which its exact (backtracking) pattern is used: 2^8 paths at most. */
const MAX_EXACT_BACKSLASHES = 8;

/**
 * The patterns of the secrets masked lately, exact and atomic, by secret: an endpoint's key is masked again at each of
 * its failures and in every event of its streams.
 */
const exactPatterns = new Map<string, RegExp>();
const atomicPatterns = new Map<string, RegExp>();
const MAX_PATTERNS = 256;

function encodedPattern(secret: string, exact = false): RegExp {
  const patterns = exact ? exactPatterns : atomicPatterns;
  let pattern = patterns.get(secret);
  if (!pattern) {
    if (patterns.size >= MAX_PATTERNS) patterns.clear();
    // Exact: every mix of writings is found, by backtracking, which costs up to 2 to the number of backslashes in
    // the secret: for an endpoint's own key (set by an operator; Hugging Face tokens have none) with a few at most.
    const backtrack = exact && secret.split('\\').length - 1 <= MAX_EXACT_BACKSLASHES;
    // By code point: the units of an astral character are escaped one by one, its bytes encoded together.
    // Otherwise each character's match is atomic (a lookahead captures it, a back-reference consumes it): the
    // ways of writing a backslash overlap (`\\` is one escaped backslash or two raw ones), and with backtracking
    // a secret of backslashes from a request body against text of backslashes takes time exponential in its
    // length. Atomic, a start position costs at most the secret's length; maskSecrets also masks the secret as
    // itself after, so what the one-way reading misses is only an ambiguous mix of encodings.
    const chars = [...secret].map((char, i) =>
      backtrack ? characterPattern(char) : `(?=(${characterPattern(char)}))\\${i + 1}`,
    );
    pattern = new RegExp(chars.join(''), 'g');
    patterns.set(secret, pattern);
  }
  return pattern;
}

/**
 * `text` with every given secret (of 8 characters or more, or `minLength`) and every Hugging Face
 * token replaced by `mask`: the secret as itself and in every encoding characterPattern lists, so
 * that text which is decoded later (a JSON body parsed, a URL's query read) cannot give it back.
 */
export function maskSecrets(
  text: string,
  secrets: readonly string[],
  mask = '[REDACTED]',
  minLength = MIN_SECRET_LENGTH,
): string {
  let out = text;
  let budget = ENCODED_SEARCH_BUDGET;
  for (const secret of secrets) {
    if (secret.length < Math.max(1, minLength)) continue;
    // Encoded writings need a backslash, a percent sign or a plus. Searching for them costs at most the
    // secret's length per position of the text; a body may hold thousands of values under secret names, or
    // one of megabytes, so the search stops within a budget and the rest is masked as itself only (and
    // anything shaped like a Hugging Face token still by its shape, below).
    const cost = secret.length * out.length;
    if (secret.length <= MAX_ENCODED_LENGTH && cost <= budget && ENCODING_MARKS.test(out)) {
      budget -= cost;
      out = out.replace(encodedPattern(secret), () => mask);
    }
    // Then as itself: also where the one-way reading above took a character for part of an escape.
    if (out.includes(secret)) out = out.split(secret).join(mask);
  }
  return out.includes('hf_') ? out.replace(HF_TOKEN, mask) : out;
}

/**
 * `text` with an endpoint's own api key masked in every encoding, whatever its length (a key stored before short keys
 * were refused is still masked in its upstream's words), and anything shaped like a Hugging Face token: what an
 * upstream's failure may say back.
 */
export function maskKeyEcho(text: string, apiKey: string): string {
  return maskSecrets(text, [apiKey], '[REDACTED]', 1);
}

/**
 * `text` with `secret` (at least MIN_SECRET_LENGTH long) masked in every encoding of maskSecrets, and nothing else (no
 * token-shaped text).
 */
export function maskSecret(text: string, secret: string, mask = '[REDACTED]'): string {
  if (secret.length < MIN_SECRET_LENGTH) return text;
  // A writing with any character encoded has a backslash, a percent sign or a plus: text with none of them (a stream's
  // id and model, in every event) holds the secret only as itself.
  const encoded =
    secret.length > MAX_ENCODED_LENGTH || !ENCODING_MARKS.test(text)
      ? text
      : text.replace(encodedPattern(secret, true), () => mask);
  return encoded.includes(secret) ? encoded.split(secret).join(mask) : encoded;
}

/**
 * The forms one code point of a secret may be written in, as characterPattern matches them: each
 * form a list of positions, each position the characters allowed there (a hex digit in either case).
 */
function codePointForms(char: string): string[][] {
  const hexPositions = (digits: string) => [...digits].map((d) => (/[a-f]/.test(d) ? d + d.toUpperCase() : d));
  const unitForms = (unit: number): string[][] => [
    [String.fromCharCode(unit)],
    ['\\', 'u', ...hexPositions(hex4(unit))],
  ];
  let json: string[][] = [[]];
  for (let i = 0; i < char.length; i++)
    json = json.flatMap((head) => unitForms(char.charCodeAt(i)).map((tail) => [...head, ...tail]));
  const short = JSON_SHORT_ESCAPES[char];
  if (short !== undefined) json.push(['\\', short]);
  const percent = [...new TextEncoder().encode(char)].flatMap((b) => [
    '%',
    ...hexPositions(b.toString(16).padStart(2, '0')),
  ]);
  return [...json, percent, ...(char === ' ' ? [['+']] : [])];
}

/**
 * Whether `text` from `start` to its end could begin an occurrence of a secret (given as the forms
 * of its code points): it is the start of some writing of the secret, in any encoding mix, that
 * the text ends before completing. A whole writing that ends the text is not one, unless the same
 * text also begins a longer writing (a raw `\` is also the start of `\u005c`).
 */
function couldBegin(text: string, start: number, forms: readonly string[][][]): boolean {
  const failed = new Set<number>();
  const visit = (pos: number, k: number): boolean => {
    // The text ends: inside a writing, or after a whole one (which may not go on).
    if (pos === text.length) return k < forms.length;
    if (k === forms.length) return false;
    const state = pos * (forms.length + 1) + k;
    if (failed.has(state)) return false;
    for (const form of forms[k]!) {
      let i = 0;
      while (i < form.length && pos + i < text.length && form[i]!.includes(text[pos + i]!)) i++;
      if (i === form.length ? visit(pos + i, k + 1) : pos + i === text.length) return true;
    }
    failed.add(state);
    return false;
  };
  return visit(start, 0);
}

/**
 * Text streamed in pieces (a generated answer's tokens) with a secret masked even when it is
 * split across pieces: each piece is given back at once, masked, except its tail that could still
 * be the start of the secret (raw or encoded), which waits for the next piece or for flush(). Text
 * that cannot begin the secret is never delayed (a stream's first token is not held back).
 */
/** What a SecretHoldBack looks for, worked out once per secret (a stream makes one per choice and field). */
interface SecretForms {
  forms: string[][][];
  /** The longest any writing of the secret can be: a held tail is always shorter. */
  longest: number;
  /** The characters a writing of the secret can start with: most text has none of them near its end. */
  firsts: string;
  /** Every writing of the secret (encodedPattern's exact one); undefined for a secret too short to be masked. */
  pattern: RegExp | undefined;
}

const secretForms = new Map<string, SecretForms>();

function formsOf(secret: string): SecretForms {
  let known = secretForms.get(secret);
  if (!known) {
    if (secretForms.size >= MAX_PATTERNS) secretForms.clear();
    // Shorter secrets are not masked (see MIN_SECRET_LENGTH): nothing is held for them either.
    const forms = secret.length >= MIN_SECRET_LENGTH ? [...secret].map(codePointForms) : [];
    known = {
      forms,
      longest: forms.reduce((sum, f) => sum + Math.max(...f.map((form) => form.length)), 0),
      firsts: (forms[0] ?? []).map((form) => form[0]!).join(''),
      pattern: forms.length > 0 ? encodedPattern(secret, true) : undefined,
    };
    secretForms.set(secret, known);
  }
  return known;
}

export class SecretHoldBack {
  private pending = '';
  private readonly forms: string[][][];
  private readonly longest: number;
  private readonly firsts: string;
  /** Every writing of the secret, looked up once (a stream pushes a piece per token). */
  private readonly pattern: RegExp | undefined;

  constructor(
    private readonly secret: string,
    private readonly mask = '[REDACTED]',
  ) {
    // Looked up once per secret: a stream makes a hold-back per choice and field, and building the pattern's cache key
    // cost several microseconds of its first event.
    ({ forms: this.forms, longest: this.longest, firsts: this.firsts, pattern: this.pattern } = formsOf(secret));
  }

  /** What of the text so far can be sent now: masked, without a tail that could begin the secret. */
  push(piece: string): string {
    if (!this.pattern) return piece;
    // Every writing of the secret, and every tail held, begins with one of `firsts`: a piece with none of them, after
    // nothing held, goes out as it is (most tokens).
    if (this.pending === '' && !this.mayBegin(piece)) return piece;
    const text = this.pending + piece;
    const matches = [...text.matchAll(this.pattern)];
    let hold = text.length;
    // The last writing of the secret found may be the start of a longer one the text ends inside
    // (a raw `\` and then `u00`, of `\u005c`): it waits, so that the text is masked as it would be whole.
    const last = matches.at(-1);
    if (last && couldBegin(text, last.index, this.forms)) hold = matches.pop()!.index;
    const masked = matches.at(-1);
    const from = masked ? masked.index + masked[0].length : 0;
    for (let start = Math.max(from, text.length - this.longest); start < hold; start++) {
      if (this.firsts.includes(text[start]!) && couldBegin(text, start, this.forms)) {
        hold = start;
        break;
      }
    }
    this.pending = text.slice(hold);
    let out = '';
    let at = 0;
    for (const match of matches) {
      out += text.slice(at, match.index) + this.mask;
      at = match.index + match[0].length;
    }
    return out + text.slice(at, hold);
  }

  /** Whether push(piece) would give the piece back as it is and hold nothing (most tokens). */
  passes(piece: string): boolean {
    return !this.pattern || (this.pending === '' && !this.mayBegin(piece));
  }

  private mayBegin(piece: string): boolean {
    for (const first of this.firsts) if (piece.includes(first)) return true;
    return false;
  }

  /** The held tail, masked (a whole secret in it too), given back; nothing is held after. */
  flush(): string {
    const out = maskSecret(this.pending, this.secret, this.mask);
    this.pending = '';
    return out;
  }

  /** Whether a tail is held. */
  get holding(): boolean {
    return this.pending !== '';
  }
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
