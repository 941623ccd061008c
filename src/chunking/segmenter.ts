// Unicode word and sentence segmentation (UAX #29, as ICU's Intl.Segmenter does it) in linear time.
//
// Why not just Intl.Segmenter: on Node 20 iterating its segments is quadratic in the string's
// length (0.46 MB/s at 40 KB) and only ~6 MB/s even on 250-character strings. So:
//  - a "fast alphabet" (ASCII, Latin-1, Latin Extended, IPA, Greek and Cyrillic letters, common
//    punctuation) is segmented by a hand-written scanner of the UAX #29 rules that involve those
//    characters; its classes are checked against Intl.Segmenter by the test suite;
//  - text around any other character (combining marks, CJK, Thai, emoji, …) goes to
//    Intl.Segmenter in bounded windows that start and end at boundaries no rule can cross, so
//    the result is the same as segmenting the whole string, at linear cost.
// Only a run of more than WINDOW characters with no such boundary (e.g. CJK without spaces or
// punctuation) is cut by force, where Intl.Segmenter itself found a boundary.

/** Word_Break classes of the fast alphabet; SLOW marks every other character. */
const enum W {
  SLOW = 0,
  OTHER,
  ALETTER,
  NUMERIC,
  EXTEND_NUM_LET,
  MID_LETTER,
  MID_NUM,
  MID_NUM_LET, // includes Single_Quote: every rule here treats them alike
  SPACE,
  CR,
  LF,
  NEWLINE,
}

/** Sentence_Break classes of the fast alphabet. */
const enum S {
  SLOW = 0,
  OTHER,
  SP,
  LOWER,
  UPPER,
  OLETTER,
  NUMERIC,
  ATERM,
  STERM,
  CLOSE,
  SCONTINUE,
  CR,
  LF,
}

const TABLE_SIZE = 0x2040;
const WB = new Uint8Array(TABLE_SIZE);
const SB = new Uint8Array(TABLE_SIZE);

function set(cp: number, w: W, s: S): void {
  WB[cp] = w;
  SB[cp] = s;
}

(function buildTables() {
  const isLetter = /^\p{L}$/u;
  const isLower = /^\p{Lowercase}$/u;
  const isUpper = /^[\p{Uppercase}\p{Lt}]$/u;
  const letterRanges: Array<[number, number]> = [
    [0x41, 0x5a],
    [0x61, 0x7a],
    [0xaa, 0xaa],
    [0xb5, 0xb5],
    [0xba, 0xba],
    [0xc0, 0x2af],
    [0x370, 0x3ff],
    [0x400, 0x52f],
  ];
  for (const [from, to] of letterRanges) {
    for (let cp = from; cp <= to; cp++) {
      const ch = String.fromCharCode(cp);
      if (!isLetter.test(ch)) continue;
      set(cp, W.ALETTER, isLower.test(ch) ? S.LOWER : isUpper.test(ch) ? S.UPPER : S.OLETTER);
    }
  }
  for (let cp = 0x30; cp <= 0x39; cp++) set(cp, W.NUMERIC, S.NUMERIC);
  // Everything else of ASCII and Latin-1 that is printable: punctuation and symbols.
  for (let cp = 0x21; cp <= 0x7e; cp++) if (WB[cp] === W.SLOW) set(cp, W.OTHER, S.OTHER);
  for (let cp = 0xa1; cp <= 0xbf; cp++) if (WB[cp] === W.SLOW) set(cp, W.OTHER, S.OTHER);
  set(0xd7, W.OTHER, S.OTHER); // ×
  set(0xf7, W.OTHER, S.OTHER); // ÷
  // Left to Intl.Segmenter: the soft hyphen is Format (it attaches to its neighbour), and ICU
  // counts the cedilla as a letter although it is a symbol.
  set(0xad, W.SLOW, S.SLOW);
  set(0xb8, W.SLOW, S.SLOW);
  // Whitespace and line breaks.
  set(0x09, W.OTHER, S.SP);
  set(0x0a, W.LF, S.LF);
  set(0x0b, W.NEWLINE, S.SP);
  set(0x0c, W.NEWLINE, S.SP);
  set(0x0d, W.CR, S.CR);
  set(0x20, W.SPACE, S.SP);
  set(0xa0, W.OTHER, S.SP);
  // NEL and the line and paragraph separators: line breaks for both (Newline; Sep, a ParaSep like LF).
  for (const cp of [0x85, 0x2028, 0x2029]) set(cp, W.NEWLINE, S.LF);
  // Word_Break specials.
  WB[0x5f] = W.EXTEND_NUM_LET; // _
  WB[0x3a] = W.MID_LETTER; // :
  WB[0xb7] = W.MID_LETTER; // ·
  WB[0x2c] = W.MID_NUM; // ,
  WB[0x3b] = W.MID_NUM; // ;
  WB[0x2e] = W.MID_NUM_LET; // .
  WB[0x27] = W.MID_NUM_LET; // ' (Single_Quote)
  // Sentence_Break specials.
  SB[0x2e] = S.ATERM; // .
  SB[0x21] = S.STERM; // !
  SB[0x3f] = S.STERM; // ?
  for (const cp of [0x22, 0x27, 0x28, 0x29, 0x5b, 0x5d, 0x7b, 0x7d, 0xab, 0xbb]) SB[cp] = S.CLOSE;
  for (const cp of [0x2c, 0x2d, 0x3a, 0x3b]) SB[cp] = S.SCONTINUE; // , - : ;
  // General Punctuation that English text is full of.
  set(0x2010, W.OTHER, S.OTHER); // ‐
  set(0x2011, W.OTHER, S.OTHER);
  set(0x2012, W.OTHER, S.OTHER);
  set(0x2013, W.OTHER, S.SCONTINUE); // –
  set(0x2014, W.OTHER, S.SCONTINUE); // —
  set(0x2015, W.OTHER, S.OTHER);
  set(0x2018, W.MID_NUM_LET, S.CLOSE); // ‘
  set(0x2019, W.MID_NUM_LET, S.CLOSE); // ’
  for (const cp of [0x201a, 0x201b, 0x201c, 0x201d, 0x201e, 0x201f, 0x2039, 0x203a]) set(cp, W.OTHER, S.CLOSE);
  for (const cp of [0x2020, 0x2021, 0x2022, 0x2026, 0x2030, 0x2032, 0x2033]) set(cp, W.OTHER, S.OTHER);
})();

