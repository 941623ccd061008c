// Splitting one input into chunks by an endpoint's chunking settings (docs/chunking.md); offsets are UTF-16 positions.
import { findSentenceEnds, findWords, type WordSpans } from './segmenter.js';
import type { ChunkingSettings } from './chunking-settings.js';

export interface Chunk {
  /** [start, end) in the input, in UTF-16 code units (what String.prototype.slice takes). */
  start: number;
  end: number;
  /**
   * Word-like segments in the chunk: the weight of its vector in the input's mean (not counted for `none`, which makes
   * one chunk).
   */
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

  /** Index of the first word ending after `pos`. */
  firstEndingAfter(pos: number): number {
    const ends = this.spans.ends;
    let lo = 0;
    let hi = this.spans.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid]! <= pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** How many words end in (from, to]. */
  countEndingIn(from: number, to: number): number {
    return this.firstEndingAfter(to) - this.firstEndingAfter(from);
  }

  end(i: number): number {
    return this.spans.ends[i]!;
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
  const startOf = (k: number) => (k === 0 ? from : words.end(wFrom + k - 1));
  while (count - s >= max) {
    out.push({ start: startOf(s), end: words.end(wFrom + s + max - 1), words: max });
    s += step;
  }
  const rest = Math.max(0, count - s);
  if (rest > overlap || out.length === 0) out.push({ start: startOf(Math.min(s, count)), end: to, words: rest });
  return out;
}

/** Outside words, ICU's word rules join no ASCII character to a neighbour but spaces to spaces and CR to LF. */
const isPlainAscii = (c: number) => c < 0x80;
const gapSegmenter = new Intl.Segmenter(undefined, { granularity: 'word' });
/**
 * Text between two words longer than this goes to Intl.Segmenter (quadratic in its input) a
 * window at a time, GAP_WINDOW characters first; shorter, whole, so that every rule sees it all.
 */
const LONG_GAP = 1024;
const GAP_WINDOW = 256;

/**
 * ICU word-break iterator moves (what Elasticsearch's chunkers call on a BreakIterator) over
 * [floor, limit): boundaries are the ends of the word-like segments and, between two words, the
 * ends of the segments of the text in between (a run of spaces, CR LF, one punctuation mark, an
 * emoji). Positions below `floor` do not exist, as for Elasticsearch's iterator over a substring.
 */
class Boundaries {
  constructor(
    readonly text: string,
    readonly words: WordIndex,
    readonly floor: number,
    readonly limit: number,
  ) {}

  /** Whether the segment that ends at boundary `b` is word-like (ICU's rule status there). */
  wordEndsAt(b: number): boolean {
    if (b <= this.floor) return false;
    const k = this.words.firstAtOrAfter(b) - 1;
    return k >= 0 && this.words.end(k) === b;
  }

  /** The last boundary before `p` (ICU's `preceding`); at the floor, the floor. */
  preceding(p: number): number {
    if (p <= this.floor) return this.floor;
    const k = this.words.firstAtOrAfter(p) - 1;
    if (k >= 0 && this.words.end(k) >= p) return Math.max(this.floor, this.words.spans.starts[k]!);
    const gapStart = k >= 0 ? Math.max(this.floor, this.words.end(k)) : this.floor;
    return this.lastSegmentStart(gapStart, p);
  }

  /** The boundary after `p` (ICU's `next`); past the last one, `limit` (ICU's `last`). */
  next(p: number): number {
    if (p >= this.limit) return this.limit;
    const k = this.words.firstAtOrAfter(p);
    const wordStart = k < this.words.spans.count ? this.words.spans.starts[k]! : this.limit;
    if (wordStart === p) return this.words.end(k);
    return this.firstSegmentEnd(p, Math.min(wordStart, this.limit));
  }

  /** Start of the last segment of [gapStart, p), text with no word in it. */
  private lastSegmentStart(gapStart: number, p: number): number {
    const text = this.text;
    const c = text.charCodeAt(p - 1);
    if (c === 0x20) {
      let i = p - 1;
      while (i > gapStart && text.charCodeAt(i - 1) === 0x20) i--;
      if (i === gapStart || isPlainAscii(text.charCodeAt(i - 1))) return i;
    } else if (c === 0x0a && p - 2 >= gapStart && text.charCodeAt(p - 2) === 0x0d) {
      return p - 2;
    } else if (isPlainAscii(c)) {
      return p - 1;
    }
    // Intl.Segmenter on the gap; a long gap (rare: pages of symbols) on its last characters
    // first, as far back as the last segment does not reach the cut.
    for (let from = p - gapStart > LONG_GAP ? p - GAP_WINDOW : gapStart; ; from = gapStart) {
      let last = from;
      for (const seg of gapSegmenter.segment(text.slice(from, p))) last = from + seg.index;
      if (last > from || from === gapStart) return last;
    }
  }

