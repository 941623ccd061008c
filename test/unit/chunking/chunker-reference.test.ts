// The sentence strategy against a reference model of Elasticsearch's SentenceBoundaryChunker, on generated documents.
import t from 'tap';
import fc from 'fast-check';
import { chunkText } from '../../../src/chunking/chunker.js';
import type { ChunkingSettings } from '../../../src/chunking/chunking-settings.js';

// The reference below is written from Elasticsearch's SentenceBoundaryChunker.java and
// WordBoundaryChunker.java (x-pack/plugin/inference/.../chunking), on top of a model of ICU's
// BreakIterator built from Intl.Segmenter (the same ICU rules), over the whole string and with no
// shortcut: it shares nothing with src/chunking.

const DONE = -1;

/** ICU's word BreakIterator over `text`: boundaries, and whether the segment ending at each is word-like. */
class WordIterator {
  private readonly bounds: number[] = [0];
  private readonly wordLike: boolean[] = [false];
  private at = 0;
  constructor(text: string) {
    for (const seg of new Intl.Segmenter(undefined, { granularity: 'word' }).segment(text)) {
      this.bounds.push(seg.index + seg.segment.length);
      this.wordLike.push(seg.isWordLike === true);
    }
  }
  next(): number {
    if (this.at + 1 >= this.bounds.length) return DONE;
    return this.bounds[++this.at]!;
  }
  current(): number {
    return this.bounds[this.at]!;
  }
  last(): number {
    this.at = this.bounds.length - 1;
    return this.bounds[this.at]!;
  }
  /** Moves to the last boundary before `offset`; before the first one, stays on it and answers DONE. */
  preceding(offset: number): number {
    let i = this.bounds.length - 1;
    while (i >= 0 && this.bounds[i]! >= offset) i--;
    this.at = Math.max(0, i);
    return i < 0 ? DONE : this.bounds[i]!;
  }
  /** The rule status of the current boundary is not WORD_NONE. */
  isWord(): boolean {
    return this.wordLike[this.at]!;
  }
}

function sentenceEnds(text: string): number[] {
  return [...new Intl.Segmenter(undefined, { granularity: 'sentence' }).segment(text)].map(
    (s) => s.index + s.segment.length,
  );
}

interface Position {
  start: number;
  end: number;
  words: number;
}

/** WordBoundaryChunker.chunkPositions. */
function wordChunkPositions(input: string, chunkSize: number, overlap: number): Position[] {
  if (input === '') return [];
  const out: Position[] = [];
  const sizeLessOverlap = chunkSize - overlap;
  let wordsInChunk = 0;
  let nextWindowStart = 0;
  let windowStart = 0;
  let wordsSinceMark = 0;
  const it = new WordIterator(input);
  for (let boundary = it.next(); boundary !== DONE; boundary = it.next()) {
    if (!it.isWord()) continue;
    wordsInChunk++;
    wordsSinceMark++;
    if (wordsInChunk >= chunkSize) {
      out.push({ start: windowStart, end: boundary, words: wordsInChunk });
      wordsInChunk = overlap;
      if (overlap === 0) nextWindowStart = boundary;
      windowStart = nextWindowStart;
    }
    if (wordsSinceMark === sizeLessOverlap) {
      nextWindowStart = boundary;
      wordsSinceMark = 0;
    }
  }
  if (wordsInChunk > overlap || out.length === 0)
    out.push({ start: windowStart, end: input.length, words: wordsInChunk });
  return out;
}

function countWords(start: number, end: number, it: WordIterator): number {
  it.preceding(start);
  let count = 0;
  for (let boundary = it.current(); boundary !== DONE && boundary <= end; boundary = it.next())
    if (it.isWord()) count++;
  return count;
}

function skipWords(start: number, numWords: number, it: WordIterator): number {
  it.preceding(start);
  let boundary = it.current();
  let count = 0;
  while (boundary !== DONE && count < numWords) {
    if (it.isWord()) count++;
    boundary = it.next();
  }
  return boundary === DONE ? it.last() : boundary;
}

