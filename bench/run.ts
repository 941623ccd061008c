// `npm run bench`: every figure measured in this one run (the median of several runs, with their range), printed as one
// table with the machine's load, and written to bench/results.json.
import fs from 'node:fs';
import os from 'node:os';
import { measureChunking, measureLangchain, measureScripts } from './chunking.js';
import { startChild, type Child } from './children.js';
import { gatewayOverhead, limiterAccuracy, memoryUnderOverload, quotaEfficiency } from './load.js';
import { row, watchLoad, type Load, type Row } from './stats.js';
import { clusterFigures } from './cluster-bench.js';
import { scaleFigures } from './scale.js';
import { scaleClusterFigures } from './scale-cluster.js';
import { cacheFigures } from './cache-bench.js';
import { cacheTierFigures } from './cache-tiers.js';
import { doorFigures } from './door-bench.js';
import { streamingRows } from './streaming.js';

const label = (bytes: number) => (bytes >= 1e6 ? `${bytes / 1e6} MB` : `${bytes / 1e3} KB`);
const format = (v: number) =>
  Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);

async function chunkingRows(): Promise<Row[]> {
  const ours = measureChunking();
  const theirs = await measureLangchain();
  const rows: Row[] = [...ours, ...theirs].map((r) =>
    row('chunking', `${r.strategy}, ${r.text} @ ${label(r.bytes)}`, 'MB/s', r.mbPerSecond),
  );
  const median = (r: (typeof ours)[number]) =>
    rows.find((x) => x.case === `${r.strategy}, ${r.text} @ ${label(r.bytes)}`)!.value;
  for (const strategy of new Set(ours.map((r) => r.strategy))) {
    const mine = ours.filter((r) => r.strategy === strategy && r.text === 'english');
    const ratio = median(mine[mine.length - 1]!) / median(mine[0]!);
    rows.push(
      row(
        'chunking',
        `${strategy}, english 10 MB vs 100 KB`,
        'ratio',
        [ratio],
        strategy === 'sentence' ? { text: '>= 0.8', met: (v) => v >= 0.8 } : undefined,
      ),
    );
  }
  const sentence10 = ours.find((r) => r.strategy === 'sentence' && r.text === 'english' && r.bytes === 10_000_000)!;
  rows.push(
    row('chunking', 'sentence, english @ 10 MB', 'MB/s', sentence10.mbPerSecond, {
      text: '>= 10',
      met: (v) => v >= 10,
    }),
  );
  const lc10 = theirs.find((r) => r.bytes === 10_000_000)!;
  const recursive10 = ours.find((r) => r.strategy === 'recursive' && r.text === 'english' && r.bytes === 10_000_000)!;
  rows.push(row('chunking', 'recursive vs langchain, english @ 10 MB', 'ratio', [median(recursive10) / median(lc10)]));
  // Each script against Intl.Segmenter's word pass over 500-character windows, measured alternately in this run.
  const atLeast = { text: '>= 0.8', met: (v: number) => v >= 0.8 };
  for (const s of measureScripts()) {
    const at = `${s.language} @ ${label(s.bytes)}`;
    rows.push(row('chunking', `word, ${at}`, 'MB/s', s.word));
    rows.push(row('chunking', `sentence, ${at}`, 'MB/s', s.sentence));
    rows.push(row('chunking', `Intl.Segmenter 500-char windows, ${at}`, 'MB/s', s.icuWindows));
    rows.push(row('chunking', `word vs Intl.Segmenter windows, ${at}`, 'ratio', s.wordRatio, atLeast));
    rows.push(row('chunking', `sentence vs Intl.Segmenter windows, ${at}`, 'ratio', s.sentenceRatio, atLeast));
  }
  return rows;
}

function printTable(rows: Row[], loads: Array<{ section: string; load: Load }>): void {
  const range = (r: Row) => (r.min === undefined ? '' : `${format(r.min)} .. ${format(r.max!)} (${r.runs})`);
  const cells = [
    ['section', 'case', 'figure', 'median', 'range (runs)', 'target', 'met'],
    ...rows.map((r) => [
      r.section,
      r.case,
      r.figure,
      format(r.value),
      range(r),
      r.target ?? '',
      r.met === undefined ? '' : r.met ? 'yes' : 'NO',
    ]),
  ];
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((r) => r[c]!.length)));
  for (const [i, cellRow] of cells.entries()) {
    console.log(
      cellRow
        .map((cell, c) => (c === 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
        .join('  ')
        .trimEnd(),
    );
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  console.log(
    `\nThe machine: ${os.cpus().length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}. Load while each section ran`,
  );
  console.log(
    "(busy = share of all cores busy, this benchmark's own processes included; load = 1-minute load average at the end):",
  );
  for (const { section, load } of loads)
    console.log(`  ${section.padEnd(10)} busy ${(load.busy * 100).toFixed(0)}%, load ${load.loadavg.toFixed(2)}`);
}

type Section = (upstream: Child) => Promise<Row[]>;

async function main(): Promise<void> {
  const started = performance.now();
  const only = process.argv.slice(2);
  const want = (name: string) => only.length === 0 || only.includes(name);
  const rows: Row[] = [];
  const loads: Array<{ section: string; load: Load }> = [];
  const upstreamSections: Array<[string, Section]> = [
    ['overhead', gatewayOverhead],
    ['quota', quotaEfficiency],
    ['limiter', limiterAccuracy],
    ['memory', memoryUnderOverload],
    ['scale', scaleFigures],
    ['scale-cluster', scaleClusterFigures],
    ['cache', cacheFigures],
    ['doors', doorFigures],
  ];
  console.log(`before the run: 1-minute load average ${os.loadavg()[0]!.toFixed(2)} on ${os.cpus().length} cores`);
  if (upstreamSections.some(([name]) => want(name))) {
    const upstream = await startChild('upstream');
    try {
      for (const [name, section] of upstreamSections) {
        if (!want(name)) continue;
        const done = watchLoad();
        rows.push(...(await section(upstream)));
        loads.push({ section: name, load: done() });
      }
    } finally {
      await upstream.stop();
    }
  }
  if (want('streaming')) {
    const done = watchLoad();
    rows.push(...(await streamingRows()));
    loads.push({ section: 'streaming', load: done() });
  }
  if (want('chunking')) {
    const done = watchLoad();
    rows.push(...(await chunkingRows()));
    loads.push({ section: 'chunking', load: done() });
  }
  if (want('cluster')) {
    const done = watchLoad();
    rows.push(...(await clusterFigures()));
    loads.push({ section: 'cluster', load: done() });
  }
  if (want('tiers')) {
    const done = watchLoad();
    rows.push(...(await cacheTierFigures()));
    loads.push({ section: 'tiers', load: done() });
  }
  printTable(rows, loads);
  const out = new URL('../../bench/results.json', import.meta.url);
  const seconds = (performance.now() - started) / 1000;
  fs.writeFileSync(
    out,
    JSON.stringify(
      { date: new Date().toISOString(), node: process.version, cores: os.cpus().length, seconds, loads, rows },
      null,
      2,
    ) + '\n',
  );
  console.log(
    `\n${rows.filter((r) => r.met === false).length} target(s) missed; ${seconds.toFixed(0)} s; written to ${out.pathname}`,
  );
}

await main();
