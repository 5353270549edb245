/**
 * Orphaned agent processes: when agentbridge is killed (SIGKILL, OOM, power loss) it cannot end
 * the agent process groups of running turns. Every live group is recorded as a file
 * `<dir>/<pid>.json` (the group leader's pid and its start time from /proc); the file is removed
 * when the group is gone. At start, {@link reapOrphans} ends every group still recorded.
 * Records are written and removed asynchronously, off the spawn path (issue 16: a synchronous
 * /proc read and write there blocked the event loop); a group's removal waits for its write.
 * Linux-specific where /proc is used; elsewhere the start-time check is skipped.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.js';
import { groupAlive, processHooks, signalGroup } from './process.js';

interface Record {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot); undefined when /proc is missing. */
  startTime?: string;
}

/** Field 22 of a `/proc/<pid>/stat` text (the part after the command name, which may hold spaces). */
function startTimeField(stat: string): string | undefined {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function startTimeOf(pid: number): string | undefined {
  try {
    return startTimeField(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

async function startTimeOfAsync(pid: number): Promise<string | undefined> {
  try {
    return startTimeField(await fsp.readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Records agent process groups under `dir` (created if missing) from now on: sets
 * `processHooks.onSpawn` (starts writing the record; returns at once) and `processHooks.onGone`
 * (removes it once its write is done; the returned promise resolves then and never rejects).
 * Writes and removals of one pid run in order, so a removal never races an unfinished write.
 * Errors are ignored (best effort).
 */
export function trackAgentProcesses(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const chains = new Map<number, Promise<void>>();
  const then = (pid: number, step: () => Promise<unknown>): Promise<void> => {
    const next = (chains.get(pid) ?? Promise.resolve()).then(step).then(
      () => {},
      () => {},
    );
    chains.set(pid, next);
    void next.then(() => chains.get(pid) === next && chains.delete(pid));
    return next;
  };
  const file = (pid: number) => path.join(dir, `${pid}.json`);
  processHooks.onSpawn = (pid) => {
    void then(pid, async () => {
      const rec: Record = { pid, startTime: await startTimeOfAsync(pid) };
      await fsp.writeFile(file(pid), JSON.stringify(rec));
    });
  };
  processHooks.onGone = (pid) => then(pid, () => fsp.rm(file(pid), { force: true }));
}

/**
 * Ends (SIGKILL) every recorded agent process group left by a previous run and clears the records.
 * A leader whose pid now belongs to another process (different start time) is not touched.
 * @returns the pids of the groups that were ended.
 */
export function reapOrphans(dir: string, logger: Logger): number[] {
  let files: string[];
  try {
    files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const ended: number[] = [];
  for (const file of files) {
    const full = path.join(dir, file);
    try {
      const rec = JSON.parse(fs.readFileSync(full, 'utf8')) as Record;
      const leaderStart = startTimeOf(rec.pid);
      const sameLeader = leaderStart !== undefined && (rec.startTime === undefined || leaderStart === rec.startTime);
      // A group id cannot be reused while the group exists, so a live group with no leader is still ours.
      if (groupAlive(rec.pid) && (sameLeader || leaderStart === undefined)) {
        signalGroup(rec.pid, 'SIGKILL');
        ended.push(rec.pid);
      }
    } catch {
      /* unreadable record: drop it */
    }
    fs.rmSync(full, { force: true });
  }
  if (ended.length) logger.warn({ pids: ended }, 'ended agent processes left running by a previous agentbridge that did not shut down cleanly');
  return ended;
}
