// Runs the real service as a child process (node dist/src/server.js) for kill -9 and shutdown tests; every child is
// killed when its test ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onExit } from 'signal-exit';
import type { Tap } from './app-harness.js';

export const SERVER_ENTRY = fileURLToPath(new URL('../../src/server.js', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  stdout: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Children still running; killed when this test process ends, however it ends. */
const running = new Set<ChildProcess>();

// A test file that throws, times out (tap ends it with SIGALRM) or is interrupted must not
// leave a server behind: signal-exit runs this on exit and on every fatal signal, then lets the
// signal do its work.
onExit(() => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * The environment of a child: PATH, and NODE_OPTIONS so that a hook the test run was started
 * with (npm run test:offline) watches the child too. Nothing else leaks in from the test's environment.
 */
const baseEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? '',
  ...(process.env.NODE_OPTIONS ? { NODE_OPTIONS: process.env.NODE_OPTIONS } : {}),
});

/** Who ends a child process: a test (its teardown), or a benchmark that stops its children itself. */
export type Owner = Pick<Tap, 'teardown'>;

/**
 * Spawns a node script and registers its end with the test at once, so the child is killed
 * in teardown even when an assertion fails or the test throws before it stops the child itself.
 */
export function spawnTracked(
  t: Owner,
  args: string[],
  env: Record<string, string>,
  stdio: Array<'ignore' | 'pipe'>,
): ChildProcess {
  const child = spawn(process.execPath, args, {
    env: { ...baseEnv(), ...env },
    stdio: stdio as ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const gone = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      resolve();
    }),
  );
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await gone;
    }
  });
  return child;
}

/**
 * How long a start may take before a test gives up on it. A start spends about half a second of CPU loading modules on a
 * quiet machine and several times that on a loaded one; CI shares two cores between two test files, their servers,
 * upstreams and a browser, where starts of more than 20 s were seen.
 */
export const START_TIMEOUT_MS = 60_000;

/** Starts the service on a free port and resolves once it logs where it listens. */
export function startServer(t: Owner, env: Record<string, string>): Promise<ServerProcess> {
  const child = spawnTracked(
    t,
    [SERVER_ENTRY],
    // No embedding cache unless a test asks for one: tests count the texts the upstream receives.
    { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', SKIP_VALIDATION: 'true', EMBEDDING_CACHE_SIZE: '0', ...env },
    ['ignore', 'pipe', 'pipe'],
  );
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  child.stderr!.on('data', (d: Buffer) => stderr.push(...d.toString().split('\n').filter(Boolean)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // not left running after the test gave up on it
      reject(
        new Error(
          `server did not start in ${START_TIMEOUT_MS / 1000} s: ${[...stderr, ...stdout.slice(-10), pending].join('\n')}`,
        ),
      );
    }, START_TIMEOUT_MS);
    let pending = '';
    child.stdout!.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        stdout.push(line);
        const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve({ child, url: m[1]!, stdout, stderr, exited });
        }
      }
    });
    // 'close', not 'exit': the child's last output may still be in its pipes when it exits, and that output (stderr's
    // "failed to start: …", or the log lines on stdout) says why it stopped.
    child.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening: ${[...stderr, ...stdout.slice(-10), pending].join('\n')}`));
    });
  });
}

/** Runs the service expecting it to exit by itself (a start-up failure). */
export function runServerToExit(
  t: Owner,
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawnTracked(t, [SERVER_ENTRY], { PORT: '0', ...env }, ['ignore', 'ignore', 'pipe']);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}
