/**
 * The Claude Code live session: one `claude -p --input-format stream-json --output-format
 * stream-json --verbose --permission-prompt-tool stdio --replay-user-messages` process per
 * conversation, driven over stdin/stdout (message shapes: ./control.ts; verified with claude
 * 2.1.197 by test/runners/claude-session.test.ts).
 *
 * - Start: `initialize` control request; the session is ready when it is answered (~0.5 s idle,
 *   ~4 s on a loaded machine). A process that ends before (a missing `--resume` session: stderr
 *   "No conversation found with session ID: …", exit 1) fails the first `send` with that text.
 * - A turn: a user message with our uuid. The CLI may answer several queued user messages in one
 *   run (a steered message is taken inside the running turn after the current tool result, and
 *   reaches the model as "The user sent a new message while you were working: …"), or answer a
 *   message that came too late for the running turn in a run of its own, with its own `result`.
 *   `--replay-user-messages` echoes each user message (with our uuid) when the CLI takes it, always
 *   before the `result` of the run answering it — except a local slash command (`/cost`, `/clear`,
 *   an unknown `/x`), which gets a `result` of its own and no echo; the CLI takes messages in
 *   order, so a run that echoed none of ours answered the oldest one. A turn ends at the first
 *   `result` after which every message it wrote (prompt and steered texts) has been answered.
 *   Nothing is sent twice and nothing is left behind for the next turn.
 * - Approvals, questions and plans: `can_use_tool` control requests → `handlers.onInteraction`
 *   (the turn's time limit paused meanwhile) → allow/deny (./control.ts `permissionAnswer`).
 * - Stop and time limit: the `interrupt` control request (the run ends with `result` subtype
 *   `error_during_execution` in ~40 ms, the process stays up); a steered message still queued
 *   then starts a run of its own, which is interrupted too. If the turn has not ended
 *   {@link INTERRUPT_GRACE_MS} after the interrupt, the process group is killed.
 * - `total_cost_usd` of a `result` is the process's running total (verified: it grows across
 *   turns of one process), so each turn's cost is the difference.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Usage } from '../../core/agents.js';
import type { InteractionDecision } from '../../core/interactions.js';
import { howEnded, type SessionBackend, type SessionContext } from '../define.js';
import { runError } from '../errors.js';
import { LiveProcess, type LiveProcessExit } from '../session/live-process.js';
import { TurnTimer } from '../session/turn-timer.js';
import type { AgentSession, PromptImage, SessionOptions, SessionTurnHandlers, SessionTurnOptions, SteerResult } from '../session/types.js';
import type { RunError, RunEvent, RunResult } from '../types.js';
import { claudeArgs, sandboxEnv } from './args.js';
import {
  controlError,
  controlRequest,
  controlResponse,
  parseControlLine,
  permissionAnswer,
  toInteraction,
  userMessage,
  type ControlLine,
  type ImageContent,
} from './control.js';
import { ClaudeEventParser } from './events.js';
import { addUsage, runUsage, startFailure, turnOutcome, type SessionRun } from './session-outcome.js';

/** ms after an interrupt before a turn that has not ended is stopped by killing the process group. */
export const INTERRUPT_GRACE_MS = 5000;
/** Default ms to wait for the `initialize` answer ({@link SessionOptions.startTimeoutMs}). */
export const DEFAULT_START_TIMEOUT_MS = 60_000;

/**
 * argv (after the executable) of a live session: the one-shot pieces of `claudeArgs` (model,
 * permission mode, resume/fork/resume-at, MCP, system prompt; ./args.ts) plus
 * `--input-format stream-json --permission-prompt-tool stdio --replay-user-messages`. No prompt:
 * user messages go over stdin.
 */
export function claudeSessionArgs(options: SessionOptions): string[] {
  const oneShot = claudeArgs({
    prompt: '',
    cwd: options.cwd,
    env: {},
    timeoutMs: 0,
    permissionMode: options.permissionMode,
    ...(options.model ? { model: options.model } : {}),
    ...(options.resumeSessionId ? { resumeSessionId: options.resumeSessionId } : {}),
    ...(options.forkSession ? { forkSession: true } : {}),
    ...(options.resumeAt ? { resumeAt: options.resumeAt } : {}),
    ...(options.systemPrompt ? { systemPrompt: options.systemPrompt } : {}),
    ...(options.mcp ? { mcp: options.mcp } : {}),
  });
  return [oneShot[0]!, '--input-format', 'stream-json', ...oneShot.slice(1), '--permission-prompt-tool', 'stdio', '--replay-user-messages'];
}

/** Claude's {@link SessionBackend}: steering, resume and fork are supported. */
export const claudeSession: SessionBackend = {
  capabilities: { steer: true, resume: true, fork: true },
  open: (options, ctx) => new ClaudeSession(options, ctx),
};

