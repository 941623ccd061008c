// Splitting one input into chunks by an endpoint's chunking settings (docs/chunking.md); offsets are UTF-16 positions.
import { findSentenceEnds, findWords, type WordSpans } from './segmenter.js';
import type { ChunkingSettings } from './chunking-settings.js';

export interface Chunk {
  /** [start, end) in the input, in UTF-16 code units (what String.prototype.slice takes). */
  start: number;
  end: number;
  /** Word-like segments in the chunk: the weight of its vector in the input's mean (not counted for `none`, which makes one chunk). */
  words: number;
}

/** Words of the whole input, with a fast "how many words start in [a, b)". */
class WordIndex {
  constructor(readonly spans: WordSpans) {}

  /** Index of the first word starting at or after `pos`. */
  firstAtOrAfter(pos: number): number {
    const starts = this.spans.starts;
    let lo = 0;
    let hi = this.spans.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! < pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  countIn(from: number, to: number): number {
    return this.firstAtOrAfter(to) - this.firstAtOrAfter(from);
  }

  end(i: number): number {
    return this.spans.ends[i]!;
  }

  /** Whether a word begins before `pos` and ends after it. */
  cuts(pos: number): boolean {
    const k = this.firstAtOrAfter(pos) - 1;
    return k >= 0 && this.spans.ends[k]! > pos;
  }
}

/**
 * The word strategy over words [wFrom, wTo) of the range [from, to): a chunk ends after its
 * `max`-th word; the next starts `overlap` words back, at the end of the word before its first
 * word (so the spaces and punctuation before a word go with it). The last chunk runs to `to`
 * and is kept if it has more than `overlap` words or is the only one.
 */
function wordChunks(
  words: WordIndex,
  wFrom: number,
  wTo: number,
  from: number,
  to: number,
  max: number,
  overlap: number,
): Chunk[] {
  const out: Chunk[] = [];
  const count = wTo - wFrom;
  const step = Math.max(1, max - overlap);
  let s = 0;
  const startOf = (k: number) => (k === 0 ? from : Math.min(to, words.end(wFrom + k - 1)));
  while (count - s >= max) {
    out.push({ start: startOf(s), end: Math.min(to, words.end(wFrom + s + max - 1)), words: max });
    s += step;
  }
  const rest = Math.max(0, count - s);
  if (rest > overlap || out.length === 0) out.push({ start: startOf(Math.min(s, count)), end: to, words: rest });
  return out;
}

/**
 * What ICU's word rules make of a UTF-16 code unit found between two words: a line break is a
 * segment of its own (CR LF is one); a run of spaces (Word_Break WSegSpace) is one segment; a
 * punctuation mark, symbol, other space or control is one segment unless something attaches to
 * it; a mark, format character or joiner attaches to what precedes it. The rest (letters ICU does
 * not count as words, connector punctuation, regional indicators, …) is left to Intl.Segmenter.
 */
const enum Gap {
  COMPLEX = 0,
  NEWLINE,
  SPACE,
  SINGLE,
  ATTACH,
}

const ATTACHES = /^[\p{Grapheme_Extend}\p{Mc}\p{Cf}\u{1F3FB}-\u{1F3FF}]$/u;
const SINGLE = /^(?![\p{Pc}\p{Regional_Indicator}])[\p{P}\p{S}\p{Zs}\p{Cc}\p{Extended_Pictographic}]$/u;

/** Classes of the code units below GAP_TABLE_SIZE (Latin to CJK punctuation); the rest are read one by one. */
const GAP_TABLE_SIZE = 0x3040;
const GAP_CLASS = new Uint8Array(GAP_TABLE_SIZE);
(function buildGapTable() {
  for (let c = 0; c < GAP_TABLE_SIZE; c++) {
    const ch = String.fromCharCode(c);
    if (c === 0x0a || c === 0x0b || c === 0x0c || c === 0x0d || c === 0x85 || c === 0x2028 || c === 0x2029) {
      GAP_CLASS[c] = Gap.NEWLINE;
    } else if (
      c === 0x20 ||
      c === 0x1680 ||
      (c >= 0x2000 && c <= 0x200a && c !== 0x2007) ||
      c === 0x205f ||
      c === 0x3000
    ) {
      GAP_CLASS[c] = Gap.SPACE; // Word_Break WSegSpace: the spaces other than the no-break ones
    } else if (ATTACHES.test(ch)) {
      GAP_CLASS[c] = Gap.ATTACH;
    } else if (SINGLE.test(ch)) {
      GAP_CLASS[c] = Gap.SINGLE;
    }
  }
})();

/** The last code point above the BMP classified, and its class: emoji come in runs. */
let lastAstral = -1;
let lastAstralClass = Gap.COMPLEX;

function gapClassAt(text: string, i: number): Gap {
  const c = text.charCodeAt(i);
  if (c < GAP_TABLE_SIZE) return GAP_CLASS[c]!;
  if (c < 0xd800 || c > 0xdbff) return Gap.COMPLEX;
  const cp = text.codePointAt(i)!;
  if (cp !== lastAstral) {
    const ch = String.fromCodePoint(cp);
    lastAstral = cp;
    lastAstralClass = ATTACHES.test(ch) ? Gap.ATTACH : SINGLE.test(ch) ? Gap.SINGLE : Gap.COMPLEX;
  }
  return lastAstralClass;
}

/**
 * The boundary after `s` in the wordless text [s, end), `s` being a boundary, when the characters
 * at and after `s` settle it (-1 otherwise). No rule of ICU's looks further ahead in such text:
 * a segment there ends where the next character neither attaches to it nor, for a space, is one.
 */
function gapBoundaryAfter(text: string, s: number, end: number): number {
  let i: number;
  switch (gapClassAt(text, s)) {
    case Gap.NEWLINE:
      return text.charCodeAt(s) === 0x0d && s + 1 < end && text.charCodeAt(s + 1) === 0x0a ? s + 2 : s + 1;
    case Gap.SPACE:
      i = s + 1;
      while (i < end && gapClassAt(text, i) === Gap.SPACE) i++;
      break;
    case Gap.SINGLE:
      i = s + (text.charCodeAt(s) >= 0xd800 && text.charCodeAt(s) <= 0xdbff ? 2 : 1);
      break;
    default:
      return -1;
  }
  if (i >= end) return end;
  const next = gapClassAt(text, i);
  return next === Gap.NEWLINE || next === Gap.SINGLE || next === Gap.SPACE ? i : -1;
}

/**
 * Characters of the text between words that the sentence strategy has walked, each time it walks
 * them (a test checks that this stays proportional to the input, docs/chunking.md).
 */
export const gapWork = { characters: 0 };

const gapSegmenter = new Intl.Segmenter(undefined, { granularity: 'word' });
/** Boundaries this close to the end of a window of wordless text are not trusted (the text after it might change them). */
const GAP_MARGIN = 32;

/**
 * The boundaries after `s` (a boundary) in the wordless text [s, end), by Intl.Segmenter over a
 * window of at least `window` characters: all of them when the window reaches `end`, else those
 * at least GAP_MARGIN before the window's edge, the window doubling until there is one. Each
 * character goes through Intl.Segmenter about once: it is quadratic in its input on Node 20.
 */
function intlGapBoundaries(text: string, s: number, end: number, window: number): number[] {
  for (let w = window; ; w *= 2) {
    const to = Math.min(end, s + w);
    gapWork.characters += to - s;
    const found: number[] = [];
    for (const seg of gapSegmenter.segment(text.slice(s, to))) {
      const b = s + seg.index + seg.segment.length;
      if (to === end || b <= to - GAP_MARGIN) found.push(b);
    }
    if (found.length > 0) return found;
  }
}

/**
 * The moves of ICU's word BreakIterator that Elasticsearch's SentenceBoundaryChunker makes, over
 * text[floor, limit) (a substring for the iterator: nothing exists outside it), in linear time.
 * Boundaries are the ends of the word-like segments (the word index) and, between two words, the
 * ends of the segments of the text in between. Sentences are counted in order, so the word index
 * is walked once, and so is the wordless text between two words, forwards, whatever the number of
 * sentences that start in it.
 */
class WordBreaks {
  /** The first word ending at or after the start of the next sentence. */
  private nextFirst = 0;
  /** The walk through the gap between two words where the last sentence started. */
  private gapStart = -1;
  private gapEnd = -1;
  private cur = -1;
  private next = -1;
  private queue: number[] = [];
  private queued = 0;
  /**
   * Of the last sentence counted: its preceding boundary, whether a word ends there, and the
   * first word ending after it.
   */
  boundary = 0;
  wordAtBoundary = false;
  firstAfterBoundary = 0;

