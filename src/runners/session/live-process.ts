/**
 * A long-lived agent process speaking JSON lines over stdio — the transport every live agent
 * session backend shares (Claude stream-json, `codex app-server` JSON-RPC, `gemini --acp`
 * JSON-RPC). Spawned in its own process group (so the whole group can be signalled: Gemini
 * relaunches a child), recorded through `processHooks` for orphan reaping, with stdin kept open
 * for protocol messages. stdout is split into lines; stderr is kept (last 16 KiB) for errors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { groupAlive, processHooks, signalGroup } from '../process.js';

const STDERR_KEEP_CHARS = 16 * 1024;

export interface LiveProcessOptions {
  bin: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Called for every non-empty stdout line, in order. Exceptions are caught and ignored. */
  onLine(line: string): void;
  /** Called once when the process (leader) exited and its group is gone. */
  onExit?(info: LiveProcessExit): void;
}

export interface LiveProcessExit {
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  /** Last 16 KiB of stderr. */
  stderr: string;
  /** Set when the executable could not be started (ENOENT, EACCES, …). */
  spawnError?: NodeJS.ErrnoException;
}

/** One spawned process. `write` never throws (a closed stdin drops the line and returns false). */
export class LiveProcess {
  private readonly child: ChildProcess;
  private stderrText = '';
  private exitInfo?: LiveProcessExit;
  private readonly exitWaiters: Array<(e: LiveProcessExit) => void> = [];

  constructor(private readonly opts: LiveProcessOptions) {
    this.child = spawn(opts.bin, opts.args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    if (this.child.pid !== undefined) processHooks.onSpawn?.(this.child.pid);
    this.child.stdin!.on('error', () => {});
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderrText += chunk.toString('utf8');
      if (this.stderrText.length > STDERR_KEEP_CHARS) this.stderrText = this.stderrText.slice(-STDERR_KEEP_CHARS);
    });
    const lines = createInterface({ input: this.child.stdout!, crlfDelay: Infinity });
    lines.on('line', (line) => {
      if (!line.trim()) return;
      try {
        opts.onLine(line);
      } catch {
        /* a parser bug must not kill the session */
      }
    });
    const stdoutClosed = new Promise<void>((r) => lines.once('close', () => r()));
    this.child.on('error', (err: NodeJS.ErrnoException) => {
      if (this.child.pid === undefined) this.ended({ exitCode: null, exitSignal: null, stderr: this.stderrText, spawnError: err });
    });
    this.child.on('exit', (code, sig) => {
      const pid = this.child.pid!;
      const drained = Promise.race([stdoutClosed, new Promise<void>((r) => setTimeout(r, 1000))]);
      void drained.then(async () => {
        // The leader is gone; no child of its group may outlive it.
        if (groupAlive(pid)) {
          signalGroup(pid, 'SIGTERM');
          const deadline = Date.now() + 3000;
          while (groupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
          if (groupAlive(pid)) signalGroup(pid, 'SIGKILL');
        }
        void processHooks.onGone?.(pid);
        this.ended({ exitCode: code, exitSignal: sig, stderr: this.stderrText });
      });
    });
  }

  private ended(info: LiveProcessExit): void {
    if (this.exitInfo) return;
    this.exitInfo = info;
    try {
      this.opts.onExit?.(info);
    } catch {
      /* ignore */
    }
    for (const w of this.exitWaiters.splice(0)) w(info);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True until the process exited (or failed to start). */
  get alive(): boolean {
    return !this.exitInfo;
  }

  /** Last 16 KiB of stderr so far. */
  get stderr(): string {
    return this.stderrText;
  }

  /** Writes one line (a JSON value, serialised here) to stdin; false when stdin is closed. */
  writeJson(value: unknown): boolean {
    return this.writeLine(JSON.stringify(value));
  }

  /** Writes `line` plus a newline to stdin; false when stdin is closed. */
  writeLine(line: string): boolean {
    const stdin = this.child.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded || this.exitInfo) return false;
    stdin.write(`${line}\n`, 'utf8');
    return true;
  }

  /** Resolves when the process exited (at once when it already did). */
  exited(): Promise<LiveProcessExit> {
    if (this.exitInfo) return Promise.resolve(this.exitInfo);
    return new Promise((r) => this.exitWaiters.push(r));
  }

  /**
   * Ends the process: closes stdin (a protocol's end of input), then after `graceMs` SIGTERM to
   * the group, then after another `graceMs` SIGKILL. Resolves when it exited and its group is gone.
   * @param graceMs ms between the steps (default 3000)
   */
  async kill(graceMs = 3000): Promise<LiveProcessExit> {
    if (this.exitInfo) return this.exitInfo;
    this.child.stdin?.end();
    const pid = this.child.pid;
    const timers: NodeJS.Timeout[] = [];
    if (pid !== undefined) {
      timers.push(setTimeout(() => groupAlive(pid) && signalGroup(pid, 'SIGTERM'), graceMs));
      timers.push(setTimeout(() => groupAlive(pid) && signalGroup(pid, 'SIGKILL'), graceMs * 2));
    }
    const info = await this.exited();
    for (const t of timers) clearTimeout(t);
    return info;
  }
}
