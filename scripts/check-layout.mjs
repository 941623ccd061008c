// Layout rules eslint cannot express: no two source files share a name (a route and its schema
// file aside), no line cites a document that is not in the repository, and the docs' links hold.
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

// Every relative link in the README and docs/ reaches a file, and a `#fragment` into a Markdown page one of its headings
// (named as GitHub names them: lower case, punctuation but `-` and `_` dropped, spaces as `-`, repeats numbered).
const pages = ['README.md', ...walk('docs').filter((f) => f.endsWith('.md'))];
const slugsOf = new Map();
const slugs = (page) => {
  if (!slugsOf.has(page)) {
    const seen = new Map();
    const out = new Set();
    let fenced = false;
    for (const line of fs.readFileSync(page, 'utf8').split('\n')) {
      if (line.startsWith('```')) fenced = !fenced;
      const heading = !fenced && /^#{1,6} (.*)$/.exec(line);
      if (!heading) continue;
      const base = heading[1]
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-');
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      out.add(n === 0 ? base : `${base}-${n}`);
    }
    slugsOf.set(page, out);
  }
  return slugsOf.get(page);
};
for (const page of pages) {
  const text = fs.readFileSync(page, 'utf8').replace(/```[\s\S]*?```/g, '');
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/i.test(target)) continue;
    const [file, fragment] = target.split('#');
    const resolved = file === '' ? page : path.join(path.dirname(page), file);
    if (!fs.existsSync(resolved)) problems.push(`${page}: the link (${target}) reaches no file`);
    else if (fragment !== undefined && resolved.endsWith('.md') && !slugs(resolved).has(fragment))
      problems.push(`${page}: the link (${target}) names no heading of ${resolved}`);
  }
}

for (const p of problems) console.error(p);
if (problems.length > 0) process.exit(1);
console.log(
  `layout: ${files.length} files, names unique, no reference outside the repository; ${pages.length} pages, every link reaches its target`,
);
