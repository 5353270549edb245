/**
 * `/agent restart` in a terminal (src/cli/start.ts, AGENTBRIDGE_RESTART_MODE=auto with a TTY on
 * stdin): the process the shell started stays, its service stopped, and runs agentbridge again
 * as an attached child — same executable, arguments, environment and working directory, the same
 * process group, stdio inherited — waiting for it. So:
 * - the shell keeps waiting (no prompt comes back while agentbridge runs);
 * - Ctrl-C reaches the child directly: the terminal sends SIGINT to the whole foreground process
 *   group. This process ignores SIGINT (forwarding it would be a second signal, which makes
 *   agentbridge exit at once instead of gracefully) and waits;
 * - SIGTERM and SIGHUP sent to this process (`kill <pid>`, a closed terminal) are forwarded;
 * - the child runs with AGENTBRIDGE_RESTART_MODE=exit: its own `/agent restart` exits with 75 and
 *   this process starts the next one, so restarts never nest (at most two processes);
 * - any other exit of the child ends this process with the same code (128 + n for signal n).
 * `process.execve` (a true re-exec) is experimental and only in Node 22.15 and later (engines allows
 * 22.0); this is the closest equivalent without it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';

/** What to run again: normally this process's own `process.execPath`, execArgv + argv, cwd and env. */
export interface ReexecTarget {
  execPath: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** Exit code of a child asking to be started again (EX_TEMPFAIL; src/cli/start.ts RESTART_EXIT_CODE). */
const AGAIN = 75;

/**
 * Runs `target` as an attached child until it exits with anything but 75, then exits this process
 * with that code (see the module doc). Returns at once; the process lives on while the child runs.
 * @param onSpawnError called when the child cannot be started (this process then exits 1)
 * @param exit how to end this process (tests pass their own)
 */
export function superviseInPlace(target: ReexecTarget, onSpawnError: (err: Error) => void, exit: (code: number) => void = (c) => process.exit(c)): void {
  let child: ChildProcess | undefined;
  const forward = (sig: NodeJS.Signals) => () => {
    child?.kill(sig);
  };
  process.on('SIGINT', () => {
    /* the terminal sent it to the child too (same process group): wait for the child to end */
  });
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGHUP', forward('SIGHUP'));
  const start = () => {
    const c = spawn(target.execPath, target.args, {
      cwd: target.cwd,
      env: { ...target.env, AGENTBRIDGE_RESTART_MODE: 'exit' },
      stdio: 'inherit',
    });
    child = c;
    c.once('error', (err) => {
      onSpawnError(err);
      exit(1);
    });
    c.once('exit', (code, signal) => {
      if (code === AGAIN) return start();
      exit(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0));
    });
  };
  start();
}
