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

/** Word boundaries of a text and whether the segment ending at each is word-like, segmented once per text. */
const segmented = new Map<string, { bounds: number[]; wordLike: boolean[] }>();
function segmentWords(text: string): { bounds: number[]; wordLike: boolean[] } {
  let found = segmented.get(text);
  if (!found) {
    found = { bounds: [0], wordLike: [false] };
    for (const seg of new Intl.Segmenter(undefined, { granularity: 'word' }).segment(text)) {
      found.bounds.push(seg.index + seg.segment.length);
      found.wordLike.push(seg.isWordLike === true);
    }
    if (segmented.size > 64) segmented.clear();
    segmented.set(text, found);
  }
  return found;
}

/** ICU's word BreakIterator over `text`: boundaries, and whether the segment ending at each is word-like. */
class WordIterator {
  private readonly bounds: number[];
  private readonly wordLike: boolean[];
  private at = 0;
  constructor(text: string) {
    ({ bounds: this.bounds, wordLike: this.wordLike } = segmentWords(text));
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
    // Binary search: the last boundary below offset.
    let lo = 0;
    let hi = this.bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.bounds[mid]! < offset) lo = mid + 1;
      else hi = mid;
    }
    const i = lo - 1;
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

/** Our chunks of `doc` must be the reference's, offsets exact; the message shows both as text. */
function sameAsElasticsearch(doc: string, max: number, overlap: 0 | 1): void {
  const expected = referenceSentenceChunks(doc, max, overlap === 1);
  const actual = ours(doc, max, overlap);
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(
      `max ${max}, overlap ${overlap}\n${JSON.stringify(doc)}\n` +
        `expected ${JSON.stringify(show(doc, expected))}\nactual   ${JSON.stringify(show(doc, actual))}`,
    );
  }
}

// Documents: sentences of 1 word to well over max_chunk_size, words joined by spaces or
// punctuation, sentences ended by ". ", "! ", a bare line break, "!" with no space, a blank line,
// an ellipsis; now and then a non-ASCII character.
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
const sentenceOf = (n: number) =>
  fc
    .tuple(fc.array(wordArb, { minLength: n, maxLength: n }), fc.array(joinArb, { minLength: n, maxLength: n }), endArb)
    .map(([ws, joins, end]) => {
      let s = 'Start';
      for (let i = 0; i < n; i++) s += joins[i]! + ws[i]!;
      return s + end;
    });
/** Sentences mostly short, one in four between 13 and `long` words. */
const documentArb = (long: number, maxSentences: number) =>
  fc
    .tuple(
      fc.constantFrom('', ' ', '\n'),
      fc.array(
        fc
          .oneof(
            { weight: 3, arbitrary: fc.integer({ min: 1, max: 12 }) },
            { weight: 1, arbitrary: fc.integer({ min: 13, max: long }) },
          )
          .chain(sentenceOf),
        { minLength: 1, maxLength: maxSentences },
      ),
    )
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
    fc.property(documentArb(70, 12), fc.integer({ min: 20, max: 40 }), fc.constantFrom<0 | 1>(0, 1), (doc, max, o) => {
      runs++;
      sameAsElasticsearch(doc, max, o);
    }),
    { numRuns: 600, seed: 20240607 },
  );
  t.equal(runs, 600);
});

t.test('larger max_chunk_size, up to the 300 allowed, with sentences longer than it', async (t) => {
  let runs = 0;
  for (const max of [41, 64, 100, 250, 300]) {
    fc.assert(
      fc.property(documentArb(Math.round(max * 2.5), 8), fc.constantFrom<0 | 1>(0, 1), (doc, o) => {
        runs++;
        sameAsElasticsearch(doc, max, o);
      }),
      { numRuns: 40, seed: max },
    );
  }
  t.equal(runs, 200);
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
      (pieces, max, o) => sameAsElasticsearch(pieces.join(''), max, o),
    ),
    { numRuns: 600, seed: 7 },
  );
  t.pass('600 documents');
});

