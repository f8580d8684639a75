// The local stack's processes (scripts/lib/stack.sh pid files), and what they use, from /proc.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const TICKS_PER_SECOND = 100;

/** name -> pid of every process of the stack in `runDir`; the API and worker kinds by prefix. */
export function stackProcesses(runDir) {
  const dir = join(runDir, 'pids');
  return Object.fromEntries(
    readdirSync(dir).map((f) => [
      f.replace(/\.pid$/, ''),
      Number(readFileSync(join(dir, f), 'utf8')),
    ]),
  );
}

const parentOf = (pid) => {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  } catch {
    return 0;
  }
};

/** A process and its descendants (nginx's workers, the peer's worker processes). */
function family(pid) {
  const pids = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
  const children = new Map();
  for (const p of pids) {
    const parent = parentOf(p);
    children.set(parent, [...(children.get(parent) ?? []), p]);
  }
  const all = [];
  for (let todo = [pid]; todo.length > 0; ) {
    const p = todo.pop();
    all.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return all;
}

const cpuMsOf = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime, stime, cutime and cstime, fields 14 to 17 of stat: the last two are children that
    // ended and were reaped, such as Redis's forked rewrites of its append-only file.
    return (
      stat.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) * (1000 / TICKS_PER_SECOND)
    );
  } catch {
    return 0;
  }
};

/** CPU time used so far (ms, every thread of it and its children), resident and peak resident memory (MB). */
export function usage(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
    return {
      cpuMs: family(pid).reduce((sum, p) => sum + cpuMsOf(p), 0),
      rssMb: kb('VmRSS') / 1024,
      peakRssMb: kb('VmHWM') / 1024,
    };
  } catch {
    return undefined;
  }
}

/** Starts each process's peak resident memory (VmHWM) over from its current size (proc(5), clear_refs). */
export function resetPeaks(processes) {
  for (const pid of Object.values(processes)) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      // Gone, or not ours: its peak stays the whole run's.
    }
  }
}

/** Each process's peak resident memory so far, MB. */
export const peaks = (processes) =>
  Object.fromEntries(
    Object.entries(processes).map(([name, pid]) => [
      name,
      Number((usage(pid)?.peakRssMb ?? 0).toFixed(1)),
    ]),
  );

/** Snapshots the CPU of every process of the stack and of this one, to diff after a run. */
export function cpuSnapshot(processes) {
  const self = process.cpuUsage();
  return {
    self: (self.user + self.system) / 1000,
    procs: Object.fromEntries(
      Object.entries(processes).map(([name, pid]) => [name, usage(pid)?.cpuMs ?? 0]),
    ),
  };
}

/** CPU ms per image of each process kind (api, worker, ferretdb, redis, nginx, load generator). */
export function cpuPerImage(before, after, images) {
  const kinds = {};
  for (const [name, ms] of Object.entries(after.procs)) {
    const kind = name.replace(/-\d+$/, '');
    kinds[kind] = (kinds[kind] ?? 0) + (ms - (before.procs[name] ?? 0));
  }
  kinds['load generator'] = after.self - before.self;
  return Object.fromEntries(
    Object.entries(kinds).map(([k, ms]) => [k, Number((ms / images).toFixed(2))]),
  );
}