const wbOf = (text: string, i: number): number => {
  const c = text.charCodeAt(i);
  return c < TABLE_SIZE ? WB[c]! : W.SLOW;
};
const sbOf = (text: string, i: number): number => {
  const c = text.charCodeAt(i);
  return c < TABLE_SIZE ? SB[c]! : S.SLOW;
};

/** Characters handled by Intl.Segmenter in one call at most; also the sentence look-ahead margin's window. */
export const WINDOW = 2048;
const MARGIN = 256;

const wordSegmenter = new Intl.Segmenter(undefined, { granularity: 'word' });
const sentenceSegmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' });

/** Spans kept in plain arrays up to this many; past it, in typed arrays. */
const SMALL_SPANS = 512;

/**
 * Growable list of [start, end) pairs. Short inputs (the common case on the hot path) use plain
 * arrays, which cost no backing-store allocation; long ones move to typed arrays, which keep
 * millions of offsets off the garbage-collected heap.
 */
class Spans {
  starts: number[] | Int32Array = [];
  ends: number[] | Int32Array = [];
  count = 0;
  push(start: number, end: number): void {
    if (Array.isArray(this.starts)) {
      if (this.count < SMALL_SPANS) {
        this.starts.push(start);
        (this.ends as number[]).push(end);
        this.count++;
        return;
      }
      this.starts = Int32Array.from(this.starts);
      this.ends = Int32Array.from(this.ends as number[]);
    }
    if (this.count === this.starts.length) {
      const starts = new Int32Array(this.count * 2);
      const ends = new Int32Array(this.count * 2);
      starts.set(this.starts);
      ends.set(this.ends);
      this.starts = starts;
      this.ends = ends;
    }
    this.starts[this.count] = start;
    this.ends[this.count++] = end;
  }
}

export interface WordSpans {
  /** UTF-16 offsets of each word-like segment, in order. */
  readonly starts: ArrayLike<number>;
  readonly ends: ArrayLike<number>;
  readonly count: number;
}

const isWordChar = (w: number) => w === W.ALETTER || w === W.NUMERIC || w === W.EXTEND_NUM_LET;

