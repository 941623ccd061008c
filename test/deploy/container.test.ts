// The container without a Docker engine: the Dockerfile's build replayed from exactly the files it copies, its runtime
// stage checked and started, its health check run; compose's start-up order.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml } from 'yaml';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Instruction {
  keyword: string;
  args: string;
}

/** The Dockerfile as stages of instructions (continuation lines joined, comments dropped). */
function readDockerfile(file: string): Array<{ name: string | undefined; from: string; instructions: Instruction[] }> {
  const logical = fs
    .readFileSync(file, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages: Array<{ name: string | undefined; from: string; instructions: Instruction[] }> = [];
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (keyword.toUpperCase() === 'FROM') {
      const [, image = '', name] = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(args) ?? [];
      stages.push({ name, from: image, instructions: [] });
    } else {
      stages.at(-1)!.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

/** `COPY [--from=x] a b dest` → sources, destination and stage. */
function copyOf(args: string): { from: string | undefined; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const from = words[0]?.startsWith('--from=') ? words.shift()!.slice('--from='.length) : undefined;
  const dest = words.pop()!;
  return { from, sources: words, dest };
}

function copyInto(source: string, destination: string): void {
  fs.mkdirSync(path.dirname(destination), { recursive: true });
  fs.cpSync(source, destination, { recursive: true, verbatimSymlinks: true });
}

/** Replays COPY: into `dir`, from the repository or from another replayed stage. */
function replayCopies(stage: Instruction[], dir: string, stageDirs: Record<string, string>): void {
  for (const { keyword, args } of stage) {
    if (keyword !== 'COPY') continue;
    const { from, sources, dest } = copyOf(args);
    const base = from ? stageDirs[from]! : ROOT;
    for (const source of sources) {
      const relative = from ? path.relative('/app', source) : source;
      const target =
        dest.endsWith('/') || sources.length > 1 ? path.join(dir, dest, path.basename(relative)) : path.join(dir, dest);
      // The image runs `npm ci`; here the repository's installed packages stand in for it.
      if (relative === 'node_modules') fs.symlinkSync(path.join(ROOT, 'node_modules'), target);
      else copyInto(path.join(base, relative), target);
    }
  }
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

const stages = readDockerfile(path.join(ROOT, 'Dockerfile'));
const [buildStage, runtimeStage] = [stages[0]!, stages.at(-1)!];

t.test('the image builds from a clean checkout: the build stage compiles exactly the files it copies', async (t) => {
  const work = t.testdir();
  const buildDir = path.join(work, 'build');
  fs.mkdirSync(buildDir);
  replayCopies(buildStage.instructions, buildDir, {});
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(buildDir, 'node_modules'));
  const compile = buildStage.instructions
    .filter((i) => i.keyword === 'RUN')
    .flatMap((i) => i.args.split('&&').map((c) => c.trim()))
    .find((c) => /^npx tsc\b/.test(c));
  t.ok(compile, 'the build stage runs tsc');
  const [, ...args] = compile!.split(/\s+/);
  const result = spawnSync(
    process.execPath,
    [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), ...args.slice(1)],
    { cwd: buildDir, encoding: 'utf8' },
  );
  t.equal(result.status, 0, `tsc in the image's build stage:\n${result.stdout}${result.stderr}`);
  t.ok(fs.existsSync(path.join(buildDir, 'dist', 'src', 'server.js')), 'the server is compiled');
  t.ok(fs.existsSync(path.join(buildDir, 'dist', 'src', 'cli', 'keys.js')), 'and the keys command');

  // The runtime stage, as the image would hold it.
  const runDir = path.join(work, 'run');
  fs.mkdirSync(runDir);
  replayCopies(runtimeStage.instructions, runDir, { [buildStage.name!]: buildDir });
  t.notOk(fs.existsSync(path.join(runDir, 'dist', 'test')), 'no tests in the runtime image');
  t.notOk(fs.existsSync(path.join(runDir, 'dist', 'bench')), 'no benchmarks in the runtime image');
  t.ok(fs.existsSync(path.join(runDir, 'public', 'index.html')), 'the management page is in the image');

  // `npm prune --omit=dev` leaves only dependencies: the compiled code may import nothing else.
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const imported = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.js')) {
        for (const m of fs.readFileSync(full, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^'.][^']*)'/g)) {
          const spec = m[1]!;
          if (spec.startsWith('node:')) continue;
          imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
        }
      }
    }
  };
  walk(path.join(runDir, 'dist'));
  t.ok(imported.size > 5, `found the runtime imports: ${[...imported].join(', ')}`);
  t.strictSame(
    [...imported].filter((name) => !(name in pkg.dependencies)),
    [],
    'every runtime import is a production dependency',
  );

  // Start it with the image's environment (loopback and a free port instead of 0.0.0.0:9200), secured by a key.
  const env: Record<string, string> = {};
  for (const { keyword, args } of runtimeStage.instructions) {
    if (keyword === 'ENV') for (const m of args.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!;
  }
  t.equal(env.PORT, '9200');
  const port = await freePort();
  const runEnv = {
    PATH: process.env.PATH ?? '',
    ...env,
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: path.join(work, 'data'),
  };
  execFileSync(
    process.execPath,
    ['dist/src/cli/keys.js', 'create', '--name', 'admin', '--privilege', 'manage_inference'],
    { cwd: runDir, env: runEnv },
  );
  const cmd = runtimeStage.instructions.find((i) => i.keyword === 'CMD')!;
  const [exe, ...serverArgs] = JSON.parse(cmd.args) as string[];
  t.equal(exe, 'node');
  const server = spawn(process.execPath, serverArgs, { cwd: runDir, env: runEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => server.once('exit', resolve));
  t.teardown(async () => {
    server.kill('SIGTERM');
    await exited;
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Server listening at')) resolve();
    });
    server.once('exit', (code) => reject(new Error(`the image's server exited with ${code}`)));
  });
  t.equal((await fetch(`http://127.0.0.1:${port}/_inference`)).status, 401, 'secured: the API asks for a key');

  // The HEALTHCHECK, run as Docker runs it (exec form, the container's environment), on the overridden port.
  const check = runtimeStage.instructions.find((i) => i.keyword === 'HEALTHCHECK')!;
  const [checkExe, ...checkArgs] = JSON.parse(/CMD\s+(\[.*\])\s*$/.exec(check.args)![1]!) as string[];
  t.equal(checkExe, 'node');
  const healthy = spawnSync(process.execPath, checkArgs, { env: runEnv, encoding: 'utf8' });
  t.equal(healthy.status, 0, 'the health check passes without credentials on a secured service');
  const answer = await fetch(`http://127.0.0.1:${port}/_health`);
  t.equal(await answer.text(), '{"status":"ok"}', 'and reveals nothing');
  t.equal((await fetch(`http://127.0.0.1:${port}/_ui/`)).status, 200, 'the page is served from the image');
  const elsewhere = spawnSync(process.execPath, checkArgs, {
    env: { ...runEnv, PORT: String(await freePort()) },
    encoding: 'utf8',
  });
  t.equal(elsewhere.status, 1, 'the check fails when nothing answers on $PORT');
});

t.test('compose starts the service only once TEI is healthy, and the image checks /_health on $PORT', async (t) => {
  const compose = parseYaml(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<
      string,
      { healthcheck?: { test: string[] }; depends_on?: Record<string, { condition: string }>; build?: string }
    >;
  };
  const tei = compose.services.tei!;
  t.match(tei.healthcheck?.test.join(' '), /\/health\b/, 'TEI has a health check on its /health');
  t.strictSame(compose.services.inference!.depends_on, { tei: { condition: 'service_healthy' } });
  t.equal(compose.services.inference!.build, '.');
  const check = runtimeStage.instructions.find((i) => i.keyword === 'HEALTHCHECK')!;
  t.match(check.args, /process\.env\.PORT/, 'the port is read when the check runs');
  t.match(check.args, /\/_health/);
  const engines = (
    JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
  ).engines.node;
  t.match(
    runtimeStage.from,
    new RegExp(`^node:${/\d+/.exec(engines)![0]}\\b`),
    'the image runs the Node major the package asks for',
  );
});
