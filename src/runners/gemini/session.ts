/**
 * Gemini live agent sessions: one `gemini --acp -m <model>` process per conversation, driven over
 * the Agent Client Protocol (JSON-RPC 2.0 over stdio) with the official `@agentclientprotocol/sdk`
 * client. Facts verified with gemini 0.61.0 on this machine (test/runners/gemini-session.test.ts;
 * ../../../docs/ARCHITECTURE.md §7; mapping details in ./acp-map.ts):
 *
 * - Start: `initialize` (protocol version 1; we advertise no fs/terminal capabilities, so gemini
 *   reads and writes files and runs commands itself), then `session/new {cwd, mcpServers: []}`,
 *   then `session/set_mode` to {@link GEMINI_ACP_MODE} of the permission mode when the session's
 *   current mode differs. `initialize` answered within ~1 s on an idle machine (reference notes
 *   8–12 s under load); the process is started at `open`, and the first `send` waits for it.
 * - A turn: `session/prompt {sessionId, prompt:[{type:"text",text}]}`; text and tool progress come
 *   as `session/update` notifications; the response's `stopReason` decides the outcome
 *   (`end_turn` ok; `cancelled` stopped; `max_tokens`, `max_turn_requests`, `refusal` errors);
 *   model/API failures are a JSON-RPC error of the prompt request.
 * - Approvals: `session/request_permission`, answered with the option the decision maps to
 *   (./acp-map.ts `decisionToOutcome`): `proceed_once`, `proceed_always` (gemini then skips
 *   asking for later calls of the same command root in this process), `cancel` (the tool does not
 *   run; the model gets "Tool … was canceled by the user." and the turn goes on). The turn's time
 *   limit is paused while a decision is pending.
 * - Interrupt (abort, time limit, close): `session/cancel`; a pending permission request is answered
 *   `cancelled` (ACP requires it); the prompt then resolves `stopReason: "cancelled"`. If it has not
 *   within {@link CANCEL_GRACE_MS}, the process group is killed (gemini relaunches itself as a child).
 * - No steering: a second `session/prompt` while one runs cancels the first, so {@link
 *   GeminiSession.steer} answers `unsupported` (the conversation queues the text).
 * - No resume: `session/load` fails in 0.61.0 ("No previous sessions found") and may damage the
 *   session file, so a session opened with `resumeSessionId` never starts a process: its `send`
 *   reports that at once, and the conversation resumes with the one-shot runner (`gemini -p
 *   --resume <id>` from the same cwd and Gemini home resumes an ACP-created session — verified).
 * - agentbridge's MCP server: the same overlay Gemini home as the one-shot runner
 *   (../mcp-config.ts `prepareGeminiHome`, token only in the env as `${AGENTBRIDGE_MCP_TOKEN}`),
 *   kept for the process's lifetime and finished when it exits. Made for every session, also
 *   without tools: its settings let gemini read attached files in a git work tree (./file-filtering.ts). Not ACP's `session/new`
 *   `mcpServers`: gemini 0.61.0 builds those without `trust` (bundle source `newSessionConfig`), so
 *   every agentbridge tool call would ask for approval, and their header values are taken literally
 *   (no `${VAR}` expansion).
 * - Stop: closing stdin ends `gemini --acp` (exit 0 within ~0.3 s); LiveProcess.kill then
 *   SIGTERM/SIGKILLs the group after its grace.
 */
import * as acp from '@agentclientprotocol/sdk';
import type { InteractionDecision, InteractionRequest } from '../../core/interactions.js';
import type { SessionBackend, SessionContext } from '../define.js';
import { classifyErrorText, runError } from '../errors.js';
import { prepareGeminiHome, type GeminiMcpHome } from '../mcp-config.js';
import { failedSession } from '../session/failed.js';
import { LiveProcess, type LiveProcessExit } from '../session/live-process.js';
import { TurnTimer } from '../session/turn-timer.js';
import type { AgentSession, SessionOptions, SessionTurnHandlers, SessionTurnOptions, SteerResult } from '../session/types.js';
import type { RunError, RunEvent, RunResult } from '../types.js';
import { GEMINI_ACP_MODE, AcpTurnMapper, acpPromptText, decisionToOutcome, permissionToInteraction, usageFromPromptMeta } from './acp-map.js';
import { lineStream, type LineStream } from './acp-stream.js';
import { providerMessage, stderrTail } from './events.js';
import { DEFAULT_GEMINI_MODEL } from './model.js';

