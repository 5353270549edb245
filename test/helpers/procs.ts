/**
 * Finding processes a test left behind: any live process whose environment or command line
 * mentions `marker` (use the sandbox root — every agent process gets TMPDIR/HOME inside it).
 * Linux only (/proc).
 */
import fs from 'node:fs';

export interface FoundProcess {
  pid: number;
  cmd: string;
}

/** Live processes (other than this one) whose environ or cmdline contains `marker`. */
export function processesMentioning(marker: string): FoundProcess[] {
  const found: FoundProcess[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (/\) Z /.test(stat)) continue; // zombie: already dead, waiting to be reaped
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      let environ = '';
      try {
        environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
      } catch {
        /* not readable */
      }
      if (cmd.includes(marker) || environ.includes(marker)) found.push({ pid, cmd: cmd.slice(0, 200) });
    } catch {
      /* exited while we looked */
    }
  }
  return found;
}