/** A pending `can_use_tool`. */
interface Ask {
  open: boolean;
}

interface Turn {
  parser: ClaudeEventParser;
  handlers: SessionTurnHandlers;
  timeoutMs: number;
  /** uuids of the user messages written for this turn and not answered yet, oldest first. */
  pending: Set<string>;
  /** Our messages echoed since the last `result`. */
  replaysThisRun: number;
  runs: SessionRun[];
  /** Length of `parser.text` when the current run started. */
  runTextStart: number;
  usage?: Usage;
  timer: TurnTimer;
  stopping?: 'stopped' | 'timeout';
  fallback?: NodeJS.Timeout;
  asks: Map<string, Ask>;
  /** Steered messages not yet taken by the CLI (no echo yet): their `steer` calls wait here. */
  steers: Map<string, (r: SteerResult) => void>;
  finished: boolean;
  resolve(result: RunResult): void;
}

type Json = Record<string, unknown>;

/** The live session (see the module doc). */
class ClaudeSession implements AgentSession {
  readonly agent = 'claude';
  readonly options: SessionOptions;
  private readonly proc: LiveProcess;
  private sid: string | undefined;
  private turn: Turn | undefined;
  private running = false;
  private startError: RunError | undefined;
  private readonly ready: Promise<void>;
  private markReady!: () => void;
  private exitInfo: LiveProcessExit | undefined;
  private closing: Promise<void> | undefined;
  private requestCounter = 0;
  /** The process's running `total_cost_usd` at the last result. */
  private costSoFar = 0;
  private readonly killGraceMs: number;
  private initialized = false;
  private readonly initializeId: string;

  constructor(options: SessionOptions, ctx: SessionContext) {
    this.options = { ...options };
    this.sid = options.resumeSessionId && !options.forkSession ? options.resumeSessionId : undefined;
    this.killGraceMs = ctx.runnerOptions.killGraceMs ?? 3000;
    this.ready = new Promise<void>((r) => (this.markReady = r));
    this.proc = new LiveProcess({
      bin: ctx.bin,
      args: claudeSessionArgs(options),
      cwd: options.cwd,
      env: sandboxEnv(ctx.env, options),
      onLine: (line) => this.onLine(line),
      onExit: (info) => this.onExit(info),
    });
    const startMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const startTimer = setTimeout(() => {
      if (this.startError || this.initialized) return;
      this.startError = runError('crashed', `claude did not become ready within ${Math.round(startMs / 1000)} s`);
      this.markReady();
      void this.proc.kill(this.killGraceMs);
    }, startMs);
    void this.ready.then(() => clearTimeout(startTimer));
    this.initializeId = this.nextId();
    this.proc.writeJson(controlRequest(this.initializeId, { subtype: 'initialize' }));
  }

  get sessionId(): string | undefined {
    return this.sid;
  }

  get alive(): boolean {
    return this.proc.alive && !this.closing;
  }

