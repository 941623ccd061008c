// Chunking: docs/chunking.md's conformance vectors, and the linear-time segmenter checked against Intl.Segmenter.
import t from 'tap';
import { chunkInput, chunkText, type Chunk } from '../../../src/chunking/chunker.js';
import { findSentenceEnds, findWords, WINDOW } from '../../../src/chunking/segmenter.js';
import { SEPARATOR_GROUPS, type ChunkingSettings } from '../../../src/chunking/chunking-settings.js';

const texts = (input: string, settings: ChunkingSettings) =>
  chunkText(input, settings).map((c) => input.slice(c.start, c.end));
const word = (max: number, overlap: number): ChunkingSettings => ({ strategy: 'word', max_chunk_size: max, overlap });
const sentence = (max: number, overlap: 0 | 1): ChunkingSettings => ({
  strategy: 'sentence',
  max_chunk_size: max,
  sentence_overlap: overlap,
});
const recursive = (max: number, separators: readonly string[]): ChunkingSettings => ({
  strategy: 'recursive',
  max_chunk_size: max,
  separators: [...separators],
});

const wordSegmenter = new Intl.Segmenter(undefined, { granularity: 'word' });
const sentenceSegmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' });
const icuWords = (s: string) =>
  [...wordSegmenter.segment(s)].filter((x) => x.isWordLike).map((x) => [x.index, x.index + x.segment.length]);
const icuSentenceEnds = (s: string) => [...sentenceSegmenter.segment(s)].map((x) => x.index + x.segment.length);
const ourWords = (s: string) => {
  const w = findWords(s);
  return Array.from(w.starts, (start, i) => [start, w.ends[i]!]);
};

t.test('word strategy: the conformance vectors', async (t) => {
  t.strictSame(
    texts(
      'Elasticsearch is an open source, distributed, RESTful, search engine which is built on top of Lucene internally and enjoys all the features it provides.',
      word(10, 1),
    ),
    [
      'Elasticsearch is an open source, distributed, RESTful, search engine which',
      ' which is built on top of Lucene internally and enjoys',
      ' enjoys all the features it provides.',
    ],
  );
  t.strictSame(
    texts(
      'Elasticsearch is a free, open-source search engine and analytics tool that stores and indexes data.',
      word(10, 1),
    ),
    [
      'Elasticsearch is a free, open-source search engine and analytics',
      ' analytics tool that stores and indexes data.',
    ],
  );
  t.strictSame(texts('Comma, separated', word(1, 0)), ['Comma', ', separated']);
  t.strictSame(texts("Won't you chunk", word(1, 0)), ["Won't", ' you', ' chunk']);
  t.strictSame(texts('Mme. Thénardier', word(1, 0)), ['Mme', '. Thénardier']);
});

t.test('word strategy: empty input, no words, and the last-chunk rule', async (t) => {
  t.strictSame(chunkText('', word(10, 1)), [{ start: 0, end: 0, words: 0 }]);
  t.strictSame(texts('... !!! ...', word(10, 1)), ['... !!! ...'], 'no words: one chunk, the whole input');
  t.strictSame(texts('one two three', word(10, 1)), ['one two three'], 'fewer words than the size: one chunk');
  const ten = 'a b c d e f g h i j.';
  t.strictSame(texts(ten, word(10, 1)), ['a b c d e f g h i j'], 'a last chunk of only overlap words is dropped');
  t.strictSame(texts('a b c d e f g h i j k.', word(10, 1)), ['a b c d e f g h i j', ' j k.']);
  t.strictSame(
    chunkText('a b c d e f g h i j k.', word(10, 1)).map((c) => c.words),
    [10, 2],
  );
});

t.test('sentence strategy: the conformance vectors', async (t) => {
  const input =
    'This is sentence one. This is sentence two. This is a third sentence that is a bit longer than the others.';
  t.strictSame(texts(input, sentence(20, 1)), [
    'This is sentence one. This is sentence two. ',
    'This is sentence two. This is a third sentence that is a bit longer than the others.',
  ]);
  t.strictSame(texts(input, sentence(20, 0)), [
    'This is sentence one. This is sentence two. ',
    'This is a third sentence that is a bit longer than the others.',
  ]);
  t.strictSame(chunkText('', sentence(20, 1)), [{ start: 0, end: 0, words: 0 }]);
});

