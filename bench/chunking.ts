// Chunking throughput: MB/s of each strategy at 100 KB, 1 MB and 10 MB of English text, in one run.
import { chunkText } from '../src/chunking/chunker.js';
import { SEPARATOR_GROUPS, type ChunkingSettings } from '../src/chunking/settings.js';
import { englishText } from './corpus.js';

export const STRATEGIES: Record<string, ChunkingSettings> = {
  word: { strategy: 'word', max_chunk_size: 250, overlap: 100 },
  sentence: { strategy: 'sentence', max_chunk_size: 250, sentence_overlap: 1 },
  recursive: { strategy: 'recursive', max_chunk_size: 250, separators: [...SEPARATOR_GROUPS.plaintext!] },
  // `none` is left out: it does no work (one chunk, the whole input).
};

export const SIZES = [100_000, 1_000_000, 10_000_000];

export interface ChunkingResult {
  strategy: string;
  bytes: number;
  mbPerSecond: number;
  chunks: number;
}

/** Repeats each measurement until it has run for at least `minMs` (after one warm-up pass). */
export function measureChunking(minMs = 400): ChunkingResult[] {
  const results: ChunkingResult[] = [];
  for (const size of SIZES) {
    const text = englishText(size);
    for (const [name, settings] of Object.entries(STRATEGIES)) {
      chunkText(text.slice(0, 100_000), settings);
      let runs = 0;
      let chunks = 0;
      const start = performance.now();
      do {
        chunks = chunkText(text, settings).length;
        runs++;
      } while (performance.now() - start < minMs);
      const seconds = (performance.now() - start) / 1000;
      results.push({ strategy: name, bytes: size, mbPerSecond: (size * runs) / seconds / 1e6, chunks });
    }
  }
  return results;
}

/** The same text through @langchain/textsplitters' RecursiveCharacterTextSplitter (about 250 words a chunk). */
export async function measureLangchain(minMs = 400): Promise<ChunkingResult[]> {
  const { RecursiveCharacterTextSplitter } = await import('@langchain/textsplitters');
  const splitter = new RecursiveCharacterTextSplitter({ chunkSize: 1500, chunkOverlap: 0 });
  const results: ChunkingResult[] = [];
  for (const size of SIZES) {
    const text = englishText(size);
    await splitter.splitText(text.slice(0, 100_000));
    let runs = 0;
    let chunks = 0;
    const start = performance.now();
    do {
      chunks = (await splitter.splitText(text)).length;
      runs++;
    } while (performance.now() - start < minMs);
    const seconds = (performance.now() - start) / 1000;
    results.push({ strategy: 'langchain recursive', bytes: size, mbPerSecond: (size * runs) / seconds / 1e6, chunks });
  }
  return results;
}