/** SentenceBoundaryChunker.chunk(input, maxNumberWordsPerChunk, includePrecedingSentence), as [start, end) pairs. */
function referenceSentenceChunks(input: string, max: number, includePreceding: boolean): Array<[number, number]> {
  const chunks: Array<[number, number]> = [];
  const words = new WordIterator(input);
  let chunkStart = 0;
  let chunkEnd = 0;
  let sentenceStart = 0;
  let chunkWordCount = 0;
  let wordsInPreceding = 0;
  let previousSentenceStart = 0;
  const maxWordsInOverlap = Math.min(Math.floor(max / 2), 20);
  for (const sentenceEnd of sentenceEnds(input)) {
    const wordsInSentence = countWords(sentenceStart, sentenceEnd, words);
    if (chunkWordCount + wordsInSentence > max) {
      let nextChunkWordCount = wordsInSentence;
      if (chunkWordCount > 0) {
        chunks.push([chunkStart, chunkEnd]);
        if (includePreceding) {
          if (wordsInPreceding + wordsInSentence > max) {
            const skip = wordsInPreceding > maxWordsInOverlap ? wordsInPreceding - maxWordsInOverlap : 0;
            chunkStart = skipWords(previousSentenceStart, skip, new WordIterator(input));
            chunkWordCount = wordsInPreceding - skip + wordsInSentence;
          } else {
            chunkWordCount = wordsInPreceding + wordsInSentence;
            chunkStart = previousSentenceStart;
          }
          nextChunkWordCount = chunkWordCount;
        } else {
          chunkStart = chunkEnd;
          chunkWordCount = wordsInSentence;
        }
      }
      if (nextChunkWordCount > max) {
        const splits = wordChunkPositions(
          input.substring(chunkStart, sentenceEnd),
          max,
          Math.min(20, Math.floor((max - 1) / 2)),
        );
        let i = 0;
        for (; i < splits.length - 1; i++) chunks.push([chunkStart + splits[i]!.start, chunkStart + splits[i]!.end]);
        chunkStart += splits[i]!.start;
        chunkWordCount = splits[i]!.words;
      }
    } else {
      chunkWordCount += wordsInSentence;
    }
    if (includePreceding) {
      previousSentenceStart = sentenceStart;
      wordsInPreceding = wordsInSentence;
    }
    sentenceStart = sentenceEnd;
    chunkEnd = sentenceEnd;
  }
  if (chunkWordCount > 0) chunks.push([chunkStart, input.length]);
  if (chunks.length === 0) chunks.push([0, input.length]);
  return chunks;
}

const sentence = (max: number, overlap: 0 | 1): ChunkingSettings => ({
  strategy: 'sentence',
  max_chunk_size: max,
  sentence_overlap: overlap,
});
const ours = (input: string, max: number, overlap: 0 | 1) =>
  chunkText(input, sentence(max, overlap)).map((c): [number, number] => [c.start, c.end]);
const show = (input: string, spans: Array<[number, number]>) => spans.map(([a, b]) => input.slice(a, b));

// Documents: sentences of 1 to 70 words (so both short ones and ones over any max_chunk_size from
// 20 to 40), words joined by spaces or punctuation, sentences ended by ". ", "! ", a bare line
// break, "!" with no space, a blank line, an ellipsis; now and then a non-ASCII character.
const wordArb = fc.constantFrom(
  'alpha',
  'beta',
  'gamma',
  "don't",
  'open-source',
  '42',
  '3.14',
  'naïve',
  'Ωmega',
  'x',
  'data_set',
);
const joinArb = fc.constantFrom(' ', ' ', ' ', ', ', '  ', ' - ', ' — ', ' (', ') ', ' “', '” ', ' 😀 ', '\t');
const endArb = fc.constantFrom('. ', '. ', '! ', '? ', '.\n', '\n', '\r\n', '!', '\n\n', '... ', '." ', '.  ', '。');
const sentenceArb = fc
  .tuple(
    fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 1, max: 12 }) },
      { weight: 1, arbitrary: fc.integer({ min: 13, max: 70 }) },
    ),
    endArb,
  )
  .chain(([n, end]) =>
    fc
      .tuple(fc.array(wordArb, { minLength: n, maxLength: n }), fc.array(joinArb, { minLength: n, maxLength: n }))
      .map(([ws, joins]) => {
        let s = 'Start';
        for (let i = 0; i < n; i++) s += joins[i]! + ws[i]!;
        return s + end;
      }),
  );