  /** End of the first segment of [p, gapEnd), text with no word in it. */
  private firstSegmentEnd(p: number, gapEnd: number): number {
    const text = this.text;
    const c = text.charCodeAt(p);
    let i = p + 1;
    if (c === 0x20) {
      while (i < gapEnd && text.charCodeAt(i) === 0x20) i++;
    } else if (c === 0x0d && i < gapEnd && text.charCodeAt(i) === 0x0a) {
      i++;
    }
    // Marks and joiners after a character belong to it: only plain ASCII next settles it here.
    if (isPlainAscii(c) && (i === gapEnd || isPlainAscii(text.charCodeAt(i)))) return i;
    for (let to = gapEnd - p > LONG_GAP ? p + GAP_WINDOW : gapEnd; ; to = gapEnd) {
      const first = gapSegmenter.segment(text.slice(p, to))[Symbol.iterator]().next().value;
      const end = first ? p + first.segment.length : to;
      if (end < to || to === gapEnd) return end;
    }
  }

  /**
   * Words counted in the sentence [start, end), as Elasticsearch counts them: from the boundary
   * before `start`, so a word that ends there counts too (a sentence right after "word\n" or
   * "word!" counts that word).
   */
  countWords(start: number, end: number): number {
    const b = this.preceding(start);
    return (this.wordEndsAt(b) ? 1 : 0) + this.words.countEndingIn(b, end);
  }

  /**
   * Where a carried sentence starting at `start` begins once `n` words are skipped, as
   * Elasticsearch finds it: counting from the boundary before `start`, then one boundary past the
   * n-th word, so the separator right after the last skipped word is dropped; with n = 0, that
   * boundary before `start` itself.
   */
  skipWords(start: number, n: number): number {
    const b = this.preceding(start);
    if (n === 0) return b;
    const counted = this.wordEndsAt(b) ? 1 : 0;
    if (counted >= n) return this.next(b);
    const k = this.words.firstEndingAfter(b) + (n - counted) - 1;
    return k < this.words.spans.count ? this.next(this.words.end(k)) : this.limit;
  }
}

/**
 * The sentence strategy over [from, to), step for step as Elasticsearch's SentenceBoundaryChunker
 * (docs/chunking.md): whole sentences are packed while the word count stays within `max`. When a
 * sentence does not fit, the chunk so far (if it has words) is emitted; with overlap the next
 * chunk starts with the previous sentence, whole when both fit, else from where
 * `Boundaries.skipWords` lands after dropping all but its last min(max/2, 20) words. A new chunk
 * still over `max` is split by the word strategy with overlap min(20, (max-1)/2): every piece but
 * the last is emitted, and the last one goes on as the current chunk.
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
  const bounds = new Boundaries(text, words, from, to);
  const carryLimit = Math.min(Math.floor(max / 2), 20);
  const splitOverlap = Math.min(20, Math.floor((max - 1) / 2));
  const spans: Array<[number, number]> = [];
  // Word counts here are Elasticsearch's (see countWords); a chunk's weight is recounted at the end.
  let chunkStart = from;
  let chunkWords = 0;
  let sentenceStart = from;
  let prevStart = from;
  let prevWords = 0;
  for (const relEnd of ends) {
    const end = from + relEnd;
    const count = bounds.countWords(sentenceStart, end);
    if (chunkWords + count <= max) {
      chunkWords += count;
    } else {
      let nextWords = count;
      if (chunkWords > 0) {
        spans.push([chunkStart, sentenceStart]);
        if (overlap === 0) {
          chunkStart = sentenceStart;
          chunkWords = count;
        } else if (prevWords + count <= max) {
          chunkStart = prevStart;
          chunkWords = prevWords + count;
        } else {
          const skip = Math.max(0, prevWords - carryLimit);
          chunkStart = bounds.skipWords(prevStart, skip);
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
        for (const part of parts.slice(0, -1)) spans.push([part.start, part.end]);
        const last = parts[parts.length - 1]!;
        chunkStart = last.start;
        chunkWords = last.words;
      }
    }
    prevStart = sentenceStart;
    prevWords = count;
    sentenceStart = end;
  }
  if (chunkWords > 0) spans.push([chunkStart, to]);
  if (spans.length === 0) spans.push([from, to]);
  return spans.map(([start, end]) => ({ start, end, words: words.countIn(start, end) }));
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
    out.push(...sentenceChunks(text, words, from, to, max, 0));
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
