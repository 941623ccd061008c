// Unicode word and sentence segmentation (UAX #29, as ICU's Intl.Segmenter does it) in linear time.
//
// Why not just Intl.Segmenter: on Node 20 iterating its segments is quadratic in the string's
// length (0.46 MB/s at 40 KB) and only 1–3 MB/s even over 500-character windows (it builds an
// object per segment, spaces and punctuation included), against tens of MB/s for a table-driven
// scanner. So:
//  - every character whose word rules need no dictionary (the alphabets and abugidas: Latin,
//    Greek, Cyrillic, Armenian, Hebrew, Arabic, Syriac, Thaana, the Indic scripts, Georgian,
//    Ethiopic, Hangul, …, their marks, digits and punctuation) is segmented by a hand-written
//    scanner of ICU's word rules (icu4c/source/data/brkitr/rules/word.txt); its classes are
//    derived from the Unicode properties of the running engine and checked against
//    Intl.Segmenter by the test suite, character by character and on generated text;
//  - the dictionary scripts (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar, …), emoji and
//    characters outside the BMP go to Intl.Segmenter in windows of a few hundred characters that
//    start and end at boundaries no rule or dictionary crosses, so the result is the same as
//    segmenting the whole string, at linear cost;
//  - a run of more than WINDOW characters with no such boundary (Chinese without punctuation) is
//    cut where two overlapping Intl.Segmenter windows agree on a word boundary.

/** Word_Break classes as ICU's word rules use them; SLOW marks what only Intl.Segmenter handles. */
const enum W {
  SLOW = 0,
  /** Anything no word rule joins: spaces, line breaks, most punctuation and symbols. */
  OTHER,
  ALETTER,
  HEBREW_LETTER,
  NUMERIC,
  EXTEND_NUM_LET,
  MID_LETTER,
  MID_NUM,
  MID_NUM_LET,
  SINGLE_QUOTE,
  DOUBLE_QUOTE,
  /** Extend, Format and ZWJ: attach to what precedes them (WB4). */
  EXTEND,
  /** Precomposed Hangul syllables: ICU joins them only with each other. */
  HANGUL,
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
  /** U+0085, U+2028, U+2029: paragraph separators like LF. */
  SEP,
  /** Extend and Format: belong to what precedes them (SB5). */
  EXTEND,
}

/** Word classes of every BMP code unit (surrogates stay SLOW). */
const WB = new Uint8Array(0x10000);
const SB = new Uint8Array(0x10000);

/** Calls `fn` for each code point of `cps` (whose text is `all`) matched by `re`: a global /u character class with `+`. */
function forEachMatch(all: string, cps: Uint16Array, re: RegExp, fn: (cp: number) => void): void {
  re.lastIndex = 0;
  for (let m = re.exec(all); m !== null; m = re.exec(all)) {
    for (let i = m.index, end = m.index + m[0].length; i < end; i++) fn(cps[i]!);
  }
}

/** One code point of the listed ones, as a class: "[...]". */
const list = (cps: number[]) => new RegExp(`[${cps.map((c) => `\\u{${c.toString(16)}}`).join('')}]+`, 'gu');

let wordTableBuilt = false;