/** ms between `session/cancel` and killing the process group when the turn has not ended. */
export const CANCEL_GRACE_MS = 5_000;
/** Default ms to wait for `initialize` + `session/new` + `session/set_mode`. */
export const DEFAULT_START_TIMEOUT_MS = 60_000;

/**
 * The error of a live session opened with `resumeSessionId`: gemini 0.61.0 cannot resume over ACP.
 * Worded so that `isMissingSession` does not match it (the stored session is fine).
 */
export const GEMINI_LIVE_RESUME_UNSUPPORTED =
  'Gemini CLI 0.61.0 cannot resume a stored session in a live ACP process (session/load is broken in this version); resume it with a one-shot turn (gemini -p --resume)';

/** gemini's live-session backend (capabilities: no steering, no resume, no fork). */
export const geminiSession: SessionBackend = {
  capabilities: { steer: false, resume: false, fork: false },
  open(options, ctx) {
    if (options.resumeSessionId) return failedSession('gemini', options, runError('crashed', GEMINI_LIVE_RESUME_UNSUPPORTED));
    return new GeminiSession(options, ctx);
  },
};

interface Turn {
  handlers: SessionTurnHandlers;
  mapper: AcpTurnMapper;
  timer?: TurnTimer;
  /** Why we interrupted it, once we did. */
  stopReason?: 'stopped' | 'timeout';
  /** Resolves when the turn is interrupted. */
  interrupted: Promise<void>;
  markInterrupted(): void;
  promptSent: boolean;
  killTimer?: NodeJS.Timeout;
  timeoutMs: number;
}

/** One `gemini --acp` process (see the module doc). */
export class GeminiSession implements AgentSession {
  readonly agent = 'gemini';
  private currentSessionId?: string;
  private readonly live: LiveProcess;
  private readonly lines: LineStream;
  private readonly conn: acp.ClientConnection;
  private readonly ready: Promise<RunError | undefined>;
  private readonly mcpHome?: GeminiMcpHome;
  private readonly mcpMissing: boolean;
  private turn?: Turn;
  private closed = false;
  private startFailed = false;
  private exitInfo?: LiveProcessExit;

  constructor(
    readonly options: SessionOptions,
    private readonly ctx: SessionContext,
  ) {
    let env = ctx.env;
    // Always an overlay home: agentbridge's tools (when given) and readable attached files (./file-filtering.ts).
    this.mcpHome = prepareGeminiHome(env, { mcp: options.mcp, cwd: options.cwd });
    if (this.mcpHome) env = this.mcpHome.env;
    this.mcpMissing = !!options.mcp && !this.mcpHome;
    this.lines = lineStream((m) => this.live.writeJson(m));
    const app = acp
      .client({ name: 'agentbridge' })
      .onNotification('session/update', ({ params }) => this.onUpdate(params))
      .onRequest('session/request_permission', ({ params, signal }) => this.onPermission(params, signal));
    this.live = new LiveProcess({
      bin: ctx.bin,
      args: ['--acp', '-m', options.model || DEFAULT_GEMINI_MODEL],
      cwd: options.cwd,
      env,
      onLine: (line) => this.lines.push(line),
      onExit: (info) => {
        this.exitInfo = info;
        this.lines.end();
        this.mcpHome?.finish();
      },
    });
    this.conn = app.connect(this.lines.stream);
    this.ready = this.start();
  }

  get sessionId(): string | undefined {
    return this.currentSessionId;
  }

  get alive(): boolean {
    return !this.closed && !this.startFailed && this.live.alive;
  }

  get busy(): boolean {
    return this.turn !== undefined;
  }

  get pid(): number | undefined {
    return this.live.pid;
  }

