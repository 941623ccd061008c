// Compiles the TypeScript only when a source is newer than its compiled file (`npm run keys` runs without recompiling a
// current build).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function sourcesUnder(dir) {
  let names;
  try {
    names = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return names.flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourcesUnder(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/**
 * The sources of `root`'s TypeScript build (every .ts file under the folders tsconfig.json
 * includes) whose compiled .js is missing or older than they are. Compared file by file, so a
 * `tsc --noEmit` (which updates tsc's own build-info file) cannot make an old build look current.
 */
export function staleSources(root) {
  const config = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.json'), 'utf8'));
  const outDir = path.join(root, config.compilerOptions?.outDir ?? '.');
  const rootDir = path.join(root, config.compilerOptions?.rootDir ?? '.');
  const stale = [];
  for (const source of (config.include ?? []).flatMap((dir) => sourcesUnder(path.join(root, dir)))) {
    const output = path.join(outDir, path.relative(rootDir, source)).replace(/\.ts$/, '.js');
    let outputTime;
    try {
      outputTime = fs.statSync(output).mtimeMs;
    } catch {
      stale.push({ source, output });
      continue;
    }
    if (fs.statSync(source).mtimeMs > outputTime) stale.push({ source, output });
  }
  return stale;
}

function build(root, stale) {
  process.stderr.write(`compiling: ${stale.length} source file(s) changed since the last build\n`);
  const tsc = spawnSync(
    process.execPath,
    [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
    { cwd: root, stdio: 'inherit' },
  );
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
  // tsc does not rewrite a file whose source was touched but not changed: mark it current, or every call would compile
  // again.
  const now = new Date();
  for (const { output } of stale) if (fs.existsSync(output)) fs.utimesSync(output, now, now);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const stale = staleSources(root);
  if (stale.length > 0) build(root, stale);
}
