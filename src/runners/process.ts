/**
 * The process driver shared by all runners: spawns an agent CLI in its own process group with
 * stdin closed (or, with `stdin`, fed that text and then closed — prompts go this way, never
 * argv: an argv element may not hold a NUL and is limited to 128 KiB by Linux), hands stdout to the caller line by line, keeps stderr (bounded) for error
 * messages, enforces a timeout, and stops the whole group on abort/timeout with
 * SIGINT → SIGTERM → SIGKILL (Gemini relaunches a child and ignores signals itself, so the
 * group — not the pid — is signalled; docs/ARCHITECTURE.md §7; verified with gemini 0.61.0 by test/runners/gemini.test.ts).
 *
 * A turn ends at the CLI's final event (`isFinal`), not at its exit: the driver resolves as soon
 * as that line was handled, and the group is ended in the background — it gets
 * {@link FINAL_LINGER_MS} to exit by itself, then SIGTERM, then SIGKILL after the kill grace —
 * tracked in a process-wide registry that shutdown awaits ({@link settleProcessCleanups}).
 * `processHooks.onGone` is called only once the group is gone, so a group that outlives its
 * turn stays recorded for orphan reaping (./orphans.ts) until then.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Why the driver ended the process, if it did. */
export type StopReason = 'timeout' | 'stopped' | null;

/**
 * How long a CLI may keep running after its final event before its group gets SIGTERM, ms.
 * claude 2.1.197 exits 40–140 ms after its `result` line (issue 16 measurements).
 */
export const FINAL_LINGER_MS = 1000;
/** How long the driver waits for a SIGKILLed group to be gone, ms (polled every {@link GONE_POLL_MS}). */
const KILL_WAIT_MS = 5000;
const GONE_POLL_MS = 50;

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
   * Called after `onLine` for every line: true when that line was the CLI's final event of the
   * turn. The driver then resolves at once (`endedAtFinalEvent`), stops handing out lines, and
   * ends the group in the background (see the module doc). Not consulted once a stop or timeout
   * began (the driver then waits for the group as without it). Exceptions count as false.
   */
  isFinal?: (line: string) => boolean;
  /** After the final event: ms the process may go on before its group gets SIGTERM (default {@link FINAL_LINGER_MS}). */
  finalLingerMs?: number;
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
  /**
   * The exit code; null when killed by a signal, or when the run ended at its final event before
   * the process had exited (`endedAtFinalEvent`).
   */
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  /** Last 16 KiB of stderr, as text (up to the final event when `endedAtFinalEvent`). */
  stderr: string;
  stoppedBy: StopReason;
  /** Set when the executable could not be started (ENOENT, EACCES). */
  spawnError?: NodeJS.ErrnoException;
  /**
   * Set when the run resolved at the CLI's final event (`DriveOptions.isFinal`) — the process
   * may still be running; its group is being ended in the background.
   */
  endedAtFinalEvent?: true;
  /**
   * With `endedAtFinalEvent`: resolves (never rejects) once the group is gone and
   * `processHooks.onGone` is done; it is also in the registry {@link settleProcessCleanups} awaits.
   */
  gone?: Promise<void>;
}

const STDERR_KEEP_BYTES = 16 * 1024;

/**
 * Process-wide hooks called when an agent process group starts and when it is gone; the app uses
 * them to record live groups on disk so a restart after a crash can end orphans (see orphans.ts).
 * Both are called on the spawn/exit path: they must not block (no synchronous I/O). `onGone`
 * may return a promise; the driver awaits it (it never rejects).
 */
export const processHooks: { onSpawn?: (pid: number) => void; onGone?: (pid: number) => void | Promise<void> } = {};

/** Cleanups of groups that outlived their turn's final event (see the module doc). */
const pendingCleanups = new Set<Promise<void>>();

/** Adds `work` (must not reject) to the registry {@link settleProcessCleanups} awaits; returns it. */
export function trackProcessCleanup(work: Promise<void>): Promise<void> {
  pendingCleanups.add(work);
  void work.finally(() => pendingCleanups.delete(work));
  return work;
}

/** Number of background cleanups still running (groups not yet gone). */
export function pendingProcessCleanups(): number {
  return pendingCleanups.size;
}

/**
 * Waits until every tracked background cleanup is done (every agent process group that outlived
 * its turn's final event is gone), including ones added meanwhile, at most `timeoutMs` (ms).
 * Called by the app's shutdown. Never rejects.
 * @returns true when none is left, false when the time ran out.
 */