  async send(prompt: string, handlers: SessionTurnHandlers, opts: SessionTurnOptions): Promise<RunResult> {
    if (this.turn) return { ok: false, text: '', exitCode: null, error: runError('crashed', 'a turn is already running in this Gemini session') };
    let markInterrupted!: () => void;
    const interrupted = new Promise<void>((r) => (markInterrupted = r));
    const turn: Turn = { handlers, mapper: new AcpTurnMapper(), interrupted, markInterrupted, promptSent: false, timeoutMs: opts.timeoutMs };
    this.turn = turn;
    const onAbort = () => this.interrupt(turn, 'stopped');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (opts.signal?.aborted) this.interrupt(turn, 'stopped');
      const started = await Promise.race([this.ready, interrupted.then(() => 'interrupted' as const)]);
      if (started === 'interrupted') return this.result(turn);
      if (started) return { ok: false, text: '', exitCode: this.exitInfo?.exitCode ?? null, error: started };
      if (this.closed || !this.live.alive) return this.result(turn, undefined, this.deadError());
      const sessionId = this.currentSessionId!;
      emit(handlers, { type: 'session', sessionId });
      if (this.mcpMissing)
        emit(handlers, { type: 'warning', message: 'agentbridge tools are not available in this session: the Gemini CLI settings could not be prepared' });
      turn.timer = new TurnTimer(opts.timeoutMs, () => this.interrupt(turn, 'timeout'));
      turn.promptSent = true;
      let response: acp.PromptResponse;
      try {
        response = await this.conn.agent.request('session/prompt', { sessionId, prompt: [{ type: 'text', text: acpPromptText(prompt) }] });
      } catch (err) {
        return this.result(turn, undefined, this.promptError(err));
      }
      return this.result(turn, response);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      turn.timer?.clear();
      clearTimeout(turn.killTimer);
      if (this.turn === turn) this.turn = undefined;
    }
  }

  /** Always `unsupported`: a second `session/prompt` cancels the running one (verified with 0.61.0). */
  steer(): Promise<SteerResult> {
    return Promise.resolve('unsupported');
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      if (this.turn) this.interrupt(this.turn, 'stopped', false);
    }
    await this.live.kill(this.ctx.runnerOptions.killGraceMs ?? 3000);
    this.conn.close();
  }

  /** initialize → session/new → session/set_mode; resolves with the error instead of throwing. */
  private async start(): Promise<RunError | undefined> {
    const limitMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((r) => (timer = setTimeout(() => r('expired'), limitMs)));
    try {
      const outcome = await Promise.race([this.handshake(), expired]);
      if (outcome === 'expired')
        return await this.failStart(runError('crashed', `Gemini CLI did not start its ACP session within ${Math.round(limitMs / 1000)} s`));
      return undefined;
    } catch (err) {
      return await this.failStart(this.startError(err));
    } finally {
      clearTimeout(timer);
    }
  }

  private async handshake(): Promise<void> {
    const agent = this.conn.agent;
    await agent.request('initialize', {
      protocolVersion: acp.PROTOCOL_VERSION,
      clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false },
    });
    const created = await agent.request('session/new', { cwd: this.options.cwd, mcpServers: [] });
    this.currentSessionId = created.sessionId;
    const mode = GEMINI_ACP_MODE[this.options.permissionMode];
    const modes = created.modes;
    if (modes && !modes.availableModes.some((m) => m.id === mode)) {
      throw new Error(`Gemini CLI does not offer the session mode "${mode}" (offered: ${modes.availableModes.map((m) => m.id).join(', ')})`);
    }
    if (modes?.currentModeId !== mode) await agent.request('session/set_mode', { sessionId: created.sessionId, modeId: mode });
  }

  private async failStart(error: RunError): Promise<RunError> {
    this.startFailed = true;
    await this.live.kill(1000);
    return error;
  }

  private startError(err: unknown): RunError {
    if (this.exitInfo) return this.deadError();
    const e = err as { code?: unknown; message?: unknown };
    const message = typeof e?.message === 'string' ? e.message : String(err);
    // gemini answers a failed auth with -32000 "Authentication required." or the auth error (bundle source).
    if (e?.code === -32000) return runError('not_authenticated', `Gemini CLI: ${message}`);
    return runError(classifyErrorText(message), `Gemini CLI could not start a session: ${message}`);
  }

  private promptError(err: unknown): RunError {
    if (this.exitInfo || !this.live.alive) return this.deadError();
    const message = err instanceof Error ? err.message : String(err);
    return runError(classifyErrorText(message), providerMessage(message));
  }

  /** The error of a process that is gone: spawn failure → not_installed/crashed, else how it ended. */
  private deadError(): RunError {
    const info = this.exitInfo;
    if (this.closed) return runError('stopped', 'the Gemini session was closed');
    if (!info) return runError('crashed', 'the Gemini CLI process ended');
    if (info.spawnError) {
      const code = info.spawnError.code ?? '';
      const kind = code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR' ? 'not_installed' : 'crashed';
      return runError(kind, `cannot start ${this.ctx.bin}: ${code || info.spawnError.message}`);
    }
    const how = info.exitCode === null ? `killed by ${info.exitSignal ?? 'a signal'}` : `exit code ${info.exitCode}`;
    const tail = stderrTail(info.stderr);
    return runError('crashed', `Gemini CLI ended (${how})${tail ? `: ${tail}` : ''}`);
  }

  /** The turn's result from the prompt response (or the error); an interrupt we made wins. */
  private result(turn: Turn, response?: acp.PromptResponse, error?: RunError): RunResult {
    const usage = usageFromPromptMeta(response?._meta);
    if (usage) emit(turn.handlers, { type: 'usage', usage });
    const base = {
      text: turn.mapper.text,
      exitCode: this.exitInfo ? this.exitInfo.exitCode : null,
      ...(this.currentSessionId ? { sessionId: this.currentSessionId } : {}),
      ...(usage ? { usage } : {}),
    };
    if (turn.stopReason === 'timeout') return { ...base, ok: false, error: runError('timeout', `no answer within ${Math.round(turn.timeoutMs / 1000)} s`) };
    if (turn.stopReason === 'stopped') return { ...base, ok: false, error: runError('stopped', 'stopped on request') };
    if (error) return { ...base, ok: false, error };
    switch (response?.stopReason) {
      case 'end_turn':
        return { ...base, ok: true };
      case 'cancelled':
        return { ...base, ok: false, error: runError('stopped', 'Gemini CLI cancelled the turn') };
      case 'max_tokens':
        return { ...base, ok: false, error: runError('api_error', 'Gemini CLI stopped: the context window is full (max_tokens)') };
      case 'max_turn_requests':
        return { ...base, ok: false, error: runError('usage_limit', 'Gemini CLI stopped: turn limit reached or a loop was detected (max_turn_requests)') };
      case 'refusal':
        return { ...base, ok: false, error: runError('api_error', 'the model refused to answer') };
      default:
        return { ...base, ok: false, error: runError('crashed', 'Gemini CLI ended the turn without a stop reason') };
    }
  }

  /**
   * Interrupts `turn`: `session/cancel` when its prompt was sent, pending permission requests
   * answered `cancelled`, and after {@link CANCEL_GRACE_MS} the process group killed if the turn
   * still runs. `killLater` false: the caller ends the process itself (close).
   */
  private interrupt(turn: Turn, reason: 'stopped' | 'timeout', killLater = true): void {
    if (turn.stopReason) return;
    turn.stopReason = reason;
    turn.markInterrupted();
    if (!turn.promptSent || !this.currentSessionId) return;
    this.conn.agent.notify('session/cancel', { sessionId: this.currentSessionId }).catch(() => {});
    if (killLater) {
      turn.killTimer = setTimeout(() => {
        if (this.turn === turn) void this.live.kill(1000);
      }, CANCEL_GRACE_MS);
    }
  }

  private onUpdate(params: acp.SessionNotification): void {
    const turn = this.turn;
    // Updates before the prompt (e.g. from the start's session/set_mode) belong to no turn.
    if (!turn || !turn.promptSent || params.sessionId !== this.currentSessionId) return;
    for (const event of turn.mapper.push(params.update)) emit(turn.handlers, event);
  }

  private async onPermission(params: acp.RequestPermissionRequest, signal: AbortSignal): Promise<acp.RequestPermissionResponse> {
    const cancelled: acp.RequestPermissionResponse = { outcome: { outcome: 'cancelled' } };
    const turn = this.turn;
    if (!turn || turn.stopReason || params.sessionId !== this.currentSessionId) return cancelled;
    const request: InteractionRequest = permissionToInteraction(params.toolCall);
    const aborted = new Promise<undefined>((r) => {
      if (signal.aborted) r(undefined);
      signal.addEventListener('abort', () => r(undefined), { once: true });
    });
    turn.timer?.pause();
    let decision: InteractionDecision | undefined;
    try {
      decision = await Promise.race([ask(turn.handlers, request), turn.interrupted.then(() => undefined), aborted]);
    } finally {
      turn.timer?.resume();
    }
    if (!decision || turn.stopReason) return cancelled;
    return { outcome: decisionToOutcome(decision, params.options) };
  }
}

/** The handler's decision; a throwing or rejecting handler counts as a denial (fail closed). */
async function ask(handlers: SessionTurnHandlers, request: InteractionRequest): Promise<InteractionDecision> {
  try {
    return await handlers.onInteraction(request);
  } catch (err) {
    return { kind: 'deny', message: `approval failed: ${String(err)}` };
  }
}

function emit(handlers: SessionTurnHandlers, event: RunEvent): void {
  try {
    handlers.onEvent(event);
  } catch {
    /* a listener bug must not break the turn */
  }
}