/** Fills WB and SB on the first use (it takes a few tens of milliseconds, kept out of start-up). */
function buildWordTable(): void {
  wordTableBuilt = true;
  // Every BMP code point but the surrogates, in order.
  const cps = new Uint16Array(0x10000 - 0x800);
  for (let i = 0; i < cps.length; i++) cps[i] = i < 0xd800 ? i : i + 0x800;
  const all = new TextDecoder('utf-16le').decode(cps);
  const to = (w: W) => (cp: number) => void (WB[cp] = w);
  // The derivations of UAX #29's Word_Break table, most general first; later steps override.
  forEachMatch(all, cps, /\p{Assigned}+/gu, to(W.OTHER));
  forEachMatch(all, cps, /\p{Alphabetic}+/gu, to(W.ALETTER));
  // prettier-ignore
  forEachMatch(all, cps, list([0x2c2, 0x2c3, 0x2c4, 0x2c5, 0x2d2, 0x2d3, 0x2d4, 0x2d5, 0x2d6, 0x2d7, 0x2de, 0x2df, 0x2e5,
    0x2e6, 0x2e7, 0x2e8, 0x2e9, 0x2ea, 0x2eb, 0x2ed, 0x2ef, 0x2f0, 0x2f1, 0x2f2, 0x2f3, 0x2f4, 0x2f5, 0x2f6, 0x2f7, 0x2f8,
    0x2f9, 0x2fa, 0x2fb, 0x2fc, 0x2fd, 0x2fe, 0x2ff, 0x55a, 0x55b, 0x55c, 0x55e, 0x58a, 0x5f3, 0xa708, 0xa709, 0xa70a,
    0xa70b, 0xa70c, 0xa70d, 0xa70e, 0xa70f, 0xa710, 0xa711, 0xa712, 0xa713, 0xa714, 0xa715, 0xa716, 0xa720, 0xa721,
    0xa789, 0xa78a, 0xab5b]), to(W.ALETTER));
  // Hebrew_Letter: the Hebrew script's letters (its marks become Extend below); geresh (U+05F3) stays ALetter.
  forEachMatch(all, cps, /\p{sc=Hebrew}+/gu, (cp) => {
    if (WB[cp] === W.ALETTER && cp !== 0x5f3) WB[cp] = W.HEBREW_LETTER;
  });
  forEachMatch(all, cps, /[\p{Grapheme_Extend}\p{Mc}\p{Cf}]+/gu, to(W.EXTEND));
  WB[0x200b] = W.OTHER; // zero width space: Other, not Format
  forEachMatch(all, cps, /\p{Nd}+/gu, to(W.NUMERIC));
  // Arabic number signs (Cf, but Numeric) and the Arabic decimal separator.
  forEachMatch(
    all,
    cps,
    list([0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x66b, 0x6dd, 0x890, 0x891, 0x8e2]),
    to(W.NUMERIC),
  );
  forEachMatch(all, cps, /[\p{Pc}\u202f]+/gu, to(W.EXTEND_NUM_LET));
  forEachMatch(all, cps, list([0x3a, 0xb7, 0x387, 0x55f, 0x5f4, 0x2027, 0xfe13, 0xfe55, 0xff1a]), to(W.MID_LETTER));
  // prettier-ignore
  forEachMatch(all, cps, list([0x2c, 0x3b, 0x37e, 0x589, 0x60c, 0x60d, 0x66c, 0x7f8, 0x2044, 0xfe10, 0xfe14, 0xfe50, 0xfe54,
    0xff0c, 0xff1b]), to(W.MID_NUM));
  forEachMatch(all, cps, list([0x2e, 0x2018, 0x2019, 0x2024, 0xfe52, 0xff07, 0xff0e]), to(W.MID_NUM_LET));
  WB[0x27] = W.SINGLE_QUOTE;
  WB[0x22] = W.DOUBLE_QUOTE;
  for (let cp = 0xac00; cp <= 0xd7a3; cp++) WB[cp] = W.HANGUL;
  // Left to Intl.Segmenter: the scripts ICU segments with a dictionary (Han and kana, and the
  // Line_Break=Complex_Context scripts of South-East Asia), and emoji (ZWJ sequences, WB3c).
  // prettier-ignore
  forEachMatch(all, cps, /[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{Ideographic}\p{sc=Thai}\p{sc=Lao}\p{sc=Myanmar}\p{sc=Khmer}\p{sc=Tai_Le}\p{sc=New_Tai_Lue}\p{sc=Tai_Tham}\p{sc=Tai_Viet}\u3031-\u3035\u309b\u309c\u30a0\u30fc\uff70\p{Extended_Pictographic}\p{Emoji}]+/gu, to(W.SLOW));
  for (const c of '#*0123456789') WB[c.charCodeAt(0)] = c >= '0' ? W.NUMERIC : W.OTHER;
  // Where ICU's data differs from the derivation (found by the tests against Intl.Segmenter).
  WB[0xb8] = W.ALETTER; // the cedilla
  WB[0x70f] = W.ALETTER; // Syriac abbreviation mark
  WB[0xfe10] = W.OTHER; // vertical comma and semicolon: not MidNum
  WB[0xfe14] = W.OTHER;
  WB[0xa9] = W.OTHER; // ©, ® and ™ are not emoji to ICU's ZWJ rule
  WB[0xae] = W.OTHER;
  WB[0x2122] = W.OTHER;

  // Sentence_Break, derived the same way.
  const toS = (c: S) => (cp: number) => void (SB[cp] = c);
  forEachMatch(all, cps, /\P{Cn}+/gu, toS(S.OTHER));
  forEachMatch(all, cps, /[\p{Alphabetic}\u05f3]+/gu, toS(S.OLETTER));
  forEachMatch(all, cps, /\p{Lowercase}+/gu, toS(S.LOWER));
  forEachMatch(all, cps, /[\p{Uppercase}\p{Lt}]+/gu, toS(S.UPPER));
  forEachMatch(all, cps, /[\p{Grapheme_Extend}\p{Mc}\p{Cf}\u200d]+/gu, toS(S.EXTEND));
  forEachMatch(all, cps, /\p{Nd}+/gu, toS(S.NUMERIC));
  forEachMatch(
    all,
    cps,
    list([0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x66b, 0x66c, 0x6dd, 0x890, 0x891, 0x8e2]),
    toS(S.NUMERIC),
  );
  forEachMatch(all, cps, /\p{White_Space}+/gu, toS(S.SP));
  forEachMatch(all, cps, /[\p{Ps}\p{Pe}\p{Pi}\p{Pf}\p{Quotation_Mark}]+/gu, toS(S.CLOSE));
  // prettier-ignore
  forEachMatch(all, cps, list([0x2c, 0x2d, 0x3a, 0x3b, 0x37e, 0x55d, 0x60c, 0x60d, 0x7f8, 0x1802, 0x1808, 0x2013, 0x2014,
    0x3001, 0xfe10, 0xfe11, 0xfe13, 0xfe31, 0xfe32, 0xfe50, 0xfe51, 0xfe54, 0xfe55, 0xfe58, 0xfe63, 0xff0c, 0xff0d, 0xff1a,
    0xff1b, 0xff64]), toS(S.SCONTINUE));
  forEachMatch(all, cps, /\p{Sentence_Terminal}+/gu, toS(S.STERM));
  forEachMatch(all, cps, list([0x2e, 0x2024, 0xfe52, 0xff0e]), toS(S.ATERM));
  // Where ICU's data differs (found by the tests): Georgian letters are OLetter, not cased, and
  // a few quotation ornaments and editorial marks are Close (Line_Break=Quotation).
  for (let cp = 0x10d0; cp <= 0x10ff; cp++) if (SB[cp] === S.LOWER && cp !== 0x10fc) SB[cp] = S.OLETTER;
  SB[0x19da] = S.NUMERIC; // New Tai Lue tham digit one
  for (let cp = 0x1c90; cp <= 0x1cbf; cp++) if (SB[cp] === S.UPPER) SB[cp] = S.OLETTER;
  for (const cp of [0x275b, 0x275c, 0x275d, 0x275e, 0x275f, 0x2760, 0x2e00, 0x2e01, 0x2e06, 0x2e07, 0x2e08, 0x2e0b])
    SB[cp] = S.CLOSE;
  SB[0xfe14] = S.SCONTINUE; // vertical semicolon
  SB[0x0a] = S.LF;
  SB[0x0d] = S.CR;
  for (const cp of [0x85, 0x2028, 0x2029]) SB[cp] = S.SEP;
}