  get busy(): boolean {
    return this.running;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  async send(prompt: string, handlers: SessionTurnHandlers, opts: SessionTurnOptions): Promise<RunResult> {
    if (this.running) return fail('crashed', 'a turn is already running in this claude session');
    this.running = true;
    try {
      return await this.runTurn(prompt, handlers, opts);
    } catch (err) {
      return fail('crashed', `runner failure: ${String(err)}`);
    } finally {
      this.running = false;
    }
  }

  private async runTurn(prompt: string, handlers: SessionTurnHandlers, opts: SessionTurnOptions): Promise<RunResult> {
    const signal = opts.signal;
    if (!this.initialized && !this.startError) {
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<'aborted'>((r) => {
        onAbort = () => r('aborted');
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      const first = await Promise.race([this.ready.then(() => 'ready' as const), aborted]);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      if (first === 'aborted') return fail('stopped', 'stopped on request');
    }
    if (this.closing) return fail('stopped', 'the session was closed');
    if (this.startError) return { ok: false, text: '', exitCode: this.exitInfo?.exitCode ?? null, error: this.startError };
    if (this.closing || !this.proc.alive) return fail('crashed', `the claude session has ended${this.exitInfo ? ` (${howEnded(this.exitInfo)})` : ''}`);
    if (signal?.aborted) return fail('stopped', 'stopped on request');
    const images = await readImages(opts.images);

    const result = new Promise<RunResult>((resolve) => {
      const turn: Turn = {
        parser: new ClaudeEventParser(this.options.cwd),
        handlers,
        timeoutMs: opts.timeoutMs,
        pending: new Set(),
        replaysThisRun: 0,
        runs: [],
        runTextStart: 0,
        timer: new TurnTimer(opts.timeoutMs, () => this.stop(turn, 'timeout')),
        asks: new Map(),
        steers: new Map(),
        finished: false,
        resolve,
      };
      this.turn = turn;
      const onAbort = () => this.stop(turn, 'stopped');
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = turn.resolve;
      turn.resolve = (r) => {
        signal?.removeEventListener('abort', onAbort);
        done(r);
      };
      if (this.writeUser(turn, prompt, images) === undefined) this.finish(turn);
    });
    return result;
  }

  /**
   * Writes `text` as a user message and resolves when the CLI took it: `taken` at its echo
   * (`--replay-user-messages`) while the turn goes on — the turn then answers it before `send`
   * resolves; `not-running` when the turn is stopped (or the process ends) first — the CLI never
   * answered it, so the caller gives it to the next turn.
   */
  async steer(text: string): Promise<SteerResult> {
    const turn = this.turn;
    if (!turn || turn.finished || turn.stopping || !this.proc.alive || this.closing) return 'not-running';
    const uuid = this.writeUser(turn, text);
    if (!uuid) return 'not-running';
    return new Promise<SteerResult>((resolve) => turn.steers.set(uuid, resolve));
  }

  /** Answers every waiting `steer` of `turn` with `result`. */
  private settleSteers(turn: Turn, result: SteerResult): void {
    for (const resolve of turn.steers.values()) resolve(result);
    turn.steers.clear();
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    const turn = this.turn;
    if (turn && !turn.finished) {
      turn.stopping ??= 'stopped';
      this.interrupt();
    }
    this.closing = this.proc.kill(this.killGraceMs).then(() => undefined);
    return this.closing;
  }

  /** Writes a user message for `turn`; its uuid, or undefined when stdin is closed. */
  private writeUser(turn: Turn, text: string, images?: ImageContent[]): string | undefined {
    const uuid = randomUUID();
    if (!this.proc.writeJson(userMessage(text, uuid, this.sid, images))) return undefined;
    turn.pending.add(uuid);
    return uuid;
  }

  private nextId(): string {
    return `ab-${++this.requestCounter}`;
  }

  private interrupt(): void {
    this.proc.writeJson(controlRequest(this.nextId(), { subtype: 'interrupt' }));
  }

  /** Interrupts the turn (abort or time limit); kills the process if it does not end in {@link INTERRUPT_GRACE_MS}. */
  private stop(turn: Turn, why: 'stopped' | 'timeout'): void {
    if (turn.finished || turn.stopping) return;
    turn.stopping = why;
    this.settleSteers(turn, 'not-running'); // not taken yet: they go to the next turn
    this.interrupt();
    turn.fallback = setTimeout(() => {
      if (!turn.finished) void this.proc.kill(this.killGraceMs);
    }, INTERRUPT_GRACE_MS);
  }

  private emit(turn: Turn, events: RunEvent[]): void {
    for (const e of events) {
      try {
        turn.handlers.onEvent(e);
      } catch {
        /* a listener bug must not break the turn */
      }
    }
  }

  private onLine(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return;
    const control = parseControlLine(msg);
    if (control) {
      this.onControl(control);
      return;
    }
    const turn = this.turn;
    const json = msg as Json;
    if (!turn || turn.finished) return; // between turns (e.g. the failed-resume `result` before ready): nothing to report
    // The parser's usage event carries the process's running cost; the session reports per-turn usage itself.
    this.emit(
      turn,
      turn.parser.push(line).filter((e) => e.type !== 'usage'),
    );
    if (turn.parser.sessionId) this.sid = turn.parser.sessionId;
    if (json.type === 'result') this.onResult(turn, json);
  }

  private onControl(c: ControlLine): void {
    switch (c.kind) {
      case 'control_response':
        if (c.requestId === this.initializeId) {
          if (!c.ok) this.startError = runError('crashed', `claude refused to initialize: ${c.error ?? 'unknown error'}`);
          this.initialized = c.ok;
          this.markReady();
        }
        return;
      case 'replay':
        if (this.turn?.pending.delete(c.uuid)) {
          this.turn.replaysThisRun++;
          const steered = this.turn.steers.get(c.uuid);
          this.turn.steers.delete(c.uuid);
          steered?.(this.turn.stopping ? 'not-running' : 'taken');
          if (this.turn.stopping) this.interrupt(); // a run (re)started after the stop: a queued message got a run of its own
        }
        return;
      case 'cancel': {
        const ask = this.turn?.asks.get(c.requestId);
        if (ask?.open) {
          ask.open = false;
          this.turn!.timer.resume();
        }
        return;
      }
      case 'unsupported_request':
        this.proc.writeJson(controlError(c.requestId, 'agentbridge does not serve this request'));
        return;
      case 'can_use_tool':
        void this.onCanUseTool(c);
        return;
    }
  }

  private async onCanUseTool(c: Extract<ControlLine, { kind: 'can_use_tool' }>): Promise<void> {
    const turn = this.turn;
    if (!turn || turn.finished) {
      this.proc.writeJson(controlResponse(c.requestId, { behavior: 'deny', message: 'No turn is running.' }));
      return;
    }
    const ask: Ask = { open: true };
    turn.asks.set(c.requestId, ask);
    turn.timer.pause();
    let decision: InteractionDecision;
    try {
      decision = await turn.handlers.onInteraction(toInteraction(c.toolName, c.input));
    } catch (err) {
      decision = { kind: 'cancel', message: `The request could not be shown to anyone: ${String(err)}` };
    }
    turn.asks.delete(c.requestId);
    if (!ask.open || turn.finished) return; // withdrawn by the CLI (interrupt) or the turn is over: a late answer is void
    ask.open = false;
    turn.timer.resume();
    const answer = permissionAnswer(c.toolName, c.input, decision);
    this.proc.writeJson(controlResponse(c.requestId, answer));
    if (answer.behavior === 'allow' && answer.updatedPermissions) this.options.permissionMode = 'edit';
  }

  private onResult(turn: Turn, json: Json): void {
    const r = turn.parser.result;
    const runText = turn.parser.text.slice(turn.runTextStart).replace(/^\n\n/, '');
    turn.runTextStart = turn.parser.text.length;
    if (r) {
      turn.runs.push({
        isError: r.isError,
        ...(r.subtype ? { subtype: r.subtype } : {}),
        text: r.text?.trim() && !r.isError ? r.text : runText,
        ...(r.isError ? { errorText: r.text?.trim() || turn.parser.lastErrorText || [r.subtype ?? 'unknown', ...r.errors].join('; ') } : {}),
        ...(r.apiErrorStatus !== undefined ? { apiErrorStatus: r.apiErrorStatus } : {}),
      });
    }
    const usage = runUsage(json, this.costSoFar);
    if (typeof json.total_cost_usd === 'number') this.costSoFar = json.total_cost_usd;
    if (usage) {
      turn.usage = addUsage(turn.usage, usage);
      this.emit(turn, [{ type: 'usage', usage: { ...turn.usage } }]);
    }
    // A run that echoed none of our messages answered the oldest one as a local slash command
    // (`/cost`, `/clear`, an unknown `/x`: verified, they get a result but no echo); the CLI takes messages in order.
    if (turn.replaysThisRun === 0) {
      const oldest = turn.pending.values().next();
      if (!oldest.done) turn.pending.delete(oldest.value);
    }
    turn.replaysThisRun = 0;
    if (turn.pending.size === 0) this.finish(turn);
  }

  private onExit(info: LiveProcessExit): void {
    this.exitInfo = info;
    if (!this.initialized && !this.startError) {
      this.startError = startFailure(info);
      this.markReady();
    }
    const turn = this.turn;
    if (turn && !turn.finished) this.finish(turn);
  }

  /** Ends the turn with its outcome (see {@link turnOutcome}). */
  private finish(turn: Turn): void {
    if (turn.finished) return;
    turn.finished = true;
    this.settleSteers(turn, 'not-running');
    turn.timer.clear();
    clearTimeout(turn.fallback);
    if (this.turn === turn) this.turn = undefined;
    const parser = turn.parser;
    const base = {
      exitCode: this.exitInfo ? this.exitInfo.exitCode : null,
      ...(this.sid ? { sessionId: this.sid } : {}),
      ...(parser.lastAssistantUuid ? { resumeAt: parser.lastAssistantUuid } : {}),
      ...(turn.usage ? { usage: turn.usage } : {}),
    };
    turn.resolve({
      ...base,
      ...turnOutcome(
        {
          ...(turn.stopping ? { stopping: turn.stopping } : {}),
          timeoutMs: turn.timeoutMs,
          runs: turn.runs,
          answered: turn.pending.size === 0,
          streamed: parser.text,
        },
        this.exitInfo,
      ),
    });
  }
}

function fail(kind: RunError['kind'], message: string): RunResult {
  return { ok: false, text: '', exitCode: null, error: runError(kind, message) };
}

/** The images of a turn as image content; one that can't be read is left out (the prompt names its path). */
async function readImages(images: readonly PromptImage[] | undefined): Promise<ImageContent[]> {
  const read = await Promise.all(
    (images ?? []).map(async (i) => {
      const bytes = await readFile(i.path).catch(() => undefined);
      return bytes && { mediaType: i.mediaType, base64: bytes.toString('base64') };
    }),
  );
  return read.filter((i): i is ImageContent => !!i);
}
