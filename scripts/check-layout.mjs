// Layout rules eslint cannot express: no two source files share a name (a route and its schema
// file aside), and no line cites a document that is not in the repository.
import fs from 'node:fs';
import path from 'node:path';

const ROOTS = ['src', 'routes', 'schemas', 'plugins', 'test', 'bench', 'scripts', 'public', '.ci'];
const walk = (dir) =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    : [];
const files = ROOTS.flatMap(walk).filter((f) => /\.(ts|mjs|js|css|html)$/.test(f) || f.startsWith('.ci/'));
const problems = [];

const byName = new Map();
for (const file of files) byName.set(path.basename(file), [...(byName.get(path.basename(file)) ?? []), file]);
for (const [name, places] of byName) {
  const routePair = places.length === 2 && places.includes(`routes/${name}`) && places.includes(`schemas/${name}`);
  if (places.length > 1 && !routePair) problems.push(`${name} names ${places.length} files: ${places.join(', ')}`);
}

// The behaviour contract the team works from lives outside the repository; code cites docs/ instead.
const OUTSIDE = /\bSPEC\b|SPEC\.md|shared\/(SPEC|ARCHITECTURE)|\.\.\/shared\//;
for (const file of files.filter((f) => f !== 'scripts/check-layout.mjs')) {
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (OUTSIDE.test(line))
        problems.push(`${file}:${i + 1} cites a document outside the repository: ${line.trim().slice(0, 100)}`);
    });
}

for (const p of problems) console.error(p);
if (problems.length > 0) process.exit(1);
console.log(`layout: ${files.length} files, names unique, no reference outside the repository`);
