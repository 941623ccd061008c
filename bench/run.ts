// `npm run bench`: every figure measured in this one run, printed as one table and written to bench/results.json.
import fs from 'node:fs';
import { measureChunking, measureLangchain } from './chunking.js';
import { startChild } from './children.js';
import { gatewayOverhead, limiterAccuracy, memoryUnderOverload, quotaEfficiency, type Row } from './load.js';

const label = (bytes: number) => (bytes >= 1e6 ? `${bytes / 1e6} MB` : `${bytes / 1e3} KB`);
const format = (v: number) => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));

async function chunkingRows(): Promise<Row[]> {
  const ours = measureChunking();
  const theirs = await measureLangchain();
  const rows: Row[] = [...ours, ...theirs].map((r) => ({ section: 'chunking', case: `${r.strategy} @ ${label(r.bytes)}`, figure: 'MB/s', value: r.mbPerSecond }));
  for (const strategy of new Set(ours.map((r) => r.strategy))) {
    const mine = ours.filter((r) => r.strategy === strategy);
    const ratio = mine[mine.length - 1]!.mbPerSecond / mine[0]!.mbPerSecond;
    const target = strategy === 'sentence' ? { target: '>= 0.8', met: ratio >= 0.8 } : {};
    rows.push({ section: 'chunking', case: `${strategy} 10 MB vs 100 KB`, figure: 'ratio', value: ratio, ...target });
  }
  const sentence10 = ours.find((r) => r.strategy === 'sentence' && r.bytes === 10_000_000)!;
  rows.push({ section: 'chunking', case: 'sentence @ 10 MB', figure: 'MB/s', value: sentence10.mbPerSecond, target: '>= 10', met: sentence10.mbPerSecond >= 10 });
  const lc10 = theirs.find((r) => r.bytes === 10_000_000)!;
  rows.push({ section: 'chunking', case: 'recursive vs langchain @ 10 MB', figure: 'ratio', value: ours.find((r) => r.strategy === 'recursive' && r.bytes === 10_000_000)!.mbPerSecond / lc10.mbPerSecond });
  return rows;
}

function printTable(rows: Row[]): void {
  const cells = [['section', 'case', 'figure', 'value', 'target', 'met'], ...rows.map((r) => [r.section, r.case, r.figure, format(r.value), r.target ?? '', r.met === undefined ? '' : r.met ? 'yes' : 'NO'])];
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((r) => r[c]!.length)));
  for (const [i, row] of cells.entries()) {
    console.log(row.map((cell, c) => (c === 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd());
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const only = process.argv.slice(2);
  const want = (name: string) => only.length === 0 || only.includes(name);
  const rows: Row[] = [];
  const upstream = await startChild('upstream');
  try {
    if (want('overhead')) rows.push(...(await gatewayOverhead(upstream)));
    if (want('quota')) rows.push(...(await quotaEfficiency(upstream)));
    if (want('limiter')) rows.push(...(await limiterAccuracy(upstream)));
    if (want('memory')) rows.push(...(await memoryUnderOverload(upstream)));
  } finally {
    await upstream.stop();
  }
  if (want('chunking')) rows.push(...(await chunkingRows()));
  printTable(rows);
  const out = new URL('../../bench/results.json', import.meta.url);
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, seconds: (performance.now() - started) / 1000, rows }, null, 2) + '\n');
  console.log(`\n${rows.filter((r) => r.met === false).length} target(s) missed; ${((performance.now() - started) / 1000).toFixed(0)} s; written to ${out.pathname}`);
}

await main();