const wbOf = (text: string, i: number): number => WB[text.charCodeAt(i)]!;
const sbOf = (text: string, i: number): number => SB[text.charCodeAt(i)]!;

/** Characters handled by Intl.Segmenter in one call at most; also the sentence look-ahead margin's window. */
export const WINDOW = 2048;
const MARGIN = 256;
/**
 * Preferred length of a word window for Intl.Segmenter. Its cost per character grows with the
 * string's length: on Chinese and Japanese text, windows of 64–128 characters ran about 1.0× the
 * speed of 500-character windows here, 1,000-character ones 0.7×.
 */
const WORD_WINDOW = 128;
/** Length and overlap of the windows of a run with no safe cut (see forcedWords). */
const FORCED_WINDOW = 512;
const OVERLAP = 128;

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

const isAHLetter = (w: number) => w === W.ALETTER || w === W.HEBREW_LETTER;

/**
 * Word segments of text[from, to), which holds no SLOW character and starts and ends at safe
 * cuts. ICU's rules, with X (Extend | Format | ZWJ)* taken as X (WB4):
 *  WB5 letter × letter; WB6/7 letter × (MidLetter | MidNumLet | ') letter; WB7a Hebrew × ';
 *  WB7b/c Hebrew × " Hebrew; WB8–10 digits and letters join; WB11/12 digit × (MidNum |
 *  MidNumLet | ') digit; WB13a/b ExtendNumLet joins letters, digits and itself; Hangul
 *  syllables join each other only.
 * ICU calls a segment word-like by the rule that matched its end, and the extends after a
 * final ExtendNumLet, WB7a quote or Hangul syllable match WB4's untagged rule instead: such a
 * segment is not word-like, nor is a lone ExtendNumLet ("_").
 */
