/**
 * The Codex live agent session: one `codex app-server` process (JSON-RPC 2.0 over stdio, one JSON
 * object per line; ./rpc.ts) per conversation, many turns in one thread. Verified with
 * @openai/codex 0.169.0 on this machine against the scripted Responses API server
 * (test/runners/codex-session.test.ts); protocol types pinned in ./protocol/.
 *
 * argv: `codex app-server [-c mcp_servers.agentbridge.… (../mcp-config.ts)] [-c k=v …
 * (RunnerOptions.configOverrides)]` — `codex app-server` takes the same `-c key=value` overrides as
 * `codex exec` (its --help; the mock provider of the tests works through them). The MCP token is
 * only in the env (AGENTBRIDGE_MCP_TOKEN), the prompt only on stdin, the system prompt in
 * `thread/start.developerInstructions`.
 *
 * Start (the process is ready ~0.1–0.3 s after spawn here; the first turn waits for it):
 *   → `initialize {clientInfo, capabilities: {experimentalApi: false, requestAttestation: false}}`
 *   → notification `initialized`
 *   → `thread/start {cwd, approvalPolicy, sandbox, model?, developerInstructions?}` or
 *     `thread/resume {threadId, excludeTurns: true, …the same settings}` → `thread.id` is the
 *     session id. A thread that is gone fails with "no rollout found for thread id …"; it is
 *     reported as "thread/resume failed: …", which the definition's `isMissingSession` recognises.
 *
 * Permission modes → thread settings: {@link CODEX_THREAD_SETTINGS} (./session-requests.ts):
 *   read-only → sandbox `read-only`, approvalPolicy `never`; ask → `read-only` + `on-request`;
 *   edit → `workspace-write` + `on-request`; full → `danger-full-access` + `never`.
 *   With `on-request`, codex asks only when the model asks to leave the sandbox
 *   (`exec_command` with `sandbox_permissions: "require_escalated"`).
 *
 * A turn: `turn/start {threadId, input: [{type: "text", text, text_elements: []}]}` → `{turn: {id}}`;
 * notifications (./session-events.ts) until `turn/completed {turn: {status, error}}`. Requests of
 * codex while it runs (approvals, questions: ./session-requests.ts) go to
 * `SessionTurnHandlers.onInteraction`, with the turn's {@link TurnTimer} paused until decided.
 * Steering: `turn/steer {threadId, expectedTurnId, input}` → `{turnId}`; it lands in the running
 * turn (codex restarts the model call with the text; one `turn/completed`); after the turn ended
 * it fails with "no active turn to steer" → `not-running`. Stop/timeout: `turn/interrupt
 * {threadId, turnId}` (the turn completes as `interrupted` within milliseconds); if it has not
 * ended {@link INTERRUPT_GRACE_MS} later the process group is killed. The process stays up for
 * the next turn otherwise. `close()` closes stdin (codex exits at once), then SIGTERM/SIGKILL.
 *
 * Requests of codex agentbridge does not serve (`item/tool/call`, auth refresh, attestation,
 * the legacy v1 approvals) are answered with a JSON-RPC "method not found" error.
 */
import { z } from 'zod';
import { CodexTurnEvents } from './session-events.js';
import { CODEX_THREAD_SETTINGS, INTERACTIVE_METHODS, mapServerRequest } from './session-requests.js';
import { JsonRpcPeer, RPC_METHOD_NOT_FOUND, RpcClosedError, RpcError, type RpcId } from './rpc.js';
import { classifyErrorText, runError } from '../errors.js';
import { codexMcpOverrides } from '../mcp-config.js';
import { LiveProcess, type LiveProcessExit } from '../session/live-process.js';
import { TurnTimer } from '../session/turn-timer.js';
import type { SessionBackend, SessionContext } from '../define.js';
import type { InteractionDecision, InteractionRequest } from '../../core/interactions.js';
import type { RunError, RunEvent, RunResult } from '../types.js';
import type { AgentSession, SessionOptions, SessionTurnHandlers, SessionTurnOptions, SteerResult } from '../session/types.js';
import type { InitializeParams, ThreadResumeParams, ThreadStartParams, TurnStartParams, TurnSteerParams, UserInput } from './protocol/types.js';

/** ms between `turn/interrupt` and killing the process when the turn has not ended. */
export const INTERRUPT_GRACE_MS = 5000;
/** Default ms to wait for `initialize` and the thread (SessionOptions.startTimeoutMs). */
const DEFAULT_START_TIMEOUT_MS = 60_000;
/** Kill grace of `close()` (stdin closed → SIGTERM → SIGKILL), ms, unless RunnerOptions.killGraceMs. */
const DEFAULT_KILL_GRACE_MS = 3000;
const CLIENT_INFO = { name: 'agentbridge', title: 'agentbridge', version: '1' };

