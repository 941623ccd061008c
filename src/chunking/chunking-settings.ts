// chunking_settings: the four strategies, their validation (docs/chunking.md) and the default.
import { SettingsReader } from '../settings-reader.js';
import type { SettingsMap } from '../store/endpoint-store.js';

export type ChunkingSettings =
  | { strategy: 'word'; max_chunk_size: number; overlap: number }
  | { strategy: 'sentence'; max_chunk_size: number; sentence_overlap: 0 | 1 }
  | { strategy: 'recursive'; max_chunk_size: number; separators: string[] }
  | { strategy: 'none' };

type ChunkingStrategy = ChunkingSettings['strategy'];

export const DEFAULT_CHUNKING_SETTINGS: ChunkingSettings = Object.freeze({
  strategy: 'sentence',
  max_chunk_size: 250,
  sentence_overlap: 1,
});

/** Word limits per strategy, as Elasticsearch enforces them. */
const MAX_CHUNK_SIZE_LIMITS = {
  word: { min: 10, max: 300 },
  sentence: { min: 20, max: 300 },
  recursive: { min: 10, max: 300 },
} as const;

/**
 * Named separator lists for the recursive strategy. Like Elasticsearch, an endpoint stores the
 * list itself, so a later change to a group does not change existing endpoints.
 */
export const SEPARATOR_GROUPS: Record<string, readonly string[]> = {
  plaintext: ['(?<!\\n)\\n\\n(?!\\n)', '(?<!\\n)\\n(?!\\n)'],
  markdown: [
    '\n# ',
    '\n## ',
    '\n### ',
    '\n#### ',
    '\n##### ',
    '\n###### ',
    '\n^(?!\\s*$).*\\n-{1,}\\n',
    '\n^(?!\\s*$).*\\n={1,}\\n',
  ],
};

const STRATEGY_NAMES: Record<ChunkingStrategy, string> = {
  word: 'Word based',
  sentence: 'Sentence based',
  recursive: 'Recursive',
  none: 'None',
};

const VALID_KEYS: Record<ChunkingStrategy, readonly string[]> = {
  word: ['strategy', 'max_chunk_size', 'overlap'],
  sentence: ['strategy', 'max_chunk_size', 'sentence_overlap'],
  recursive: ['strategy', 'max_chunk_size', 'separators', 'separator_group'],
  none: ['strategy'],
};

const isStrategy = (s: string): s is ChunkingStrategy => Object.hasOwn(VALID_KEYS, s);

/**
 * Validates user chunking settings. Absent, null or `{}` → the default. Problems are appended
 * to `problems` (Elasticsearch's messages) and undefined is returned.
 */
export function parseChunkingSettings(
  raw: SettingsMap | null | undefined,
  problems: string[],
): ChunkingSettings | undefined {
  if (raw === null || raw === undefined || Object.keys(raw).length === 0) return { ...DEFAULT_CHUNKING_SETTINGS };
  const before = problems.length;
  const reader = new SettingsReader(raw, 'chunking_settings', problems);
  const name = reader.takeString('strategy', { required: true });
  if (name === undefined) return undefined;
  const strategy = name.toLowerCase();
  if (!isStrategy(strategy)) {
    problems.push(`Invalid chunkingStrategy ${name}`);
    return undefined;
  }
  const extra = reader.keys().filter((k) => !VALID_KEYS[strategy].includes(k));
  if (extra.length > 0) {
    problems.push(
      `${STRATEGY_NAMES[strategy]} chunking settings can not have the following settings: [${extra.join(', ')}]`,
    );
  }

  let settings: ChunkingSettings | undefined;
  switch (strategy) {
    case 'none':
      settings = { strategy };
      break;
    case 'word': {
      const max = reader.takeInteger('max_chunk_size', { required: true, ...MAX_CHUNK_SIZE_LIMITS.word });
      // overlap is checked against max only when max itself is valid.
      const overlap = reader.takeInteger('overlap', {
        required: true,
        max: max === undefined ? undefined : Math.floor(max / 2),
      });
      if (max !== undefined && overlap !== undefined) settings = { strategy, max_chunk_size: max, overlap };
      break;
    }
    case 'sentence': {
      const max = reader.takeInteger('max_chunk_size', { required: true, ...MAX_CHUNK_SIZE_LIMITS.sentence });
      const overlap = reader.takeRaw('sentence_overlap') ?? 1;
      if (overlap !== 0 && overlap !== 1) {
        problems.push(`sentence_overlap[${String(overlap)}] must be either 0 or 1`);
      } else if (max !== undefined) {
        settings = { strategy, max_chunk_size: max, sentence_overlap: overlap };
      }
      break;
    }
    case 'recursive': {
      const max = reader.takeInteger('max_chunk_size', { required: true, ...MAX_CHUNK_SIZE_LIMITS.recursive });
      const separators = parseSeparators(reader, problems);
      if (max !== undefined && separators !== undefined) settings = { strategy, max_chunk_size: max, separators };
      break;
    }
  }
  return problems.length === before ? settings : undefined;
}

function parseSeparators(reader: SettingsReader, problems: string[]): string[] | undefined {
  const hasList = reader.has('separators');
  const hasGroup = reader.has('separator_group');
  if (hasList && hasGroup) {
    problems.push('Recursive chunking settings can not have both [separators] and [separator_group]');
    return undefined;
  }
  if (hasList) {
    const list = reader.takeRaw('separators');
    if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) {
      problems.push('[chunking_settings] field [separators] is not of the expected type; it must be a list of strings');
      return undefined;
    }
    if (list.length === 0) {
      problems.push('Recursive chunking settings can not have an empty list of separators');
      return undefined;
    }
    let ok = true;
    for (const s of list as string[]) {
      if (s === '') {
        problems.push('Recursive chunking settings can not have an empty separator');
        ok = false;
        continue;
      }
      try {
        new RegExp(s, 'm');
      } catch (err) {
        problems.push(`Invalid separator [${s}]: ${(err as Error).message}`);
        ok = false;
      }
    }
    return ok ? [...(list as string[])] : undefined;
  }
  const group = reader.takeString('separator_group') ?? 'plaintext';
  const separators = SEPARATOR_GROUPS[group.toLowerCase()];
  if (!separators) {
    problems.push(`Invalid separator_group [${group}]; must be one of [${Object.keys(SEPARATOR_GROUPS).join(', ')}]`);
    return undefined;
  }
  return [...separators];
}