const documentArb = fc
  .tuple(fc.constantFrom('', ' ', '\n'), fc.array(sentenceArb, { minLength: 1, maxLength: 12 }))
  .map(([lead, ss]) => lead + ss.join(''));

t.test('the reference model reproduces what Elasticsearch documents and tests', async (t) => {
  // SentenceBoundaryChunkerTests: "This is a short sentence. Followed by another." counts 5 and 3 words.
  const words = new WordIterator('This is a short sentence. Followed by another.');
  t.equal(countWords(0, 26, words), 5);
  t.equal(countWords(26, 46, words), 3);
  // And skipping 3 words from the start lands on "word3 ".
  const text = Array.from({ length: 50 }, (_, i) => `word${i}`).join(' ');
  t.equal(text.slice(skipWords(0, 3, new WordIterator(text))).startsWith('word3 '), true);
  const input =
    'This is sentence one. This is sentence two. This is a third sentence that is a bit longer than the others.';
  t.strictSame(show(input, referenceSentenceChunks(input, 20, true)), [
    'This is sentence one. This is sentence two. ',
    'This is sentence two. This is a third sentence that is a bit longer than the others.',
  ]);
});

t.test('generated documents chunk as Elasticsearch chunks them, offsets exact', async (t) => {
  let runs = 0;
  fc.assert(
    fc.property(documentArb, fc.integer({ min: 20, max: 40 }), fc.constantFrom<0 | 1>(0, 1), (doc, max, overlap) => {
      runs++;
      const expected = referenceSentenceChunks(doc, max, overlap === 1);
      const actual = ours(doc, max, overlap);
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        throw new Error(
          `max ${max}, overlap ${overlap}\n${JSON.stringify(doc)}\nexpected ${JSON.stringify(show(doc, expected))}\nactual   ${JSON.stringify(show(doc, actual))}`,
        );
      }
    }),
    { numRuns: 600, seed: 20240607 },
  );
  t.equal(runs, 600);
});

t.test('any mix of scripts, marks, emoji and punctuation chunks as Elasticsearch chunks it', async (t) => {
  // Short pieces drawn from everything the segmenter treats specially, joined at random: the
  // text between words is then anything at all (marks, joiners, flags, CJK stops, CR LF).
  const pieceArb = fc.constantFrom(
    'word',
    'Word',
    'x',
    '12',
    ' ',
    ' ',
    '  ',
    '. ',
    '! ',
    '?',
    '.',
    ',',
    '\n',
    '\r\n',
    '\t',
    'é',
    '\u0301',
    '\u00ad',
    '日本',
    'ไทย',
    '😀',
    '\u200d',
    '🇫🇷',
    'Ж',
    '\u2019',
    '“',
    '”',
    '…',
    '\u00a0',
    '—',
    '\u3000',
    '。',
    '_',
    '\u2028',
    '(',
    ')',
  );
  fc.assert(
    fc.property(
      fc.array(pieceArb, { minLength: 1, maxLength: 200 }),
      fc.integer({ min: 20, max: 24 }),
      fc.constantFrom<0 | 1>(0, 1),
      (pieces, max, overlap) => {
        const doc = pieces.join('');
        const expected = referenceSentenceChunks(doc, max, overlap === 1);
        const actual = ours(doc, max, overlap);
        if (JSON.stringify(actual) !== JSON.stringify(expected)) {
          throw new Error(
            `max ${max}, overlap ${overlap}\n${JSON.stringify(doc)}\nexpected ${JSON.stringify(show(doc, expected))}\nactual   ${JSON.stringify(show(doc, actual))}`,
          );
        }
      },
    ),
    { numRuns: 600, seed: 7 },
  );
  t.pass('600 documents');
});

