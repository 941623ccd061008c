// The test upstream in a process of its own, for timing figures: arrival times are not delayed by the test's own work
// (load generation, tap).
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { FakeHuggingFace } from './fake-hf.js';

/**
 * One request as the upstream saw it; `at` in epoch milliseconds (performance.timeOrigin + now), comparable across
 * processes.
 */
export interface Arrival {
  at: number;
  authorization: string | undefined;
  inputCount: number;
}

type Command = { cmd: 'reset' } | { cmd: 'received' } | { cmd: 'requiredKey'; key: string | undefined };

export class UpstreamProcess {
  private seq = 0;
  private readonly pending = new Map<number, (value: unknown) => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly dims: number,
  ) {
    child.on('message', (raw) => {
      const msg = raw as { id: number; value: unknown };
      this.pending.get(msg.id)?.(msg.value);
      this.pending.delete(msg.id);
    });
  }

  static start(): Promise<UpstreamProcess> {
    const child = fork(fileURLToPath(import.meta.url), ['child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    // The upstream plays a server on another machine: when permitted, it runs ahead of the
    // services under test, so a starved CPU delays what is measured, not the measuring.
    try {
      os.setPriority(child.pid!, -10);
    } catch {
      // not permitted (not root): arrival times then carry this machine's scheduling jitter too
    }
    return new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the upstream process exited with ${code}`)));
      child.once('message', (msg) => {
        const { url, dims } = msg as { url: string; dims: number };
        child.removeAllListeners('exit');
        resolve(new UpstreamProcess(child, url, dims));
      });
    });
  }

  private ask<T>(command: Command): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolve) => {
      this.pending.set(id, resolve as (value: unknown) => void);
      this.child.send({ id, ...command });
    });
  }

  reset(): Promise<void> {
    return this.ask({ cmd: 'reset' });
  }

  received(): Promise<Arrival[]> {
    return this.ask({ cmd: 'received' });
  }

  /** Requests must carry `Authorization: Bearer <key>` (undefined: any). */
  requireKey(key: string | undefined): Promise<void> {
    return this.ask({ cmd: 'requiredKey', key });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** Epoch milliseconds with sub-millisecond precision, comparable with an Arrival's `at`. */
export const epochNow = () => performance.timeOrigin + performance.now();

if (process.argv[2] === 'child' && process.send) {
  // The test process gone (killed by tap's timeout, say, before its teardown could stop this one): its channel closes,
  // and this process goes too. Left running, it would hold tap's output pipes, which it inherits, and tap would wait
  // for them forever.
  process.on('disconnect', () => process.exit(0));
  const hf = await new FakeHuggingFace().start();
  process.on('message', (raw) => {
    const msg = raw as { id: number } & Command;
    let value: unknown = true;
    if (msg.cmd === 'reset') hf.received.length = 0;
    else if (msg.cmd === 'received') {
      value = hf.received.map((r) => ({
        at: performance.timeOrigin + r.at,
        authorization: r.headers.authorization,
        inputCount: r.inputCount,
      }));
    } else if (msg.cmd === 'requiredKey') hf.requiredKey = msg.key;
    process.send!({ id: msg.id, value });
  });
  process.send({ url: hf.url, dims: hf.dims });
}