/** Word segments of text[from, to), which holds only fast characters and starts and ends at safe cuts. */
function fastWords(text: string, from: number, to: number, out: Spans): void {
  let i = from;
  while (i < to) {
    let last = wbOf(text, i);
    if (!isWordChar(last)) {
      i++;
      continue;
    }
    const start = i++;
    while (i < to) {
      const w = wbOf(text, i);
      if (isWordChar(w)) {
        last = w;
        i++;
        continue;
      }
      // WB6/WB7: letter (MidLetter | MidNumLetQ) letter; WB11/WB12: digit (MidNum | MidNumLetQ) digit.
      if (i + 1 < to) {
        const next = wbOf(text, i + 1);
        if (last === W.ALETTER && next === W.ALETTER && (w === W.MID_LETTER || w === W.MID_NUM_LET)) {
          i += 2;
          continue;
        }
        if (last === W.NUMERIC && next === W.NUMERIC && (w === W.MID_NUM || w === W.MID_NUM_LET)) {
          i += 2;
          continue;
        }
      }
      break;
    }
    // ICU counts a run of connector punctuation as a word only from two characters on: "__" is, "_" is not.
    if (i - start > 1 || last !== W.EXTEND_NUM_LET) out.push(start, i);
  }
}

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x3000]);
/** Characters that may attach to what precedes them (Extend, Format, ZWJ, emoji modifiers): never cut before one. */
const ATTACHES = /[\p{Grapheme_Extend}\p{Mc}\p{Cf}\u{1F3FB}-\u{1F3FF}]/u;

/**
 * A position no word rule crosses: after a whitespace or line-break character and before a
 * character that cannot attach backwards. Rules only join across letters, digits and the
 * punctuation between them, so the text after such a cut segments the same on its own.
 */
function isSafeWordCut(text: string, p: number): boolean {
  if (p <= 0 || p >= text.length) return true;
  if (!WHITESPACE.has(text.charCodeAt(p - 1))) return false;
  const c = text.charCodeAt(p);
  if (c < TABLE_SIZE && WB[c] !== W.SLOW) return true;
  return !ATTACHES.test(text[p]!);
}

function intlWords(text: string, from: number, to: number, out: Spans): void {
  for (const seg of wordSegmenter.segment(text.slice(from, to))) {
    if (seg.isWordLike) out.push(from + seg.index, from + seg.index + seg.segment.length);
  }
}

/** Every word-like segment of `text`, as Intl.Segmenter would find them, in linear time. */
export function findWords(text: string): WordSpans {
  const out = new Spans();
  const n = text.length;
  let pos = 0; // always a safe cut
  while (pos < n) {
    // The next slow character, or n.
    let j = pos;
    while (j < n && wbOf(text, j) !== W.SLOW) j++;
    if (j === n) {
      fastWords(text, pos, n, out);
      break;
    }
    // Back to the safe cut before it; forward to a safe cut after it (and after any slow
    // characters close behind), within WINDOW characters.
    let a = j;
    while (a > pos && !isSafeWordCut(text, a)) a--;
    fastWords(text, pos, a, out);
    const limit = Math.min(n, a + WINDOW);
    let b = j + 1;
    let lastSlow = j;
    while (b < limit) {
      if (wbOf(text, b) === W.SLOW) lastSlow = b;
      else if (b - lastSlow > 64 && isSafeWordCut(text, b)) break;
      b++;
    }
    while (b < limit && !isSafeWordCut(text, b)) b++;
    if (b >= n || isSafeWordCut(text, b)) {
      intlWords(text, a, b, out);
      pos = b;
    } else {
      // No safe cut within WINDOW: keep the segments that end well before the window's edge
      // and go on from the last boundary kept.
      const mark = out.count;
      const tmp = new Spans();
      intlWords(text, a, b, tmp);
      let keepEnd = a;
      for (let k = 0; k < tmp.count; k++) {
        if (tmp.ends[k]! > b - MARGIN && k > 0) break;
        out.push(tmp.starts[k]!, tmp.ends[k]!);
        keepEnd = tmp.ends[k]!;
      }
      pos = out.count > mark && keepEnd > a ? keepEnd : b;
    }
  }
  // Typed arrays are longer than their content: hand out views of exactly the spans found.
  if (Array.isArray(out.starts)) return out;
  return {
    starts: out.starts.subarray(0, out.count),
    ends: (out.ends as Int32Array).subarray(0, out.count),
    count: out.count,
  };
}