t.test('hand-written: where Elasticsearch puts the whitespace of a carried sentence', async (t) => {
  const seq = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(' ');
  // Carried in part: the previous sentence (15 words) and the next (12) do not fit in 20, so only
  // the last min(20/2, 20) = 10 words come along, starting at the word itself: Elasticsearch skips
  // 5 words and the space after the fifth.
  const partial = `${seq('P', 15)}. ${seq('N', 12)}.`;
  const partialOut = [
    `${seq('P', 15)}. `,
    'P5 P6 P7 P8 P9 P10 P11 P12 P13 P14. N0 N1 N2 N3 N4 N5 N6 N7 N8 N9',
    ' N1 N2 N3 N4 N5 N6 N7 N8 N9 N10 N11.',
  ];
  t.strictSame(show(partial, ours(partial, 20, 1)), partialOut);
  t.strictSame(show(partial, referenceSentenceChunks(partial, 20, true)), partialOut);
  // Carried whole but too long with the next sentence (8 + 15 > 20, and 8 <= 10 words): the carry
  // starts one segment before the sentence, at the space that ended the sentence before it.
  const whole = `${seq('A', 12)}. ${seq('B', 8)}. ${seq('C', 15)}.`;
  const wholeOut = [
    `${seq('A', 12)}. ${seq('B', 8)}. `,
    ` ${seq('B', 8)}. C0 C1 C2 C3 C4 C5 C6 C7 C8 C9 C10 C11`,
    ' C3 C4 C5 C6 C7 C8 C9 C10 C11 C12 C13 C14.',
  ];
  t.strictSame(show(whole, ours(whole, 20, 1)), wholeOut);
  t.strictSame(show(whole, referenceSentenceChunks(whole, 20, true)), wholeOut);
});

t.test('hand-written: a sentence right after a word and one separator counts that word too', async (t) => {
  // Two lines of 10 words with no full stop: ICU ends a sentence at each line break, and
  // Elasticsearch counts a sentence's words from the boundary before it, which takes in "ten"
  // of the first line: 10 + 11 > 20, so two chunks where a plain count (20) would give one.
  const lines =
    'One two three four five six seven eight nine ten\nEleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty\n';
  const linesOut = [
    'One two three four five six seven eight nine ten\n',
    'Eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty\n',
  ];
  t.strictSame(show(lines, ours(lines, 20, 0)), linesOut);
  t.strictSame(show(lines, referenceSentenceChunks(lines, 20, false)), linesOut);
  // With a full stop before the line break the count is exact, and both lines fit in one chunk.
  const stopped = lines.replace('ten\n', 'ten.\n');
  t.strictSame(show(stopped, ours(stopped, 20, 0)), [stopped]);
  // The weight of a chunk in the mean is still its own words.
  t.strictSame(
    chunkText(lines, sentence(20, 0)).map((c) => c.words),
    [10, 10],
  );
});

t.test('hand-written: sentences without words before a long one join it, not a chunk of their own', async (t) => {
  // "!!! " is a sentence of its own (a capital follows), with no word in it.
  const long = Array.from({ length: 25 }, (_, i) => `W${i}`).join(' ') + '.';
  const input = '!!! ' + long;
  const out = show(input, ours(input, 20, 0));
  t.strictSame(out, show(input, referenceSentenceChunks(input, 20, false)));
  t.equal(out[0]!.startsWith('!!! W0 '), true, 'the wordless start is in the first chunk');
});