export async function settleProcessCleanups(timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pendingCleanups.size > 0) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(pendingCleanups), new Promise<void>((r) => (timer = setTimeout(r, left)))]);
    clearTimeout(timer);
  }
  return true;
}

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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until the group `pid` is gone or `ms` passed; true when gone. */
async function waitGroupGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (groupAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(GONE_POLL_MS);
  }
  return true;
}

/** Ends what is left of the group `pid`: `first`, then SIGKILL after `graceMs` (ms); waits (bounded) for it to be gone. */
async function endGroup(pid: number, first: NodeJS.Signals, graceMs: number): Promise<void> {
  if (!groupAlive(pid)) return;
  signalGroup(pid, first);
  if (first === 'SIGKILL' || !(await waitGroupGone(pid, graceMs))) {
    signalGroup(pid, 'SIGKILL');
    await waitGroupGone(pid, KILL_WAIT_MS);
  }
}

/** `processHooks.onGone`, awaited, never throwing. */
async function reportGone(pid: number): Promise<void> {
  try {
    await processHooks.onGone?.(pid);
  } catch {
    /* best effort */
  }
}

/**
 * Runs the process to its final event or its end. Never rejects: spawn failures come back as
 * `spawnError`. Without `endedAtFinalEvent`, no process of the group is left when it resolves
 * (it waits for the group to be gone, escalating to SIGKILL); with it, the group is ended in the
 * background (`gone`).
 */
export function drive(opts: DriveOptions): Promise<DriveResult> {
  const grace = opts.killGraceMs ?? 3000;
  return new Promise<DriveResult>((resolve) => {
    let stoppedBy: StopReason = null;
    let stderr = '';
    let settled = false;
    let exit: { code: number | null; sig: NodeJS.Signals | null } | undefined;
    /** The group's cleanup once started (after the exit, or after the final event). */
    let cleanup: Promise<void> | undefined;
    const timers: NodeJS.Timeout[] = [];

    const child = spawn(opts.bin, opts.args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));

    const finish = (r: Omit<DriveResult, 'stderr' | 'stoppedBy'>) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ ...r, stderr, stoppedBy });
    };

    const stop = (reason: Exclude<StopReason, null>) => {
      if (stoppedBy || settled || child.pid === undefined) return;
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
      if (settled) return;
      stderr += chunk.toString('utf8');
      if (stderr.length > STDERR_KEEP_BYTES) stderr = stderr.slice(-STDERR_KEEP_BYTES);
    });

    // The final event: resolve now, end the group in the background (the exit path does it when
    // the leader already exited).
    const endAtFinalEvent = () => {
      const pid = child.pid!;
      cleanup ??= (async () => {
        await Promise.race([exited, sleep(opts.finalLingerMs ?? FINAL_LINGER_MS)]);
        await endGroup(pid, 'SIGTERM', grace);
        await reportGone(pid);
      })();
      finish({ exitCode: exit?.code ?? null, exitSignal: exit?.sig ?? null, endedAtFinalEvent: true, gone: trackProcessCleanup(cleanup) });
    };

    const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity });
    lines.on('line', (line) => {
      // After the final event nothing is handed out any more (the stream is still drained).
      if (settled || !line.trim()) return;
      try {
        opts.onLine(line);
      } catch {
        /* a parser bug must not kill the turn */
      }
      let final = false;
      try {
        final = !stoppedBy && child.pid !== undefined && (opts.isFinal?.(line) ?? false);
      } catch {
        /* a parser bug: not final */
      }
      if (final) endAtFinalEvent();
    });
    const stdoutClosed = new Promise<void>((r) => lines.once('close', () => r()));

    child.on('exit', (code, sig) => {
      exit = { code, sig };
      if (cleanup) return; // ended at the final event: that cleanup sees the exit
      const pid = child.pid!;
      // The leader is gone; make sure no child of its group outlives the turn.
      // Wait for stdout to drain, but not for a grandchild that keeps the pipe open.
      cleanup = (async () => {
        // (The final event may still come while draining: the run then resolves early and this is its cleanup.)
        await Promise.race([stdoutClosed, sleep(1000)]);
        await endGroup(pid, stoppedBy ? 'SIGKILL' : 'SIGTERM', grace * 2);
        await reportGone(pid);
      })();
      void cleanup.then(() => finish({ exitCode: code, exitSignal: sig }));
    });

    if (opts.signal?.aborted) stop('stopped');
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    timers.push(setTimeout(() => stop('timeout'), opts.timeoutMs));
  });
}