/** Result of the fast sentence scanner: the breaks it is sure of, and where it had to stop. */
const ABORT = -1;

const isParaSep = (s: number) => s === S.CR || s === S.LF;
const isTerm = (s: number) => s === S.ATERM || s === S.STERM;

/**
 * Sentence breaks after `from` (a sentence start) by the UAX #29 rules, pushing each break
 * position. Stops, returning ABORT, as soon as a decision would need a slow character;
 * otherwise returns `text.length`.
 */
function fastSentences(text: string, from: number, out: number[]): number {
  const n = text.length;
  let i = from;
  while (i < n) {
    const c = sbOf(text, i);
    if (c === S.SLOW) return ABORT;
    if (c === S.CR) {
      if (i + 1 < n && sbOf(text, i + 1) === S.SLOW) return ABORT;
      i += i + 1 < n && text.charCodeAt(i + 1) === 0x0a ? 2 : 1; // CR LF, not CR and another separator
      out.push(i);
      continue;
    }
    if (c === S.LF) {
      out.push(++i);
      continue;
    }
    if (!isTerm(c)) {
      i++;
      continue;
    }
    const term = c;
    const before = i > 0 ? sbOf(text, i - 1) : S.OTHER;
    i++;
    if (i >= n) break;
    let d = sbOf(text, i);
    if (d === S.SLOW) return ABORT;
    if (term === S.ATERM && d === S.NUMERIC) continue; // SB6
    if (term === S.ATERM && d === S.UPPER && (before === S.UPPER || before === S.LOWER)) continue; // SB7
    while (i < n && (d = sbOf(text, i)) === S.CLOSE) i++; // SB9
    while (i < n && (d = sbOf(text, i)) === S.SP) i++; // SB10
    if (i >= n) break;
    if (d === S.SLOW) return ABORT;
    if (isParaSep(d)) continue; // the line break itself ends the sentence (SB4), handled above
    if (d === S.SCONTINUE || isTerm(d)) continue; // SB8a
    if (term === S.ATERM) {
      // SB8: ATerm Close* Sp* × (¬(OLetter | Upper | Lower | ParaSep | SATerm))* Lower
      let k = i;
      let e = d;
      while (k < n) {
        e = sbOf(text, k);
        if (e === S.SLOW) return ABORT;
        if (e === S.OLETTER || e === S.UPPER || e === S.LOWER || isParaSep(e) || isTerm(e)) break;
        k++;
      }
      if (k < n && e === S.LOWER) continue;
    }
    out.push(i); // SB11
  }
  if (n > from && out[out.length - 1] !== n) out.push(n);
  return n;
}

/** Sentence breaks of text[from, to) by Intl.Segmenter, as absolute positions (the last is `to`). */
function intlSentences(text: string, from: number, to: number): number[] {
  const breaks: number[] = [];
  for (const seg of sentenceSegmenter.segment(text.slice(from, to))) breaks.push(from + seg.index + seg.segment.length);
  return breaks;
}

/**
 * Sentence end positions of `text`, ascending, the last being `text.length` (none for ""), as
 * Intl.Segmenter would find them, in linear time.
 */
export function findSentenceEnds(text: string): number[] {
  const n = text.length;
  const ends: number[] = [];
  let pos = 0; // always the start of a sentence
  let window = WINDOW;
  while (pos < n) {
    const mark = ends.length;
    if (fastSentences(text, pos, ends) === n) break;
    // The fast scanner met a character it does not know: drop its last, undecided sentence
    // and segment from the last sure break with Intl.Segmenter, one window at a time.
    if (ends.length > mark) pos = ends[ends.length - 1]!;
    const end = Math.min(n, pos + window);
    const found = intlSentences(text, pos, end);
    if (end === n) {
      ends.push(...found);
      break;
    }
    // The last "break" is only the window's edge, and a break near the edge may depend on
    // what follows it (SB8 looks ahead): keep those well inside. With none there, keep what
    // there is. A sentence longer than the window is not cut: the window doubles until it
    // holds the sentence's end (one segment costs Intl.Segmenter linear time).
    const interior = found.slice(0, -1);
    if (interior.length === 0) {
      window *= 2;
      continue;
    }
    window = WINDOW;
    const kept = interior.filter((b) => b <= end - MARGIN);
    const take = kept.length > 0 ? kept : interior;
    ends.push(...take);
    pos = take[take.length - 1]!;
  }
  return ends;
}
