/**
 * Where the CPU went during a phase, from /proc (Linux): each service process's user+system time,
 * all Postgres processes' together (backends, WAL writer, checkpointer, and backends that exited),
 * Redis's, this process's own (load generator, in-process peers, Kafka broker), pgbench's, and how
 * busy the whole machine was. On 2 cores, latency under
 * load is mostly waiting for a core, so CPU milliseconds per order say which part to make cheaper.
 * Elsewhere than Linux the figures are simply absent.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface CpuSnapshot {
  at: number;
  /** Per named part: CPU ms used so far. */
  parts: Record<string, number>;
  /** With a database named: CPU ms so far of each Postgres process doing its work, by pid. */
  postgresByPid?: Record<string, number>;
  /** Machine-wide jiffies: busy, stolen by the hypervisor, and total. */
  machine?: { busy: number; steal: number; total: number };
}

export interface CpuUsage {
  seconds: number;
  /** CPU ms per part over the phase. */
  parts: Record<string, number>;
  /** Share of all cores busy over the phase, 0–1 (anything on the machine, not only ours). */
  machineBusy?: number;
  /** Share of time the hypervisor ran someone else on our cores, 0–1 (a noisy neighbour). */
  machineSteal?: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on Linux builds that matter here.

/**
 * utime + stime of a process; with `reaped`, plus cutime + cstime: the time of its children that
 * have exited and been waited for (Postgres backends that disconnected, through the postmaster).
 */
function processCpuMs(pid: number | 'self', reaped = false): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after its closing paren are fixed.
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // Fields 14–17 of proc(5): utime, stime, cutime, cstime.
    const [utime, stime, cutime, cstime] = fields.slice(11, 15) as [number, number, number, number];
    const ticks = utime + stime + (reaped ? cutime + cstime : 0);
    return (ticks * 1000) / TICKS_PER_SECOND;
  } catch {
    // The process is gone or /proc is not there.
    return undefined;
  }
}

/** All processes with this command name, exited children included (see processCpuMs). */
function commandCpuMs(command: string): number | undefined {
  let total = 0;
  let found = false;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (comm !== command) continue;
      const ms = processCpuMs(Number(entry), true);
      if (ms !== undefined) {
        total += ms;
        found = true;
      }
    } catch {
      // Raced with a process exiting.
    }
  }
  return found ? total : undefined;
}

/** The cluster's own processes that live as long as it does and write for every database. */
const POSTGRES_SHARED = /^(checkpointer|background writer|walwriter)\b/;

/**
 * Postgres's processes doing `database`'s work, from their titles ("postgres: [cluster: ]user
 * database host(port) activity", "autovacuum worker database"): its backends and autovacuum
 * workers, and the checkpointer, background writer and WAL writer. Other databases' backends (a
 * test suite on the same server) are left out.
 */
export function postgresTitleIsFor(title: string, database: string): boolean {
  const rest = title.replace(/^postgres: (?:[^:\s]+: )?/, '');
  if (POSTGRES_SHARED.test(rest)) return true;
  const worker = /^autovacuum worker (\S+)/.exec(rest);
  if (worker) return worker[1] === database;
  const backend = /^\S+ (\S+) /.exec(rest);
  return backend?.[1] === database;
}

function postgresCpuByPid(database: string): Record<string, number> | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const out: Record<string, number> = {};
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0+/g, ' ').trim();
      if (!postgresTitleIsFor(title, database)) continue;
      const ms = processCpuMs(Number(entry));
      if (ms !== undefined) out[entry] = ms;
    } catch {
      // Raced with a process exiting.
    }
  }
  return out;
}

function machineJiffies(): CpuSnapshot['machine'] {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    // counted in user, so the sum stops at steal.
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = v.reduce((s, x) => s + x, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
    const steal = v[7] ?? 0;
    return { busy: total - idle - steal, steal, total };
  } catch {
    return undefined;
  }
}

/**
 * `pids`: processes to count by name; a `redis` or `postgres` entry replaces the sum over every
 * process of that command. `postgresDatabase`: count only the Postgres processes doing that
 * database's work (see postgresTitleIsFor), per process, so that another client of a shared
 * server does not land in the figure; a backend that exits within the phase then takes the CPU it
 * used since the first snapshot with it (the service's pools keep theirs; pgbench's would be lost,
 * so intake counts every Postgres process).
 */
export function cpuSnapshot(
  pids: Record<string, number | undefined>,
  postgresDatabase?: string,
): CpuSnapshot {
  const parts: Record<string, number> = {};
  const postgresByPid = postgresDatabase ? postgresCpuByPid(postgresDatabase) : undefined;
  for (const [name, pid] of Object.entries(pids)) {
    const ms = pid === undefined ? undefined : processCpuMs(pid);
    if (ms !== undefined) parts[name] = ms;
  }
  for (const [name, command] of [
    ['postgres', 'postgres'],
    ['redis', 'redis-server'],
  ] as const) {
    // The caller named the server's process itself (the bench's Redis, by the pid it reports):
    // summing every redis-server would count other instances, and lose CPU when one exits.
    if (pids[name] !== undefined) continue;
    if (name === 'postgres' && postgresByPid) {
      // The sum of its processes is taken in cpuSince, per process.
      parts.postgres = 0;
      continue;
    }
    const ms = commandCpuMs(command);
    if (ms !== undefined) parts[name] = ms;
  }
  const own = process.cpuUsage();
  parts.bench = (own.user + own.system) / 1000;
  // Children of the bench that exited in the phase: pgbench in the intake phase (the service
  // processes outlive a phase).
  const reaped = processCpuMs('self', true);
  const self = processCpuMs('self');
  if (reaped !== undefined && self !== undefined) parts['exited children'] = reaped - self;
  return { at: performance.now(), parts, postgresByPid, machine: machineJiffies() };
}

export function cpuSince(before: CpuSnapshot, after: CpuSnapshot): CpuUsage {
  const parts: Record<string, number> = {};
  for (const [name, ms] of Object.entries(after.parts)) {
    const start = before.parts[name];
    if (start !== undefined) parts[name] = ms - start;
  }
  if (before.postgresByPid && after.postgresByPid) {
    // Per process: one that started within the phase counts from zero.
    parts.postgres = Object.entries(after.postgresByPid).reduce(
      (sum, [pid, ms]) => sum + ms - (before.postgresByPid![pid] ?? 0),
      0,
    );
  }
  const b = before.machine;
  const a = after.machine;
  const span = a && b ? a.total - b.total : 0;
  return {
    seconds: (after.at - before.at) / 1000,
    parts,
    machineBusy: a && b && span > 0 ? (a.busy - b.busy) / span : undefined,
    machineSteal: a && b && span > 0 ? (a.steal - b.steal) / span : undefined,
  };
}