function fastWords(text: string, from: number, to: number, out: Spans): void {
  let i = from;
  while (i < to) {
    const first = wbOf(text, i);
    const start = i++;
    if (first === W.HANGUL) {
      while (i < to && wbOf(text, i) === W.HANGUL) i++;
      if (i < to && wbOf(text, i) === W.EXTEND) {
        while (i < to && wbOf(text, i) === W.EXTEND) i++;
        continue;
      }
      out.push(start, i);
      continue;
    }
    if (!(isAHLetter(first) || first === W.NUMERIC || first === W.EXTEND_NUM_LET)) continue;
    /** Class of the last unit joined: ALETTER, HEBREW_LETTER, NUMERIC, EXTEND_NUM_LET or SINGLE_QUOTE (WB7a). */
    let last = first;
    let units = 1;
    let extended = false;
    while (i < to) {
      let w = wbOf(text, i);
      if (w === W.EXTEND) {
        extended = true;
        i++;
        continue;
      }
      if (last === W.SINGLE_QUOTE) break;
      if (isAHLetter(w) || w === W.NUMERIC) {
        // WB5, WB8, WB9, WB10, WB13b.
      } else if (w === W.EXTEND_NUM_LET) {
        // WB13a.
      } else if (
        w === W.MID_LETTER ||
        w === W.MID_NUM_LET ||
        w === W.SINGLE_QUOTE ||
        w === W.MID_NUM ||
        w === W.DOUBLE_QUOTE
      ) {
        let k = i + 1;
        while (k < to && wbOf(text, k) === W.EXTEND) k++;
        const next = k < to ? wbOf(text, k) : W.OTHER;
        const joins =
          (isAHLetter(last) &&
            isAHLetter(next) &&
            (w === W.MID_LETTER || w === W.MID_NUM_LET || w === W.SINGLE_QUOTE)) ||
          (last === W.NUMERIC &&
            next === W.NUMERIC &&
            (w === W.MID_NUM || w === W.MID_NUM_LET || w === W.SINGLE_QUOTE)) ||
          (last === W.HEBREW_LETTER && next === W.HEBREW_LETTER && w === W.DOUBLE_QUOTE);
        if (joins) {
          // The middle character and its extends, then the letter or digit after them.
          i = k;
          w = next;
        } else if (last === W.HEBREW_LETTER && w === W.SINGLE_QUOTE) {
          w = W.SINGLE_QUOTE; // WB7a
        } else break;
      } else break;
      last = w;
      units++;
      extended = false;
      i++;
    }
    const wordLike =
      !(extended && (last === W.EXTEND_NUM_LET || last === W.SINGLE_QUOTE)) &&
      !(units === 1 && last === W.EXTEND_NUM_LET);
    if (wordLike) out.push(start, i);
  }
}

