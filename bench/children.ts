// Starting the benchmark's processes (upstream, gateway, passthrough) and talking to them over IPC.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Child {
  process: ChildProcess;
  url: string;
  ask<T>(cmd: string, arg?: unknown): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Forks dist/bench/<name>.js and resolves once it reports the URL it listens on. With
 * BENCH_CPU_PROF=<dir>, each child writes a V8 CPU profile under <dir>/<name>/ when it stops.
 */
export function startChild(name: string, env: Record<string, string> = {}, execArgv: string[] = []): Promise<Child> {
  const profileDir = process.env.BENCH_CPU_PROF;
  const child = fork(fileURLToPath(new URL(`./${name}.js`, import.meta.url)), [], {
    env: { ...process.env, ...env },
    execArgv: profileDir ? [...execArgv, '--cpu-prof', `--cpu-prof-dir=${profileDir}/${name}`] : execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let seq = 0;
  const pending = new Map<number, (value: unknown) => void>();
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before it was ready`)));
    child.on('message', (raw) => {
      const msg = raw as { ready?: string; id?: number; value?: unknown };
      if (msg.ready) {
        resolve({
          process: child,
          url: msg.ready,
          ask<T>(cmd: string, arg?: unknown) {
            const id = ++seq;
            return new Promise<T>((done) => {
              pending.set(id, done as (value: unknown) => void);
              child.send({ id, cmd, arg });
            });
          },
          stop: () =>
            new Promise<void>((done) => {
              child.removeAllListeners('exit');
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        });
      } else if (msg.id !== undefined) {
        pending.get(msg.id)?.(msg.value);
        pending.delete(msg.id);
      }
    });
  });
}

/** In a child: answers the parent's questions with `handlers`. */
export function serveParent(handlers: Record<string, (arg: unknown) => unknown>): void {
  process.on('message', (raw) => void answer(raw));
  async function answer(raw: unknown): Promise<void> {
    const msg = raw as { id: number; cmd: string; arg?: unknown };
    const value = await handlers[msg.cmd]?.(msg.arg);
    process.send?.({ id: msg.id, value });
  }
  process.on('SIGTERM', () => process.exit(0));
}
