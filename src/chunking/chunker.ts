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

/**
 * The sentence strategy over [from, to): whole sentences packed while the word count stays
 * within `max`. When a sentence does not fit, the chunk so far is emitted; with overlap the next
 * chunk starts with the previous sentence, whole when both fit or when it has at most
 * min(max/2, 20) words, else its last min(max/2, 20) words. A new chunk still over `max` (a long
 * sentence, or a long carry) is split by the word strategy with overlap min(20, (max-1)/2): every
 * piece but the last is emitted, and the last one goes on as the current chunk.
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
  const carryLimit = Math.min(Math.floor(max / 2), 20);
  const out: Chunk[] = [];
  let current: Chunk | undefined;
  let prev: { start: number; firstWord: number; words: number } | undefined;
  let start = from;
  let w = words.firstAtOrAfter(from);
  for (const relEnd of ends) {
    const end = from + relEnd;
    const firstWord = w;
    while (w < words.spans.count && words.spans.starts[w]! < end) w++;
    const count = w - firstWord;
    if (current && current.words + count <= max) {
      current.end = end;
      current.words += count;
    } else {
      const emitted = current;
      if (emitted) out.push(emitted);
      current = { start, end, words: count };
      if (overlap === 1 && emitted && prev) {
        if (prev.words + count <= max || prev.words <= carryLimit) {
          current = { start: prev.start, end, words: prev.words + count };
        } else {
          const firstCarried = prev.firstWord + prev.words - carryLimit;
          current = { start: words.end(firstCarried - 1), end, words: carryLimit + count };
        }
      }
      if (current.words > max) {
        const parts = wordChunks(
          words,
          words.firstAtOrAfter(current.start),
          w,
          current.start,
          end,
          max,
          Math.min(20, Math.floor((max - 1) / 2)),
        );
        out.push(...parts.slice(0, -1));
        current = parts[parts.length - 1]!;
      }
    }
    prev = { start, firstWord, words: count };
    start = end;
  }
  if (current) out.push(current);
  if (out.length === 0) out.push({ start: from, end: to, words: 0 });
  return out;
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
