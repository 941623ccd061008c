// `npm run bench`: every figure measured in this one run, printed as one table and written to bench/results.json.
import fs from 'node:fs';
import { measureChunking } from './chunking.js';

const label = (bytes: number) => (bytes >= 1e6 ? `${bytes / 1e6} MB` : `${bytes / 1e3} KB`);

function main(): void {
  const chunking = measureChunking();
  const rows: string[][] = [['section', 'case', 'figure', 'value']];
  for (const r of chunking) rows.push(['chunking', `${r.strategy} @ ${label(r.bytes)}`, 'MB/s', r.mbPerSecond.toFixed(1)]);
  for (const strategy of new Set(chunking.map((r) => r.strategy))) {
    const mine = chunking.filter((r) => r.strategy === strategy);
    const ratio = mine[mine.length - 1]!.mbPerSecond / mine[0]!.mbPerSecond;
    rows.push(['chunking', `${strategy} 10 MB vs 100 KB`, 'ratio', ratio.toFixed(2)]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const [i, row] of rows.entries()) {
    console.log(row.map((cell, c) => (c === row.length - 1 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  const out = new URL('../../bench/results.json', import.meta.url);
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, chunking }, null, 2) + '\n');
  console.log(`\nwritten to ${out.pathname}`);
}

main();