/** Characters that attach to what precedes them (Extend, Format, ZWJ, emoji modifiers): never cut before one. */
const ATTACHES = /^[\p{Grapheme_Extend}\p{Mc}\p{Cf}\u{1F3FB}-\u{1F3FF}]/u;

/**
 * A position no word rule or dictionary crosses: after a character that no rule joins to
 * anything (OTHER: spaces, line breaks, punctuation that is not "mid-word") and before one that
 * cannot attach backwards. Rules only join across letters, digits and the punctuation between
 * them, and ICU's dictionaries only see runs of their own scripts, so the text after such a cut
 * segments the same on its own.
 */
function isSafeWordCut(text: string, p: number): boolean {
  if (p <= 0 || p >= text.length) return true;
  if (wbOf(text, p - 1) !== W.OTHER) return false;
  const w = wbOf(text, p);
  if (w !== W.SLOW) return w !== W.EXTEND;
  return !ATTACHES.test(String.fromCodePoint(text.codePointAt(p)!));
}

/** Word segments of text[from, to) by Intl.Segmenter: each segment's end and whether it is word-like. */
interface Segments {
  ends: number[];
  wordLike: boolean[];
}

function intlSegments(text: string, from: number, to: number): Segments {
  const ends: number[] = [];
  const wordLike: boolean[] = [];
  for (const seg of wordSegmenter.segment(text.slice(from, to))) {
    ends.push(from + seg.index + seg.segment.length);
    wordLike.push(seg.isWordLike === true);
  }
  return { ends, wordLike };
}

function intlWords(text: string, from: number, to: number, out: Spans): void {
  for (const seg of wordSegmenter.segment(text.slice(from, to))) {
    if (seg.isWordLike) out.push(from + seg.index, from + seg.index + seg.segment.length);
  }
}

/** Pushes the word-like segments of `segs` that lie in [from, to). */
function pushSegments(segs: Segments, segStart: number, from: number, to: number, out: Spans): void {
  let start = segStart;
  for (let k = 0; k < segs.ends.length; k++) {
    const end = segs.ends[k]!;
    if (start >= from && end <= to && segs.wordLike[k]) out.push(start, end);
    if (end >= to) break;
    start = end;
  }
}

/**
 * Words of a long run with no safe cut, from `from` on: Intl.Segmenter over windows of
 * FORCED_WINDOW characters, each starting OVERLAP characters (at a boundary) before the previous one's end;
 * the two are cut at the first boundary both found past the next window's start, so that a
 * dictionary's choice near a window's edge never reaches the result. Returns where it stopped:
 * a safe cut, or the end of the text.
 */
function forcedWords(text: string, from: number, out: Spans): number {
  const n = text.length;
  let curStart = from;
  let cur = intlSegments(text, curStart, Math.min(n, curStart + FORCED_WINDOW));
  let committed = from;
  for (;;) {
    const curEnd = cur.ends[cur.ends.length - 1]!;
    // A safe cut inside what this window covers ends the forced run there.
    let safe = -1;
    for (let p = committed + 1; p < Math.min(curEnd, n) - (curEnd === n ? 0 : OVERLAP); p++) {
      if (isSafeWordCut(text, p)) {
        safe = p;
        break;
      }
    }
    if (curEnd >= n || safe > 0) {
      const stop = safe > 0 ? safe : n;
      pushSegments(cur, curStart, committed, stop, out);
      return stop;
    }
    // The next window starts at a boundary about OVERLAP before this one's end.
    let nextStart = committed;
    for (const e of cur.ends) {
      if (e > curEnd - OVERLAP) break;
      if (e > committed) nextStart = e;
    }
    if (nextStart === committed) nextStart = Math.max(committed + 1, curEnd - OVERLAP);
    const next = intlSegments(text, nextStart, Math.min(n, nextStart + FORCED_WINDOW));
    // The first boundary past nextStart that both windows found, well before this window's end.
    let cut = -1;
    const mine = new Set(cur.ends);
    for (const e of next.ends) {
      if (e >= curEnd - 16) break;
      if (mine.has(e)) {
        cut = e;
        break;
      }
    }
    if (cut < 0) cut = nextStart; // no agreement: cut where this window found a boundary
    pushSegments(cur, curStart, committed, cut, out);
    committed = cut;
    curStart = nextStart;
    cur = next;
  }
}