t.test('long wordless stretches holding many sentences chunk as Elasticsearch chunks them', async (t) => {
  // Between sentences of words, runs of up to a few thousand characters with no word in them but
  // many sentence ends: paragraph separators, ideographic full stops amid spaces, punctuation,
  // emoji with joiners and modifiers, flags, marks on spaces. These are what the service walks
  // once, in windows, and must cut as ICU does across every window edge.
  const gapPieceArb = fc.constantFrom(
    '\u2029',
    '\u2028',
    '\u0085',
    ' ',
    '   ',
    ' 。 ',
    '。',
    '  。  *',
    '!',
    '? ',
    '. ',
    '...',
    '\n',
    '\r\n',
    '\r',
    '*',
    '😀',
    '👍🏽',
    '👩\u200d💻',
    '\u200d',
    '\u0301',
    ' \u0301',
    '🇫🇷',
    '🇩',
    '\u3000',
    '_',
    '—',
    '…',
    '\u00a0',
    '「',
    '」',
    '\t',
    '\u00ad',
    '#\ufe0f\u20e3',
    '\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}',
  );
  const gapArb = fc
    .oneof(
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 }) },
      { weight: 2, arbitrary: fc.integer({ min: 100, max: 900 }) },
    )
    .chain((n) => fc.array(gapPieceArb, { minLength: n, maxLength: n }))
    .map((pieces) => pieces.join(''));
  const docArb = fc
    .array(fc.tuple(gapArb, fc.integer({ min: 1, max: 30 }).chain(sentenceOf)), { minLength: 1, maxLength: 5 })
    .map((parts) => parts.map(([gap, s]) => gap + s).join(''));
  let runs = 0;
  fc.assert(
    fc.property(docArb, fc.integer({ min: 20, max: 26 }), fc.constantFrom<0 | 1>(0, 1), (doc, max, o) => {
      runs++;
      sameAsElasticsearch(doc, max, o);
    }),
    { numRuns: 150, seed: 2029 },
  );
  t.equal(runs, 150);
});

t.test('a carried sentence starts where Elasticsearch starts it, whatever precedes its words', async (t) => {
  // The two places where the text between words decides a chunk's first character. Joins and
  // gaps mix what ICU keeps together (runs of spaces, marks on a space, emoji with joiners and
  // modifiers, flags, keycaps) with what it does not.
  const joinPieceArb = fc.constantFrom(
    ' ',
    '  ',
    ' \u0301 ',
    '\u0301 ',
    ' 😀',
    ' 👍🏽 ',
    ' 👩\u200d💻',
    '😀\u200d ',
    ' 🇫🇷',
    '🇩 ',
    '\u3000',
    ' _ ',
    '—',
    '\u00a0',
    '\t',
    '\u00ad ',
    ' #\ufe0f\u20e3',
    ' “',
    '” ',
    ', ',
    ' (',
    ') ',
    '\u3000\u0301',
    '\u2003 ',
  );
  const joinArb = fc.array(joinPieceArb, { minLength: 1, maxLength: 3 }).map((ps) => ps.join(''));
  const wordsJoined = (tag: string, n: number) =>
    fc.array(joinArb, { minLength: n, maxLength: n }).map((joins) => {
      let s = `${tag}0`;
      for (let i = 1; i < n; i++) s += joins[i]! + tag + i;
      return s;
    });
  // 1. Carried in part (15 to 19 words, then 12 to 15, at 20): the carry starts one segment past
  //    the last word dropped, and that segment is whatever the join after it is.
  fc.assert(
    fc.property(
      fc.integer({ min: 15, max: 19 }).chain((n) => wordsJoined('P', n)),
      fc.integer({ min: 12, max: 15 }).chain((n) => wordsJoined('N', n)),
      (prev, next) => sameAsElasticsearch(`${prev}. ${next}.`, 20, 1),
    ),
    { numRuns: 300, seed: 5 },
  );
  // 2. Carried whole but too long with what follows (12, then 1 to 10, then 15 words at 20): the
  //    carry starts at the boundary before its sentence, inside a long stretch of wordless text
  //    that may hold sentence ends of its own.
  const gapPieceArb = fc.constantFrom(
    '\u2029',
    ' ',
    '   ',
    ' 。 ',
    '! ',
    '\n',
    '\r\n',
    '*',
    ' 😀',
    '👍🏽',
    '👩\u200d💻',
    ' \u0301',
    '🇫🇷',
    '\u3000',
    '…',
    '\u00a0',
    '「',
    '」',
  );
  fc.assert(
    fc.property(
      fc
        .integer({ min: 0, max: 700 })
        .chain((n) => fc.array(gapPieceArb, { minLength: n, maxLength: n }))
        .map((ps) => ps.join('')),
      fc.integer({ min: 1, max: 10 }).chain((n) => wordsJoined('B', n)),
      fc.constantFrom('. ', '.\n', '. \u0301', '.\u2029', '! \u3000'),
      (gap, carried, end) => {
        const A = Array.from({ length: 12 }, (_, i) => `A${i}`).join(' ');
        const C = Array.from({ length: 15 }, (_, i) => `C${i}`).join(' ');
        sameAsElasticsearch(`${A}. ${gap}${carried}${end}${C}.`, 20, 1);
      },
    ),
    { numRuns: 300, seed: 6 },
  );
  t.pass('600 documents');
});

