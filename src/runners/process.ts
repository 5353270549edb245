/**
 * The process driver shared by all runners: spawns an agent CLI in its own process group with
 * stdin closed (or, with `stdin`, fed that text and then closed — prompts go this way, never
 * argv: an argv element may not hold a NUL and is limited to 128 KiB by Linux), hands stdout to the caller line by line, keeps stderr (bounded) for error
 * messages, enforces a timeout, and stops the whole group on abort/timeout with
 * SIGINT → SIGTERM → SIGKILL (Gemini relaunches a child and ignores signals itself, so the
 * group — not the pid — is signalled; docs/ARCHITECTURE.md §7; verified with gemini 0.61.0 by test/runners/gemini.test.ts).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Why the driver ended the process, if it did. */
export type StopReason = 'timeout' | 'stopped' | null;

export interface DriveOptions {
  bin: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Hard limit, ms. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called for every non-empty stdout line, in order. Exceptions are caught and ignored. */
  onLine: (line: string) => void;
  /**
   * Text written to the child's stdin (UTF-8), which is then closed. Omitted: stdin is closed
   * at once (`ignore`). A child that exits or closes stdin early (EPIPE) is not an error here;
   * its exit code and output decide the outcome.
   */
  stdin?: string;
  /** Delays between SIGINT→SIGTERM and SIGTERM→SIGKILL, ms (default 3000 each). */
  killGraceMs?: number;
}

export interface DriveResult {
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  /** Last 16 KiB of stderr, as text. */
  stderr: string;
  stoppedBy: StopReason;
  /** Set when the executable could not be started (ENOENT, EACCES). */
  spawnError?: NodeJS.ErrnoException;
}

const STDERR_KEEP_BYTES = 16 * 1024;

/**
 * Process-wide hooks called when an agent process group starts and when it is gone; the app uses
 * them to record live groups on disk so a restart after a crash can end orphans (see orphans.ts).
 */
export const processHooks: { onSpawn?: (pid: number) => void; onGone?: (pid: number) => void } = {};

/** Sends `sig` to the process group of `pid`; falls back to the pid; ignores ESRCH. */
export function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

/** True when some process of the group `pid` still exists. */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs the process to completion. Never rejects: spawn failures come back as `spawnError`.
 * When it resolves, no process of the group is left (it waits for the group to be gone,
 * escalating to SIGKILL).
 */
export function drive(opts: DriveOptions): Promise<DriveResult> {
  const grace = opts.killGraceMs ?? 3000;
  return new Promise<DriveResult>((resolve) => {
    let stoppedBy: StopReason = null;
    let stderr = '';
    let settled = false;
    const timers: NodeJS.Timeout[] = [];

    const child = spawn(opts.bin, opts.args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
    });

    const finish = (r: Omit<DriveResult, 'stderr' | 'stoppedBy'>) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ ...r, stderr, stoppedBy });
    };

    const stop = (reason: Exclude<StopReason, null>) => {
      if (stoppedBy || child.pid === undefined) return;
      stoppedBy = reason;
      const pid = child.pid;
      signalGroup(pid, 'SIGINT');
      timers.push(setTimeout(() => groupAlive(pid) && signalGroup(pid, 'SIGTERM'), grace));
      timers.push(setTimeout(() => groupAlive(pid) && signalGroup(pid, 'SIGKILL'), grace * 2));
    };
    const onAbort = () => stop('stopped');

    if (child.pid !== undefined) processHooks.onSpawn?.(child.pid);

    if (opts.stdin !== undefined && child.stdin) {
      // EPIPE/ECONNRESET when the child stops reading early: ignored (the exit decides).
      child.stdin.on('error', () => {});
      child.stdin.end(opts.stdin, 'utf8');
    }

    child.on('error', (err: NodeJS.ErrnoException) => {
      finish({ exitCode: null, exitSignal: null, spawnError: err });
    });

    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (stderr.length > STDERR_KEEP_BYTES) stderr = stderr.slice(-STDERR_KEEP_BYTES);
    });

    const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity });
    lines.on('line', (line) => {
      if (!line.trim()) return;
      try {
        opts.onLine(line);
      } catch {
        /* a parser bug must not kill the turn */
      }
    });
    const stdoutClosed = new Promise<void>((r) => lines.once('close', () => r()));

    child.on('exit', (code, sig) => {
      const pid = child.pid!;
      // The leader is gone; make sure no child of its group outlives the turn.
      // Wait for stdout to drain, but not for a grandchild that keeps the pipe open.
      const drained = Promise.race([stdoutClosed, new Promise<void>((r) => setTimeout(r, 1000))]);
      void drained.then(async () => {
        if (groupAlive(pid)) {
          signalGroup(pid, stoppedBy ? 'SIGKILL' : 'SIGTERM');
          const deadline = Date.now() + grace * 2;
          while (groupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
          if (groupAlive(pid)) signalGroup(pid, 'SIGKILL');
        }
        processHooks.onGone?.(pid);
        finish({ exitCode: code, exitSignal: sig });
      });
    });

    if (opts.signal?.aborted) stop('stopped');
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    timers.push(setTimeout(() => stop('timeout'), opts.timeoutMs));
  });
}