/** Every word-like segment of `text`, as Intl.Segmenter would find them, in linear time. */
export function findWords(text: string): WordSpans {
  if (!wordTableBuilt) buildWordTable();
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
    // Back to the safe cut before it; forward to a safe cut after it, past the slow characters
    // close behind, about WORD_WINDOW characters on at most.
    let a = j;
    while (a > pos && !isSafeWordCut(text, a)) a--;
    fastWords(text, pos, a, out);
    const limit = Math.min(n, a + WINDOW);
    let b = j + 1;
    let lastSlow = j;
    let lastSafe = -1;
    while (b < limit) {
      const slow = wbOf(text, b) === W.SLOW;
      if (isSafeWordCut(text, b)) {
        if (!slow && b - lastSlow > 64) break;
        lastSafe = b;
        if (b - a >= WORD_WINDOW) break;
      }
      if (slow) lastSlow = b;
      b++;
    }
    if (b >= n) {
      intlWords(text, a, n, out);
      break;
    }
    if (b < limit) {
      // Stopped at a safe cut: after the slow stretch, or the last one within WORD_WINDOW.
      const end = b - lastSlow > 64 || lastSafe < 0 ? b : lastSafe;
      intlWords(text, a, end, out);
      pos = end;
    } else if (lastSafe > 0) {
      intlWords(text, a, lastSafe, out);
      pos = lastSafe;
    } else {
      pos = forcedWords(text, a, out);
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

const isParaSep = (s: number) => s === S.CR || s === S.LF || s === S.SEP;
const isTerm = (s: number) => s === S.ATERM || s === S.STERM;

/**
 * Sentence breaks after `from` (a sentence start) by the UAX #29 rules, pushing each break
 * position; Extend and Format characters belong to the character before them (SB5). Stops,
 * returning ABORT, as soon as a decision would need a slow character; otherwise returns
 * `text.length`.
 */
function fastSentences(text: string, from: number, out: number[]): number {
  const n = text.length;
  const skipExtends = (j: number) => {
    while (j < n && sbOf(text, j) === S.EXTEND) j++;
    return j;
  };
  let i = from;
  /** Class of the last character that is not Extend or Format. */
  let prev: number = S.OTHER;
  while (i < n) {
    const c = sbOf(text, i);
    if (c === S.SLOW) return ABORT;
    if (c === S.EXTEND) {
      i++;
      continue;
    }
    if (c === S.CR) {
      if (i + 1 < n && sbOf(text, i + 1) === S.SLOW) return ABORT;
      i += i + 1 < n && sbOf(text, i + 1) === S.LF ? 2 : 1;
      out.push(i);
      prev = c;
      continue;
    }
    if (c === S.LF || c === S.SEP) {
      out.push(++i);
      prev = c;
      continue;
    }
    if (!isTerm(c)) {
      prev = c;
      i++;
      continue;
    }
    const term = c;
    const before = prev;
    prev = c;
    i = skipExtends(i + 1);
    if (i >= n) break;
    let d = sbOf(text, i);
    if (d === S.SLOW) return ABORT;
    if (term === S.ATERM && d === S.NUMERIC) continue; // SB6
    if (term === S.ATERM && d === S.UPPER && (before === S.UPPER || before === S.LOWER)) continue; // SB7
    while (i < n && (d = sbOf(text, i)) === S.CLOSE) i = skipExtends(i + 1); // SB9
    while (i < n && (d = sbOf(text, i)) === S.SP) i = skipExtends(i + 1); // SB10
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
  if (!wordTableBuilt) buildWordTable();
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
    // there is. A sentence longer than the window is not cut (ICU does not cut it, and the sentence strategy follows
    // ICU's sentences): the window doubles until it holds the sentence's end, which keeps the cost linear.
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
