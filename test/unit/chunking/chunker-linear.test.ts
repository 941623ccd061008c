// The sentence strategy in linear time on text with long stretches between words (docs/chunking.md).
import t from 'tap';
import { chunkText, gapWork } from '../../../src/chunking/chunker.js';
import type { ChunkingSettings } from '../../../src/chunking/chunking-settings.js';

// Inputs on which a chunker that segments the text between two words once per sentence (or
// per sentence a window of it) goes quadratic or close: tens of seconds at 100 KB. Each is built
// at a size n and 8n; `make(n)` is about n characters long.
const INPUTS: Record<string, (n: number) => string> = {
  'paragraph separators (U+2029)': (n) => '\u2029'.repeat(n),
  'paragraph separators between two words': (n) => 'Start ' + '\u2029'.repeat(n) + ' End.',
  'spaces around ideographic full stops': (n) => 'Word ' + '  。  '.repeat(n / 5) + 'Word',
  'spaces around ideographic full stops, a sentence each': (n) => 'Word ' + '  。  *'.repeat(n / 6),
  'ideographic full stops and quotes': (n) => 'Word ' + '  。  「'.repeat(n / 6),
  'a run of punctuation': (n) => '!?.,;:-()'.repeat(n / 9),
  'punctuation sentences': (n) => 'Word ' + '! *'.repeat(n / 3),
  'line breaks': (n) => 'Word ' + '!\n'.repeat(n / 2),
  'emoji with joiners and marks': (n) => 'Word ' + '😀\u200d💻 \u0301。 '.repeat(n / 9),
  'short sentences after long gaps': (n) =>
    ('Alpha beta gamma delta. ' + '\u2029 。 '.repeat(200)).repeat(Math.max(1, Math.round(n / 824))),
};

const SETTINGS: Array<Extract<ChunkingSettings, { strategy: 'sentence' }>> = [
  { strategy: 'sentence', max_chunk_size: 20, sentence_overlap: 1 },
  { strategy: 'sentence', max_chunk_size: 20, sentence_overlap: 0 },
  { strategy: 'sentence', max_chunk_size: 250, sentence_overlap: 1 },
];

/** Characters handed to Intl.Segmenter (by the chunker and the segmenter under it) while `f` runs. */
function intlCharacters(f: () => void): number {
  const proto = Intl.Segmenter.prototype;
  const segment = proto.segment;
  let chars = 0;
  proto.segment = function (this: Intl.Segmenter, input: string) {
    chars += input.length;
    return segment.call(this, input);
  };
  try {
    f();
  } finally {
    proto.segment = segment;
  }
  return chars;
}

/** The fastest of three runs, in milliseconds of this process's CPU time: the machine's other work only ever adds. */
function fastest(f: () => void): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const start = process.cpuUsage();
    f();
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best;
}

/** What chunking `text` costs: characters handed to Intl.Segmenter, characters between words walked. */
function work(text: string, settings: ChunkingSettings): { intl: number; gap: number } {
  const before = gapWork.characters;
  const intl = intlCharacters(() => chunkText(text, settings));
  return { intl, gap: gapWork.characters - before };
}

t.test('each character is looked at a bounded number of times, at any size', async (t) => {
  for (const [name, make] of Object.entries(INPUTS)) {
    const small = make(12_500);
    const large = make(100_000);
    for (const settings of SETTINGS) {
      const label = `${name}, max ${settings.max_chunk_size}, overlap ${settings.sentence_overlap}`;
      const a = work(small, settings);
      const b = work(large, settings);
      // Linear: 8 times the text, about 8 times the work (a quadratic walk would be 64).
      t.ok(
        b.intl <= 12 * Math.max(a.intl, small.length),
        `${label}: Intl.Segmenter, ${a.intl} then ${b.intl} characters`,
      );
      t.ok(b.gap <= 12 * Math.max(a.gap, small.length), `${label}: walked, ${a.gap} then ${b.gap} characters`);
      // And a small constant: no window of text per sentence, no walk back over the gap.
      t.ok(b.intl <= 8 * large.length, `${label}: Intl.Segmenter, ${(b.intl / large.length).toFixed(2)} per character`);
      t.ok(b.gap <= 2 * large.length, `${label}: walked, ${(b.gap / large.length).toFixed(2)} per character`);
    }
  }
});

t.test('8 times the text takes about 8 times as long, not 64', async (t) => {
  const settings = SETTINGS[0]!;
  for (const [name, make] of Object.entries(INPUTS)) {
    const small = make(50_000);
    const large = make(400_000);
    chunkText(small, settings);
    const a = fastest(() => chunkText(small, settings));
    const b = fastest(() => chunkText(large, settings));
    // Generous: timer granularity, and the garbage collector, which moves the larger arrays of
    // sentence ends more often, make a linear chunker up to 2.5 times slower per character on the
    // large input. A quadratic one is at 64.
    t.ok(b <= 40 * Math.max(a, 2), `${name}: ${a.toFixed(1)} ms, then ${b.toFixed(1)} ms of CPU time`);
  }
});

t.test('a megabyte without a word chunks in well under a second', async (t) => {
  const inputs: Record<string, string> = {
    'paragraph separators': '\u2029'.repeat(1_000_000),
    'line breaks and spaces': ' \r\n\u2028 \u0085'.repeat(200_000),
    'full stops': '.'.repeat(1_000_000),
    spaces: ' '.repeat(1_000_000),
    'sentences of punctuation': '! *'.repeat(333_334),
  };
  for (const [name, text] of Object.entries(inputs)) {
    for (const settings of SETTINGS.slice(0, 2)) {
      const ms = fastest(() => chunkText(text, settings));
      const chunks = chunkText(text, settings);
      t.strictSame(
        chunks.map((c) => [c.start, c.end]),
        [[0, text.length]],
        `${name}: one chunk, the whole input`,
      );
      // Under a second with room to spare; the bound allows for a busy machine.
      t.ok(ms < 3000, `${name}: ${ms.toFixed(0)} ms of CPU time`);
    }
  }
});
