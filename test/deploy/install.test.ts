// Installing from a clean checkout: npm 12 (for Node 22 and later) runs a dependency's install script only when
// package.json's `allowScripts` approves it, and skips the rest with a warning. better-sqlite3 builds its binding in its
// install script: skipped, the service cannot open its store.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

t.test('every dependency with an install script is approved in allowScripts, so npm 12 runs it', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    allowScripts?: Record<string, boolean>;
  };
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string; hasInstallScript?: boolean }>;
  };
  const withScripts = Object.entries(lock.packages)
    .filter(([where, entry]) => where !== '' && entry.hasInstallScript === true)
    .map(([where, entry]) => ({
      name: where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length),
      entry,
    }));
  t.ok(
    withScripts.some((d) => d.name === 'better-sqlite3'),
    'better-sqlite3 is among them',
  );
  const allowed = pkg.allowScripts ?? {};
  t.strictSame(
    withScripts
      .filter((d) => allowed[d.name] !== true && allowed[`${d.name}@${d.entry.version}`] !== true)
      .map((d) => d.name),
    [],
    'none left out',
  );
});
