/**
 * Orphaned agent processes: when agentbridge is killed (SIGKILL, OOM, power loss) it cannot end
 * the agent process groups of running turns. Every live group is recorded as a file
 * `<dir>/<pid>.json` (the group leader's pid and its start time from /proc); the file is removed
 * when the group is gone. At start, {@link reapOrphans} ends every group still recorded.
 * Linux-specific where /proc is used; elsewhere the start-time check is skipped.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger.js';
import { groupAlive, processHooks, signalGroup } from './process.js';

interface Record {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot); undefined when /proc is missing. */
  startTime?: string;
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Records agent process groups under `dir` (created if missing) from now on. */
export function trackAgentProcesses(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  processHooks.onSpawn = (pid) => {
    const rec: Record = { pid, startTime: startTimeOf(pid) };
    try {
      fs.writeFileSync(path.join(dir, `${pid}.json`), JSON.stringify(rec));
    } catch {
      /* best effort */
    }
  };
  processHooks.onGone = (pid) => fs.rmSync(path.join(dir, `${pid}.json`), { force: true });
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
