// What every benchmark figure is made of: several runs reduced to their median and range, and the machine's load while
// they ran.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

export interface Row {
  section: string;
  case: string;
  figure: string;
  /** The median of the runs (or the one value of a figure measured once). */
  value: number;
  /** The range of the runs, when there were several. */
  min?: number;
  max?: number;
  runs?: number;
  /** e.g. ">= 0.8"; empty when the figure has no target. */
  target?: string;
  met?: boolean;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A row for a figure measured in several runs: the median, the range, and the target checked against the median. */
export function row(
  section: string,
  kase: string,
  figure: string,
  values: readonly number[],
  target?: { text: string; met: (median: number) => boolean },
): Row {
  const value = median(values);
  const out: Row = { section, case: kase, figure, value };
  if (values.length > 1) {
    out.min = Math.min(...values);
    out.max = Math.max(...values);
    out.runs = values.length;
  }
  if (target) {
    out.target = target.text;
    out.met = target.met(value);
  }
  return out;
}

/** The 1-minute load average and how much of the machine's CPU time was busy since `since` (from /proc/stat). */
export interface Load {
  loadavg: number;
  busy: number;
}

function cpuTimes(): { busy: number; total: number } {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = user! + nice! + system! + irq! + softirq! + steal!;
    return { busy, total: busy + idle! + iowait! };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** Starts measuring the machine's load; call the returned function at the end of the section. */
export function watchLoad(): () => Load {
  const start = cpuTimes();
  return () => {
    const end = cpuTimes();
    const total = end.total - start.total;
    return { loadavg: os.loadavg()[0]!, busy: total > 0 ? (end.busy - start.busy) / total : 0 };
  };
}

/** The kernel's high-water mark of a process's resident memory (VmHWM), in bytes. */
export function peakRss(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmHWM:\s+(\d+) kB/.exec(status);
  return kb ? Number(kb[1]) * 1024 : NaN;
}

/** Resident memory of a process now (VmRSS), in bytes. */
export function currentRss(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  return kb ? Number(kb[1]) * 1024 : NaN;
}

let ticksPerSecond: number | undefined;

/** CPU time a process has used so far (user + system, from /proc/<pid>/stat), in seconds: the machine's other load does not move it. */
export function cpuSeconds(pid: number): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // After the command name (in parentheses, which may hold spaces): state is field 3, utime 14 and stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** Write system calls (write, writev, send) a process has made so far, from /proc/<pid>/io. */
export function writeCalls(pid: number): number {
  const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  return Number(/^syscw: (\d+)$/m.exec(io)?.[1] ?? NaN);
}