  constructor(
    private readonly text: string,
    private readonly words: WordIndex,
    private readonly floor: number,
    private readonly limit: number,
  ) {}

  /**
   * Elasticsearch's count of the words of the sentence [start, end), sentences being asked about
   * in order: from ICU's `preceding(start)`, the last boundary before the sentence, every segment
   * ending there or after it up to `end` that is a word. So a word that ends at that boundary
   * counts too: a sentence right after "word\n" counts "word".
   */
  countSentence(start: number, end: number): number {
    const { ends, count } = this.words.spans;
    let j = this.nextFirst;
    while (j < count && ends[j]! < start) j++;
    const b = this.preceding(start, j);
    // The words before j end at or before b (b is word j's start or in the gap before it).
    while (j < count && ends[j]! <= b) j++;
    let e = j;
    while (e < count && ends[e]! <= end) e++;
    this.nextFirst = e > j && ends[e - 1] === end ? e - 1 : e;
    this.boundary = b;
    this.wordAtBoundary = b > this.floor && j > 0 && ends[j - 1] === b;
    this.firstAfterBoundary = j;
    return (this.wordAtBoundary ? 1 : 0) + e - j;
  }

  /** ICU's `preceding(p)`: the last boundary before `p`, or the floor; `j` is the first word ending at or after p. */
  private preceding(p: number, j: number): number {
    if (p <= this.floor) return this.floor;
    const { starts, ends, count } = this.words.spans;
    if (j < count && starts[j]! < p) return starts[j]!;
    const gapStart = j > 0 ? Math.max(this.floor, ends[j - 1]!) : this.floor;
    if (gapStart !== this.gapStart) {
      this.gapStart = gapStart;
      this.gapEnd = j < count ? Math.min(starts[j]!, this.limit) : this.limit;
      this.cur = gapStart;
      this.next = -1;
      this.queued = this.queue.length;
    }
    for (;;) {
      if (this.next < 0) this.next = this.stepGap();
      if (this.next >= p) return this.cur;
      this.cur = this.next;
      this.next = -1;
    }
  }