t.test("the recursive strategy's fallback chunks each piece as Elasticsearch chunks that substring", async (t) => {
  // Elasticsearch's RecursiveChunker hands a piece it cannot split further to the sentence chunker
  // as a substring (overlap 0): the piece's start is the iterator's start, and a word the cut goes
  // through is, for it, the part on its side. Two long documents joined by a separator that
  // matches only there, each too long for one chunk, both fall back.
  const joins: Array<[glue: string, separator: string, cut: number]> = [
    ['|', '\\|', 0],
    ['xx|', 'xx\\|', 0],
    ['\n|', '\\n\\|', 0],
    ['Word ', '(?<=Wor)d ', 3], // through the word "Word"
    ["Zq'z ", "(?<=Zq)'z ", 2], // through the word "Zq'z", at its apostrophe
  ];
  let runs = 0;
  fc.assert(
    fc.property(
      documentArb(70, 10),
      documentArb(70, 10),
      fc.constantFrom(...joins),
      fc.integer({ min: 20, max: 30 }),
      (a, b, [glue, separator, at], max) => {
        const doc = a + glue + b;
        const cut = a.length + at;
        const pieces = chunkText(doc, { strategy: 'recursive', max_chunk_size: max, separators: [separator] });
        const total = (s: string) =>
          [...new Intl.Segmenter(undefined, { granularity: 'word' }).segment(s)].filter((x) => x.isWordLike).length;
        fc.pre(total(doc.slice(0, cut)) > max + 1 && total(doc.slice(cut)) > max + 1);
        runs++;
        const expected = [
          ...referenceSentenceChunks(doc.slice(0, cut), max, false),
          ...referenceSentenceChunks(doc.slice(cut), max, false).map(([s, e]): [number, number] => [s + cut, e + cut]),
        ];
        const actual = pieces.map((c): [number, number] => [c.start, c.end]);
        if (JSON.stringify(actual) !== JSON.stringify(expected)) {
          throw new Error(
            `max ${max}\n${JSON.stringify(doc)}\nexpected ${JSON.stringify(show(doc, expected))}\nactual   ${JSON.stringify(show(doc, actual))}`,
          );
        }
      },
    ),
    { numRuns: 200, seed: 11 },
  );
  t.ok(runs > 120, `${runs} documents`);
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