t.test('sentence strategy: long sentences are split by words; overlap carries only what fits', async (t) => {
  const long = Array.from({ length: 45 }, (_, i) => `w${i}`).join(' ') + '.';
  const chunks = chunkText(long, sentence(20, 0));
  // overlap min(20, (20-1)/2) = 9: chunks of 20 words advancing by 11.
  t.strictSame(
    chunks.map((c) => c.words),
    [20, 20, 20, 12],
  );
  t.strictSame(texts(long, sentence(20, 0))[1]!.trim().split(' ')[0], 'w11');
  // A previous sentence too long to carry whole (15 > min(20/2, 20) words, and 15 + 12 > 20):
  // only its last 10 words come along, from the word itself (Elasticsearch drops the space after
  // the last word dropped); carried + next is 22 words, over 20, so that text is split by words
  // (overlap min(20, 19/2) = 9) and the last piece goes on as the next chunk (docs/chunking.md).
  // Capitalised: after "." a lower-case word continues the sentence (UAX #29 SB8).
  const prev = Array.from({ length: 15 }, (_, i) => `P${i}`).join(' ') + '. ';
  const next = Array.from({ length: 12 }, (_, i) => `N${i}`).join(' ') + '.';
  const out = texts(prev + next, sentence(20, 1));
  t.strictSame(out, [
    prev,
    'P5 P6 P7 P8 P9 P10 P11 P12 P13 P14. N0 N1 N2 N3 N4 N5 N6 N7 N8 N9',
    ' N1 N2 N3 N4 N5 N6 N7 N8 N9 N10 N11.',
  ]);
  t.strictSame(
    chunkText(prev + next, sentence(20, 1)).map((c) => c.words),
    [15, 20, 11],
  );
});

t.test("sentence strategy, overlap 1 next to a long sentence: docs/chunking.md's example", async (t) => {
  // Sentences of 15, 30, 20 and 5 words: "S0 1 2 … 14. S1 1 … 29. S2 … S3 1 2 3 4. ", max 40.
  const sentenceWords = (name: string, count: number) => [
    name,
    ...Array.from({ length: count - 1 }, (_, i) => String(i + 1)),
  ];
  const [s0, s1, s2, s3] = [
    sentenceWords('S0', 15),
    sentenceWords('S1', 30),
    sentenceWords('S2', 20),
    sentenceWords('S3', 5),
  ];
  const sentenceText = (ws: string[]) => ws.join(' ') + '. ';
  const input = [s0, s1, s2, s3].map(sentenceText).join('');
  // Expected chunks written from the words themselves, not from the chunker.
  const expected = [
    sentenceText(s0), // [S0]
    sentenceText(s0) + s1.slice(0, 25).join(' '), // [S0 + the first 25 words of S1]: 40 words, no full stop
    ' ' + s1.slice(6).join(' ') + '. ', // [S1 from its 7th word to its end]: 19 words back from the 40th
    s1.slice(10).join(' ') + '. ' + sentenceText(s2), // [the last 20 words of S1 + S2], from the word itself
    sentenceText(s2) + sentenceText(s3), // [S2 + S3]
  ];
  t.strictSame(texts(input, sentence(40, 1)), expected);
  t.strictSame(
    chunkText(input, sentence(40, 1)).map((c) => c.words),
    [15, 40, 24, 40, 25],
  );
});