  /** The boundary after `cur` in the gap being walked. */
  private stepGap(): number {
    if (this.queued < this.queue.length) return this.queue[this.queued++]!;
    const b = gapBoundaryAfter(this.text, this.cur, this.gapEnd);
    if (b >= 0) {
      gapWork.characters += b - this.cur;
      return b;
    }
    this.queue = intlGapBoundaries(this.text, this.cur, this.gapEnd, 256);
    this.queued = 1;
    return this.queue[0]!;
  }

  /** ICU's `next()` from `p`, the end of a word (or the floor): the end of the segment after it, or the limit. */
  private after(p: number): number {
    if (p >= this.limit) return this.limit;
    const words = this.words;
    const k = words.firstAtOrAfter(p);
    if (k < words.spans.count && words.spans.starts[k] === p) return Math.min(words.end(k), this.limit);
    const gapEnd = k < words.spans.count ? Math.min(words.spans.starts[k]!, this.limit) : this.limit;
    const b = gapBoundaryAfter(this.text, p, gapEnd);
    if (b < 0) return intlGapBoundaries(this.text, p, gapEnd, 64)[0]!;
    gapWork.characters += b - p;
    return b;
  }

  /**
   * Where Elasticsearch starts a carried sentence once `n` of its words are dropped, from the
   * sentence's preceding boundary `b` (with what `countSentence` said of it): with n = 0, b
   * itself; otherwise one boundary past the n-th word, so the separator right after the last word
   * dropped goes too; past the end, the limit.
   */
  skipWords(b: number, wordAtB: boolean, firstAfterB: number, n: number): number {
    if (n === 0) return b;
    // The n-th word counted from b: the one ending at b, if any, is the first.
    const k = firstAfterB + n - (wordAtB ? 1 : 0) - 1;
    return k < this.words.spans.count ? this.after(this.words.end(k)) : this.limit;
  }
}

/**
 * The sentence strategy over [from, to), step for step as Elasticsearch's SentenceBoundaryChunker
 * (docs/chunking.md): whole sentences are packed while the word count stays within `max`. When a
 * sentence does not fit, the chunk so far (if it has words) is emitted; with overlap the next
 * chunk starts with the previous sentence, whole when both fit, else from where
 * `WordBreaks.skipWords` lands after dropping all but its last min(max/2, 20) words. A new chunk
 * still over `max` is split by the word strategy with overlap min(20, (max-1)/2): every piece but
 * the last is emitted, and the last one goes on as the current chunk. Word counts here are
 * Elasticsearch's (see `countSentence`); each chunk's weight is its own word count.
 */
function sentenceChunks(
  text: string,
  words: WordIndex,
  from: number,
  to: number,
  max: number,
  overlap: 0 | 1,
): Chunk[] {
  const ends = findSentenceEnds(from === 0 && to === text.length ? text : text.slice(from, to));
  const breaks = new WordBreaks(text, words, from, to);
  const carryLimit = Math.min(Math.floor(max / 2), 20);
  const splitOverlap = Math.min(20, Math.floor((max - 1) / 2));
  const out: Chunk[] = [];
  const emit = (start: number, end: number) => out.push({ start, end, words: words.countIn(start, end) });
  let chunkStart = from;
  let chunkWords = 0;
  let sentenceStart = from;
  // The previous sentence: its start, its preceding boundary and what countSentence said of it, its word count.
  let prevStart = from;
  let prevBoundary = from;
  let prevWordAtB = false;
  let prevFirstAfterB = 0;
  let prevWords = 0;
  for (const relEnd of ends) {
    const end = from + relEnd;
    const count = breaks.countSentence(sentenceStart, end);
    if (chunkWords + count <= max) {
      chunkWords += count;
    } else {
      let nextWords = count;
      if (chunkWords > 0) {
        emit(chunkStart, sentenceStart);
        if (overlap === 0) {
          chunkStart = sentenceStart;
          chunkWords = count;
        } else if (prevWords + count <= max) {
          chunkStart = prevStart;
          chunkWords = prevWords + count;
        } else {
          const skip = Math.max(0, prevWords - carryLimit);
          chunkStart = breaks.skipWords(prevBoundary, prevWordAtB, prevFirstAfterB, skip);
          chunkWords = prevWords - skip + count;
        }
        nextWords = chunkWords;
      }
      if (nextWords > max) {
        const parts = wordChunks(
          words,
          words.firstAtOrAfter(chunkStart),
          words.firstAtOrAfter(end),
          chunkStart,
          end,
          max,
          splitOverlap,
        );
        for (let i = 0; i + 1 < parts.length; i++) emit(parts[i]!.start, parts[i]!.end);
        chunkStart = parts[parts.length - 1]!.start;
        chunkWords = parts[parts.length - 1]!.words;
      }
    }
    prevStart = sentenceStart;
    prevBoundary = breaks.boundary;
    prevWordAtB = breaks.wordAtBoundary;
    prevFirstAfterB = breaks.firstAfterBoundary;
    prevWords = count;
    sentenceStart = end;
  }
  if (chunkWords > 0) emit(chunkStart, to);
  if (out.length === 0) emit(from, to);
  return out;
}

/**
 * The recursive strategy's fallback: the sentence strategy (overlap 0) on the piece [from, to)
 * as a text of its own, as Elasticsearch hands it over. Where a cut went through a word, the piece
 * is segmented alone, so that the part of the word on its side counts as one.
 */
function pieceSentences(text: string, words: WordIndex, from: number, to: number, max: number): Chunk[] {
  if (!words.cuts(from) && !words.cuts(to)) return sentenceChunks(text, words, from, to, max, 0);
  const piece = text.slice(from, to);
  return sentenceChunks(piece, new WordIndex(findWords(piece)), 0, piece.length, max, 0).map((c) => ({
    start: from + c.start,
    end: from + c.end,
    words: c.words,
  }));
}

/**
 * The recursive strategy over [from, to): split where separator `level` matches (the match
 * begins the next piece), merge neighbouring pieces while the word count fits, recurse into
 * pieces still too large with the next separator, and fall back to sentences (overlap 0).
 */
function recursiveChunks(
  text: string,
  words: WordIndex,
  from: number,
  to: number,
  separators: readonly RegExp[],
  level: number,
  max: number,
  out: Chunk[],
): void {
  const total = words.countIn(from, to);
  if (total <= max) {
    out.push({ start: from, end: to, words: total });
    return;
  }
  if (level >= separators.length) {
    out.push(...pieceSentences(text, words, from, to, max));
    return;
  }
  const piece = text.slice(from, to);
  const re = separators[level]!;
  re.lastIndex = 0;
  const cuts = [from];
  for (let m = re.exec(piece); m !== null; m = re.exec(piece)) {
    if (m.index > 0 && from + m.index > cuts[cuts.length - 1]!) cuts.push(from + m.index);
    if (m[0].length === 0) re.lastIndex++;
  }
  cuts.push(to);
  if (cuts.length === 2) {
    recursiveChunks(text, words, from, to, separators, level + 1, max, out);
    return;
  }
  let merged: Chunk | undefined;
  for (let i = 0; i + 1 < cuts.length; i++) {
    const a = cuts[i]!;
    const b = cuts[i + 1]!;
    const count = words.countIn(a, b);
    if (count > max) {
      if (merged) out.push(merged);
      merged = undefined;
      recursiveChunks(text, words, a, b, separators, level + 1, max, out);
    } else if (merged && merged.words + count <= max) {
      merged.end = b;
      merged.words += count;
    } else {
      if (merged) out.push(merged);
      merged = { start: a, end: b, words: count };
    }
  }
  if (merged) out.push(merged);
}

const compiledSeparators = new Map<string, RegExp>();
function separatorRegExp(source: string): RegExp {
  let re = compiledSeparators.get(source);
  if (!re) {
    // Multiline, so that `^` in a separator (markdown's setext headings) means a line start.
    re = new RegExp(source, 'gm');
    if (compiledSeparators.size > 1000) compiledSeparators.clear();
    compiledSeparators.set(source, re);
  }
  return re;
}

/** Chunks of `text` by `settings`; an empty input gives one empty chunk. */
export function chunkText(text: string, settings: ChunkingSettings): Chunk[] {
  if (settings.strategy === 'none') return [{ start: 0, end: text.length, words: 0 }];
  const words = new WordIndex(findWords(text));
  switch (settings.strategy) {
    case 'word':
      return wordChunks(words, 0, words.spans.count, 0, text.length, settings.max_chunk_size, settings.overlap);
    case 'sentence':
      return sentenceChunks(text, words, 0, text.length, settings.max_chunk_size, settings.sentence_overlap);
    case 'recursive': {
      const out: Chunk[] = [];
      const separators = settings.separators.map(separatorRegExp);
      recursiveChunks(text, words, 0, text.length, separators, 0, settings.max_chunk_size, out);
      return out.length > 0 ? out : [{ start: 0, end: 0, words: 0 }];
    }
  }
}

/**
 * The one chunk of a text too short to be cut: its word count (which only a mean of several chunks reads) is counted
 * when it is asked for, by `chunkText` itself.
 */
class WholeText implements Chunk {
  readonly start = 0;
  readonly end: number;
  private counted: number | undefined;

  constructor(
    private readonly text: string,
    private readonly settings: ChunkingSettings,
  ) {
    this.end = text.length;
  }

  get words(): number {
    return (this.counted ??= chunkText(this.text, this.settings)[0]!.words);
  }
}

/**
 * `chunkText` for a request's input. A text of fewer than `max_chunk_size` UTF-16 code units has fewer words than
 * that (a word is at least one), so the word and sentence strategies keep it whole, as one chunk from its start to
 * its end: found without segmenting it, which most of the inputs of a re-index would otherwise spend their time on.
 */
export function chunkInput(text: string, settings: ChunkingSettings): Chunk[] {
  if ((settings.strategy === 'sentence' || settings.strategy === 'word') && text.length < settings.max_chunk_size)
    return [new WholeText(text, settings)];
  return chunkText(text, settings);
}
