// Chunking throughput: MB/s of each strategy at 100 KB, 1 MB and 10 MB of English text, and on CJK and mixed-script
// text (the slow path).
import { chunkText } from '../src/chunking/chunker.js';
import { SEPARATOR_GROUPS, type ChunkingSettings } from '../src/chunking/chunking-settings.js';
import { cjkText, englishText, mixedText } from './corpus.js';

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