t.test('recursive strategy: paragraphs, lines, custom separators and the sentence fallback', async (t) => {
  const para = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(' ') + '.';
  const input = [para(6, 'a'), para(6, 'b'), para(12, 'c')].join('\n\n');
  t.strictSame(texts(input, recursive(15, SEPARATOR_GROUPS.plaintext!)), [
    para(6, 'a') + '\n\n' + para(6, 'b'),
    '\n\n' + para(12, 'c'),
  ]);
  t.strictSame(
    texts('short text', recursive(15, SEPARATOR_GROUPS.plaintext!)),
    ['short text'],
    'within the size: one chunk',
  );
  const lines = [para(8, 'x'), para(8, 'y'), para(8, 'z')].join('\n');
  t.strictSame(texts(lines, recursive(10, SEPARATOR_GROUPS.plaintext!)), [
    para(8, 'x'),
    '\n' + para(8, 'y'),
    '\n' + para(8, 'z'),
  ]);
  const md = `# Title\nintro words here\n## Part one\n${para(8, 'o')}\n## Part two\n${para(8, 't')}`;
  const mdChunks = texts(md, recursive(12, SEPARATOR_GROUPS.markdown!));
  t.strictSame(mdChunks, [
    '# Title\nintro words here',
    `\n## Part one\n${para(8, 'o')}`,
    `\n## Part two\n${para(8, 't')}`,
  ]);
  t.strictSame(texts('a1 a2 a3 --- b1 b2 b3 --- c1 c2', recursive(4, [' --- '])), [
    'a1 a2 a3',
    ' --- b1 b2 b3',
    ' --- c1 c2',
  ]);
  // No separator matches and the piece is too large: sentences, overlap 0.
  const s = 'One two three four five. Six seven eight nine ten. Eleven twelve.';
  t.strictSame(texts(s, recursive(10, ['\n'])), [
    'One two three four five. Six seven eight nine ten. ',
    'Eleven twelve.',
  ]);
});

t.test('none: the whole input is one chunk', async (t) => {
  t.strictSame(chunkText('Any text at all. Really.', { strategy: 'none' }), [{ start: 0, end: 24, words: 0 }]);
});

t.test("a request's input shorter than max_chunk_size is the one chunk chunkText makes, words counted", async (t) => {
  const settings = [sentence(20, 1), sentence(20, 0), word(10, 0), word(10, 5), sentence(250, 1)];
  let checked = 0;
  for (let seed = 1; seed <= 3000; seed++) {
    const s = settings[seed % settings.length]!;
    if (s.strategy !== 'word' && s.strategy !== 'sentence') continue;
    // randomText may overshoot by a piece: only inputs under the limit take the short way.
    const input = randomText(seed, seed % s.max_chunk_size);
    if (input.length >= s.max_chunk_size) continue;
    const [whole, ...more] = chunkInput(input, s);
    const [expected] = chunkText(input, s);
    // Named by seed: the text itself may hold line separators, which TAP's lines cannot.
    t.same(more, [], `seed ${seed}`);
    t.same({ start: whole!.start, end: whole!.end, words: whole!.words }, expected, `seed ${seed}`);
    checked++;
  }
  t.ok(checked > 2000, `${checked} inputs`);
});

t.test('chunks are slices of the input in order, offsets in UTF-16 code units', async (t) => {
  const input =
    'Ünïcödé wörds 😀 and émoji. 日本語のテキストです。 Последнее предложение здесь. ' +
    'More words follow here. '.repeat(30);
  for (const settings of [word(10, 2), sentence(20, 1), sentence(20, 0), recursive(12, SEPARATOR_GROUPS.plaintext!)]) {
    const chunks = chunkText(input, settings);
    t.ok(chunks.length > 1, settings.strategy);
    let covered = 0;
    for (const c of chunks) {
      t.ok(c.start >= 0 && c.start <= c.end && c.end <= input.length);
      t.ok(c.start <= covered, 'no gap before a chunk');
      covered = Math.max(covered, c.end);
    }
    t.equal(covered, input.length, `${settings.strategy}: the chunks reach the end`);
  }
  const emoji = chunkText('😀 x', word(1, 0));
  t.strictSame(emoji, [{ start: 0, end: 4, words: 1 }], 'the emoji is not a word; offsets count its two code units');
});

