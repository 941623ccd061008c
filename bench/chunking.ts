// Chunking throughput: MB/s of each strategy at 100 KB, 1 MB and 10 MB of English text, on CJK and mixed-script
// text, and per script (zh, ja, fa, hi, ko, th) against Intl.Segmenter's own windowed word pass.
import { chunkText } from '../src/chunking/chunker.js';
import { SEPARATOR_GROUPS, type ChunkingSettings } from '../src/chunking/chunking-settings.js';
import { cjkText, englishText, mixedText, SCRIPT_LANGUAGES, scriptText } from './corpus.js';

export const STRATEGIES: Record<string, ChunkingSettings> = {
  word: { strategy: 'word', max_chunk_size: 250, overlap: 100 },
  sentence: { strategy: 'sentence', max_chunk_size: 250, sentence_overlap: 1 },
  recursive: { strategy: 'recursive', max_chunk_size: 250, separators: [...SEPARATOR_GROUPS.plaintext!] },
  // `none` is left out: it does no work (one chunk, the whole input).
};

export const SIZES = [100_000, 1_000_000, 10_000_000];

export interface ChunkingResult {
  strategy: string;
  /** english, cjk or mixed. */
  text: string;
  bytes: number;
  /** MB/s of each run (UTF-16 code units count as bytes, as for the sizes). */
  mbPerSecond: number[];
  chunks: number;
}

const TEXTS: Record<string, (chars: number) => string> = { english: englishText, cjk: cjkText, mixed: mixedText };

/** Sizes per text: CJK and mixed text stop at 1 MB to keep the run short. */
const SIZES_OF: Record<string, number[]> = { english: SIZES, cjk: [100_000, 1_000_000], mixed: [100_000, 1_000_000] };

/** Each measurement `runs` times, each run repeating until it has taken at least `minMs` (after one warm-up pass). */
export function measureChunking(runs = 3, minMs = 300): ChunkingResult[] {
  const results: ChunkingResult[] = [];
  for (const [kind, make] of Object.entries(TEXTS)) {
    for (const size of SIZES_OF[kind]!) {
      const text = make(size);
      for (const [name, settings] of Object.entries(STRATEGIES)) {
        chunkText(text.slice(0, 100_000), settings);
        const speeds: number[] = [];
        let chunks = 0;
        for (let r = 0; r < runs; r++) {
          let passes = 0;
          const start = performance.now();
          do {
            chunks = chunkText(text, settings).length;
            passes++;
          } while (performance.now() - start < minMs);
          speeds.push((size * passes) / ((performance.now() - start) / 1000) / 1e6);
        }
        results.push({ strategy: name, text: kind, bytes: size, mbPerSecond: speeds, chunks });
      }
    }
  }
  return results;
}

/** The same English text through @langchain/textsplitters' RecursiveCharacterTextSplitter (about 250 words a chunk). */
export async function measureLangchain(runs = 3, minMs = 300): Promise<ChunkingResult[]> {
  const { RecursiveCharacterTextSplitter } = await import('@langchain/textsplitters');
  const splitter = new RecursiveCharacterTextSplitter({ chunkSize: 1500, chunkOverlap: 0 });
  const results: ChunkingResult[] = [];
  for (const size of SIZES) {
    const text = englishText(size);
    await splitter.splitText(text.slice(0, 100_000));
    const speeds: number[] = [];
    let chunks = 0;
    for (let r = 0; r < runs; r++) {
      let passes = 0;
      const start = performance.now();
      do {
        chunks = (await splitter.splitText(text)).length;
        passes++;
      } while (performance.now() - start < minMs);
      speeds.push((size * passes) / ((performance.now() - start) / 1000) / 1e6);
    }
    results.push({ strategy: 'langchain recursive', text: 'english', bytes: size, mbPerSecond: speeds, chunks });
  }
  return results;
}

export interface ScriptResult {
  language: string;
  bytes: number;
  /** MB/s of each strategy's chunking, and of Intl.Segmenter's word pass over 500-character windows, per run. */
  word: number[];
  sentence: number[];
  icuWindows: number[];
  /** word and sentence MB/s over Intl.Segmenter's, per run (each pair measured back to back). */
  wordRatio: number[];
  sentenceRatio: number[];
}

/** ICU's own word pass, as a caller without this segmenter would run it: 500-character windows, word-like segments counted. */
function icuWindowedWords(text: string): number {
  const segmenter = new Intl.Segmenter(undefined, { granularity: 'word' });
  let words = 0;
  for (let i = 0; i < text.length; i += 500) {
    for (const seg of segmenter.segment(text.slice(i, i + 500))) if (seg.isWordLike) words++;
  }
  return words;
}

function mbPerSecond(bytes: number, minMs: number, run: () => unknown): number {
  let passes = 0;
  const start = performance.now();
  do {
    run();
    passes++;
  } while (performance.now() - start < minMs);
  return (bytes * passes) / ((performance.now() - start) / 1000) / 1e6;
}

/**
 * Chinese, Japanese, Persian, Hindi, Korean and Thai text (bench/corpus.ts): the word and
 * sentence strategies against Intl.Segmenter's windowed word pass, measured alternately.
 */
export function measureScripts(runs = 3, minMs = 300, bytes = 200_000): ScriptResult[] {
  const results: ScriptResult[] = [];
  for (const language of SCRIPT_LANGUAGES) {
    const text = scriptText(language, bytes);
    const result: ScriptResult = {
      language,
      bytes,
      word: [],
      sentence: [],
      icuWindows: [],
      wordRatio: [],
      sentenceRatio: [],
    };
    chunkText(text, STRATEGIES.word!);
    chunkText(text, STRATEGIES.sentence!);
    icuWindowedWords(text);
    for (let r = 0; r < runs; r++) {
      const icu = mbPerSecond(bytes, minMs, () => icuWindowedWords(text));
      const word = mbPerSecond(bytes, minMs, () => chunkText(text, STRATEGIES.word!));
      const sentence = mbPerSecond(bytes, minMs, () => chunkText(text, STRATEGIES.sentence!));
      result.icuWindows.push(icu);
      result.word.push(word);
      result.sentence.push(sentence);
      result.wordRatio.push(word / icu);
      result.sentenceRatio.push(sentence / icu);
    }
    results.push(result);
  }
  return results;
}