const threadResponse = z.object({ thread: z.object({ id: z.string().min(1) }) });
const turnResponse = z.object({ turn: z.object({ id: z.string().min(1) }) });

/** The codex runner's live sessions (../define.ts `SessionBackend`). No fork or resume-at in app-server 0.169.0's stable API. */
export const codexSession: SessionBackend = {
  capabilities: { steer: true, resume: true, fork: false },
  open: (options, ctx) => new CodexSession(options, ctx),
};

/**
 * Lets the model ask the people questions (`request_user_input` → `item/tool/requestUserInput`)
 * outside plan mode. Verified with codex 0.169.0: without it the tool is offered in plan mode
 * only ("request_user_input is unavailable in Default mode"); the feature is marked "under
 * development" by codex, so a configured override (`-c features.…=false`) turns it off again.
 */
export const CODEX_USER_INPUT_FEATURE = 'features.default_mode_request_user_input=true';

/** argv after the executable (see the module doc); `configOverrides` come last, so they win. */
export function codexAppServerArgs(options: Pick<SessionOptions, 'mcp'>, configOverrides: readonly string[] = []): string[] {
  const args = ['app-server', '-c', CODEX_USER_INPUT_FEATURE];
  if (options.mcp) for (const kv of codexMcpOverrides(options.mcp)) args.push('-c', kv);
  for (const kv of configOverrides) args.push('-c', kv);
  return args;
}

/** The `thread/start` / `thread/resume` settings of a session (permission mode, cwd, model, system prompt). */
export function threadSettings(options: SessionOptions): ThreadStartParams {
  return {
    cwd: options.cwd,
    ...CODEX_THREAD_SETTINGS[options.permissionMode],
    ...(options.model ? { model: options.model } : {}),
    ...(options.systemPrompt ? { developerInstructions: options.systemPrompt } : {}),
  };
}

interface RunningTurn {
  id?: string;
  events: CodexTurnEvents;
  handlers: SessionTurnHandlers;
  /** Set once the thread is ready (the wait for the process is not charged to the turn). */
  timer?: TurnTimer;
  timeoutMs: number;
  /** Why agentbridge is ending the turn, once it is. */
  stopping?: 'stopped' | 'timeout';
  finished: boolean;
  finish(result: RunResult): void;
  /** Resolves when the turn id is known or the turn finished. */
  started: Promise<void>;
  markStarted(): void;
  graceTimer?: NodeJS.Timeout;
}

class CodexSession implements AgentSession {
  readonly agent = 'codex';
  private readonly proc: LiveProcess;
  private readonly rpc: JsonRpcPeer;
  private threadId?: string;
  private readonly ready: Promise<RunError | undefined>;
  private turn?: RunningTurn;
  private closed = false;
  private startFailed = false;
  private exit?: LiveProcessExit;

  constructor(
    readonly options: SessionOptions,
    private readonly ctx: SessionContext,
  ) {
    this.proc = new LiveProcess({
      bin: ctx.bin,
      args: codexAppServerArgs(options, ctx.runnerOptions.configOverrides),
      cwd: options.cwd,
      env: ctx.env,
      onLine: (line) => this.rpc.handleLine(line),
      onExit: (info) => this.exited(info),
    });
    this.rpc = new JsonRpcPeer((m) => this.proc.writeJson(m), {
      onNotification: (method, params) => this.notification(method, params),
      onRequest: (id, method, params) => this.serverRequest(id, method, params),
    });
    this.ready = this.start();
  }

  get sessionId(): string | undefined {
    return this.threadId ?? this.options.resumeSessionId;
  }

  get alive(): boolean {
    return this.proc.alive && !this.closed && !this.startFailed;
  }