t.test('the segmenter agrees with Intl.Segmenter for every fast character in every rule context', async (t) => {
  const templates = [
    'ab#cd',
    '12#34',
    'a#1',
    '1#a',
    '##',
    '#',
    ' # ',
    'a#',
    '#a',
    '_#_',
    'x.#A',
    'x. #A',
    'x.#a',
    'x. #a',
    'x!#A',
    'x! #a',
    'A#B',
    'a#b',
    'a.#.B',
    'Ab.#) Cd',
    'x#. Y',
    'X#.Y',
    'x.#1',
    'x. # 1 b',
    'a\r#b',
    'a.\r#B',
  ];
  let mismatches = 0;
  let checked = 0;
  for (let cp = 0x9; cp < 0x2040; cp++) {
    const c = String.fromCharCode(cp);
    for (const template of templates) {
      const s = template.replaceAll('#', c);
      checked++;
      if (JSON.stringify(ourWords(s)) !== JSON.stringify(icuWords(s))) mismatches++;
      if (JSON.stringify(Array.from(findSentenceEnds(s))) !== JSON.stringify(icuSentenceEnds(s))) mismatches++;
    }
  }
  t.ok(checked > 190_000);
  t.equal(mismatches, 0);
});

/** Deterministic random text mixing the fast alphabet with marks, CJK, Thai, emoji, RTL and controls. */
function randomText(seed: number, length: number): string {
  let s = seed;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const common = 'aaaaabcdeeefghiiklmnooprsttuAEBTZ0123456789 .,;:!?\'"()-_\n\r\t'.split('');
  const extra = [
    'é',
    'É',
    '\u0301',
    '\u00ad',
    '日本',
    'ไทย',
    '😀',
    '\u200d',
    'Ж',
    'ж',
    'λ',
    'Λ',
    '\u2019',
    '\u201c',
    '\u2026',
    '\u00a0',
    '\u2014',
    '\u0387',
    '\u037e',
    '\u0085',
    '\u2028',
    '\u2029',
    'ß',
    'ǅ',
    '\u02bb',
    '\u05d0',
    '١',
    '🇫🇷',
  ];
  let out = '';
  while (out.length < length) {
    const r = rnd();
    out +=
      r < 0.8
        ? common[Math.floor(rnd() * common.length)]
        : r < 0.93
          ? extra[Math.floor(rnd() * extra.length)]
          : String.fromCharCode(9 + Math.floor(rnd() * 0x2030));
  }
  return out;
}

t.test('the segmenter agrees with Intl.Segmenter on random mixed-script text', async (t) => {
  let mismatches = 0;
  for (let seed = 1; seed <= 4000; seed++) {
    const s = randomText(seed, 1 + (seed % 80));
    if (JSON.stringify(ourWords(s)) !== JSON.stringify(icuWords(s))) mismatches++;
    if (JSON.stringify(Array.from(findSentenceEnds(s))) !== JSON.stringify(icuSentenceEnds(s))) mismatches++;
  }
  t.equal(mismatches, 0, 'short strings');
  for (let seed = 1; seed <= 6; seed++) {
    const s = randomText(seed * 7919, WINDOW * 3);
    t.strictSame(ourWords(s), icuWords(s), `mixed text of ${s.length} characters, past the window`);
    t.strictSame(
      Array.from(findSentenceEnds(s)),
      icuSentenceEnds(s),
      `sentences of ${s.length} characters, past the window`,
    );
  }
});

t.test('long runs with no safe boundary (CJK without spaces) are cut by force but lose nothing', async (t) => {
  const cjk = '日本語のテキストは空白なしで書かれます'.repeat(400);
  const words = findWords(cjk);
  t.ok(words.count > 100);
  let ordered = true;
  for (let i = 1; i < words.count; i++) ordered &&= words.starts[i]! >= words.ends[i - 1]!;
  t.ok(ordered, 'words in order, no overlap');
  const ends = Array.from(findSentenceEnds(cjk));
  t.equal(ends[ends.length - 1], cjk.length);
  const chunks: Chunk[] = chunkText(cjk, sentence(50, 0));
  t.equal(chunks[0]!.start, 0);
  t.equal(chunks[chunks.length - 1]!.end, cjk.length);
});