  get busy(): boolean {
    return this.turn !== undefined;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  async send(prompt: string, handlers: SessionTurnHandlers, opts: SessionTurnOptions): Promise<RunResult> {
    if (this.turn) return this.failed(runError('crashed', 'a turn is already running in this session'));
    let resolve!: (r: RunResult) => void;
    const done = new Promise<RunResult>((r) => (resolve = r));
    let markStarted!: () => void;
    const started = new Promise<void>((r) => (markStarted = r));
    const turn: RunningTurn = {
      events: new CodexTurnEvents('', this.options.cwd),
      handlers,
      timeoutMs: opts.timeoutMs,
      finished: false,
      finish: (r) => {
        if (turn.finished) return;
        turn.finished = true;
        markStarted();
        resolve(r);
      },
      started,
      markStarted,
    };
    this.turn = turn;
    const onAbort = () => this.stop(turn, 'stopped');
    try {
      if (opts.signal?.aborted) return this.failed(runError('stopped', 'stopped on request'));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const startError = await Promise.race([this.ready, done.then(() => undefined)]);
      if (turn.finished) return await done;
      if (startError) return this.failed(startError);
      const threadId = this.threadId!;
      turn.events = new CodexTurnEvents(threadId, this.options.cwd);
      turn.timer = new TurnTimer(opts.timeoutMs, () => this.stop(turn, 'timeout'));
      this.emit(turn, [{ type: 'session', sessionId: threadId }]);
      const params: TurnStartParams = { threadId, input: [textInput(prompt)] };
      this.rpc.request('turn/start', params).then(
        (res) => {
          const parsed = turnResponse.safeParse(res);
          if (!parsed.success) {
            turn.finish(this.result(turn, runError('crashed', 'codex answered turn/start without a turn id')));
            return;
          }
          turn.id = parsed.data.turn.id;
          turn.events.setTurnId(turn.id);
          turn.markStarted();
          if (turn.stopping) this.interrupt(turn);
        },
        (err: unknown) => turn.finish(this.result(turn, this.requestError('turn/start', err))),
      );
      return await done;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      turn.timer?.clear();
      clearTimeout(turn.graceTimer);
      if (this.turn === turn) this.turn = undefined;
    }
  }

  async steer(text: string): Promise<SteerResult> {
    const turn = this.turn;
    if (!turn || turn.stopping || turn.finished) return 'not-running';
    await turn.started;
    if (!turn.id || turn.stopping || turn.finished || turn.events.end || !this.threadId) return 'not-running';
    const params: TurnSteerParams = { threadId: this.threadId, expectedTurnId: turn.id, input: [textInput(text)] };
    try {
      await this.rpc.request('turn/steer', params);
      return 'taken';
    } catch {
      // "no active turn to steer" (the turn ended meanwhile), or the process is gone.
      return 'not-running';
    }
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      const turn = this.turn;
      if (turn) turn.finish(this.result(turn, runError('stopped', 'the session was closed')));
    }
    await this.proc.kill(this.ctx.runnerOptions.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
  }

  /** initialize → initialized → thread/start|resume; on failure the process is ended. */
  private async start(): Promise<RunError | undefined> {
    const limitMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<RunError>((r) => {
      timer = setTimeout(() => r(runError('crashed', `codex app-server was not ready within ${Math.round(limitMs / 1000)} s`)), limitMs);
    });
    const error = await Promise.race([this.handshake(), timeout]);
    clearTimeout(timer);
    if (error) {
      this.startFailed = true;
      void this.proc.kill(this.ctx.runnerOptions.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
    }
    return error;
  }

  private async handshake(): Promise<RunError | undefined> {
    try {
      const init: InitializeParams = { clientInfo: CLIENT_INFO, capabilities: { experimentalApi: false, requestAttestation: false } };
      await this.rpc.request('initialize', init);
      this.rpc.notify('initialized');
    } catch (err) {
      return this.requestError('initialize', err);
    }
    const settings = threadSettings(this.options);
    const resume = this.options.resumeSessionId;
    const method = resume ? 'thread/resume' : 'thread/start';
    try {
      const params: ThreadStartParams | ThreadResumeParams = resume ? { ...settings, threadId: resume, excludeTurns: true } : settings;
      const parsed = threadResponse.safeParse(await this.rpc.request(method, params));
      if (!parsed.success) return runError('crashed', `codex answered ${method} without a thread id`);
      this.threadId = parsed.data.thread.id;
      return undefined;
    } catch (err) {
      return this.requestError(method, err);
    }
  }

  /** The error of a failed request: "<method> failed: <codex's message>", or why the process ended. */
  private requestError(method: string, err: unknown): RunError {
    if (err instanceof RpcError) return runError(method === 'turn/start' ? classifyErrorText(err.message) : 'crashed', `${method} failed: ${err.message}`);
    if (err instanceof RpcClosedError && this.exit) return this.exitError(this.exit);
    return runError('crashed', `${method} failed: ${err instanceof Error ? err.message : String(err)}`);
  }

  private exitError(info: LiveProcessExit): RunError {
    if (info.spawnError) {
      const code = info.spawnError.code ?? '';
      const kind = code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR' ? 'not_installed' : 'crashed';
      return runError(kind, `cannot start ${this.ctx.bin}: ${code || info.spawnError.message}`);
    }
    const how = info.exitCode === null ? `killed by ${info.exitSignal ?? 'a signal'}` : `exit code ${info.exitCode}`;
    const tail = stderrTail(info.stderr);
    return runError('crashed', `codex app-server ended (${how})${tail ? `: ${tail}` : ''}`);
  }

  private exited(info: LiveProcessExit): void {
    this.exit = info;
    this.rpc.close('codex app-server ended');
    const turn = this.turn;
    if (!turn) return;
    this.emit(turn, turn.events.finish());
    turn.finish(this.result(turn, turn.stopping ? this.stopError(turn) : this.exitError(info)));
  }

  /** Interrupts the turn (abort or timeout); kills the process if it has not ended after the grace. */
  private stop(turn: RunningTurn, why: 'stopped' | 'timeout'): void {
    if (turn.finished || turn.stopping) return;
    turn.stopping = why;
    turn.timer?.clear();
    if (!this.threadId) {
      // Still starting: nothing runs in codex yet; the turn ends here and the process stays.
      turn.finish(this.result(turn, this.stopError(turn)));
      return;
    }
    if (turn.id) this.interrupt(turn);
    turn.graceTimer = setTimeout(() => {
      if (turn.finished) return;
      void this.proc.kill(this.ctx.runnerOptions.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
    }, INTERRUPT_GRACE_MS);
  }

  private interrupt(turn: RunningTurn): void {
    this.rpc.request('turn/interrupt', { threadId: this.threadId!, turnId: turn.id! }).catch(() => {
      /* the turn ended meanwhile, or the process is gone: the grace timer / exit handler decide */
    });
  }

  private stopError(turn: RunningTurn): RunError {
    return turn.stopping === 'timeout'
      ? runError('timeout', `no answer within ${Math.round(turn.timeoutMs / 1000)} s`)
      : runError('stopped', 'stopped on request');
  }

  private notification(method: string, params: unknown): void {
    const turn = this.turn;
    if (!turn || turn.finished || !this.threadId) return;
    this.emit(turn, turn.events.push(method, params));
    const end = turn.events.end;
    if (!end) return;
    let error: RunError | undefined;
    if (end.status === 'interrupted') error = turn.stopping ? this.stopError(turn) : runError('stopped', 'the turn was interrupted');
    else if (end.status === 'failed') {
      const message = end.error || turn.events.lastError || 'the turn failed';
      error = runError(classifyErrorText(message), message);
    }
    turn.finish(this.result(turn, error));
  }

  private serverRequest(id: RpcId, method: string, params: unknown): void {
    if (!INTERACTIVE_METHODS.has(method)) {
      this.rpc.respondError(id, RPC_METHOD_NOT_FOUND, `agentbridge does not handle ${method}`);
      return;
    }
    const turn = this.turn;
    const mapped = mapServerRequest(method, params, (itemId) => turn?.events.fileChanges(itemId));
    if (!mapped) return;
    if (mapped.kind === 'refuse') {
      if (turn) this.emit(turn, [{ type: 'warning', message: mapped.note }]);
      this.rpc.respond(id, mapped.result);
      return;
    }
    if (!turn || turn.finished) {
      this.rpc.respond(id, mapped.respond({ kind: 'cancel', message: 'no turn is running' }));
      return;
    }
    const decided = this.ask(turn.handlers, mapped.request);
    void (turn.timer ? turn.timer.paused(decided) : decided).then((decision) => this.rpc.respond(id, mapped.respond(decision)));
  }

  /** handlers.onInteraction, never rejecting (a handler bug cancels the request). */
  private async ask(handlers: SessionTurnHandlers, request: InteractionRequest): Promise<InteractionDecision> {
    try {
      return await handlers.onInteraction(request);
    } catch (err) {
      return { kind: 'cancel', message: `agentbridge could not ask: ${String(err)}` };
    }
  }

  private emit(turn: RunningTurn, events: RunEvent[]): void {
    for (const e of events) {
      try {
        turn.handlers.onEvent(e);
      } catch {
        /* a listener bug must not break the turn */
      }
    }
  }

  private result(turn: RunningTurn, error?: RunError): RunResult {
    const st = turn.events;
    return {
      ok: !error,
      text: st.text,
      ...(this.threadId ? { sessionId: this.threadId } : {}),
      ...(st.usage ? { usage: st.usage } : {}),
      ...(error ? { error } : {}),
      exitCode: this.exit ? this.exit.exitCode : null,
    };
  }

  private failed(error: RunError): RunResult {
    return { ok: false, text: '', ...(this.sessionId ? { sessionId: this.sessionId } : {}), error, exitCode: this.exit ? this.exit.exitCode : null };
  }
}

function textInput(text: string): UserInput {
  return { type: 'text', text, text_elements: [] };
}

/** The last meaningful stderr lines (ANSI codes and codex's start-up noise removed), ≤ 400 characters. */
function stderrTail(stderr: string): string {
  const noise = [/could not create PATH aliases/, /Refusing to create helper binaries/, /could not find bubblewrap/];
  const lines = stderr
    // eslint-disable-next-line no-control-regex -- ANSI escape sequences start with ESC
    .replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !noise.some((re) => re.test(l)));
  const tail = lines.slice(-5).join(' | ');
  return tail.length > 400 ? `…${tail.slice(-399)}` : tail;
}
