/**
 * The live agent session contract: one long-lived agent CLI process per active conversation,
 * driven over the CLI's interactive protocol (Claude stream-json control messages,
 * `codex app-server` JSON-RPC, `gemini --acp`; facts in docs/ARCHITECTURE.md §7 and
 * ../shared/reference/agent-clis.md). Each turn is a user message sent to the same process;
 * the agent's approvals, questions and plans come back as {@link InteractionRequest}s that a
 * person decides in the chat.
 *
 * One implementation per backend (`src/runners/<name>/session.ts`), made by the runner's
 * `openSession` (./../types.ts `Runner.openSession`). The conversation layer owns the
 * lifecycle (idle close, LRU bound: src/conversation/live-sessions.ts).
 */
import type { AgentName, PermissionMode } from '../../core/agents.js';
import type { InteractionDecision, InteractionRequest } from '../../core/interactions.js';
import type { RunEvent, RunResult } from '../results.js';

/** How a live session starts (the same fields a one-shot `RunRequest` has, minus the prompt). */
export interface SessionOptions {
  /** Working directory; Claude and Gemini resume per directory, so keep it stable. */
  cwd: string;
  /** The agent's session id to resume; absent = a new session. */
  resumeSessionId?: string;
  /** With `resumeSessionId`: resume into a new session (Claude `--fork-session`), for thread seeding. */
  forkSession?: boolean;
  /** With `resumeSessionId`: resume only up to this assistant message (Claude `--resume-session-at`), for reruns. */
  resumeAt?: string;
  model?: string;
  permissionMode: PermissionMode;
  /** Environment of the agent process (already filtered: no agentbridge secrets). */
  env: NodeJS.ProcessEnv;
  /** Appended to the agent's system prompt where the CLI supports it. */
  systemPrompt?: string;
  /** agentbridge's MCP server for the session's lifetime (token only in the env, never argv). */
  mcp?: { url: string; token: string };
  /** ms to wait for the process to be ready (initialize answered); default 60,000. */
  startTimeoutMs?: number;
}

/** What a turn reports to its caller while it runs. */
export interface SessionTurnHandlers {
  /** Events in order (text deltas, tool steps, usage, the session id). Must not throw (errors are swallowed). */
  onEvent(event: RunEvent): void;
  /**
   * The agent asks something (a tool approval, a question, a plan). Resolves with the decision
   * whenever people decide (may take minutes); never rejects. While any such promise is pending
   * the turn's time limit is paused (the wait is not charged to the turn).
   */
  onInteraction(request: InteractionRequest): Promise<InteractionDecision>;
}

/** Options of one turn. */
/** An image file given to the agent with a prompt. */
export interface PromptImage {
  /** Absolute path of the image. */
  path: string;
  /** Its MIME type: `image/jpeg`, `image/png`, `image/gif` or `image/webp`. */
  mediaType: string;
}

export interface SessionTurnOptions {
  /**
   * Images given with the prompt, for backends that take image content (Claude: image blocks
   * in the stream-json user message); the others ignore them (the prompt names the files' paths).
   */
  images?: PromptImage[];
  /** Aborting it interrupts the turn: the protocol's interrupt first, the process-group kill after a grace. */
  signal?: AbortSignal;
  /** Limit of the turn, ms, not counting time spent waiting in `onInteraction`; on expiry the turn is interrupted with error kind `timeout`. */
  timeoutMs: number;
}

/**
 * The answer to {@link AgentSession.steer}:
 * - `taken`: the CLI accepted the text into the running turn; the running `send` resolves only
 *   after the agent dealt with it (its answer covers it). Record it as part of that turn.
 * - `not-running`: no turn runs (or it is ending): nothing was sent; queue it for the next turn.
 * - `unsupported`: this backend cannot steer (Gemini: a second prompt cancels the first); queue it.
 */
export type SteerResult = 'taken' | 'not-running' | 'unsupported';

/** One live agent process. Methods never throw for agent failures; `send` reports them in its result. */
export interface AgentSession {
  readonly agent: AgentName;
  /** The agent's session id (stored to resume later), once known; it may change after a fork. */
  readonly sessionId: string | undefined;
  /** The options it was opened with (to decide whether a conversation can reuse it). */
  readonly options: Readonly<SessionOptions>;
  /** False once the process ended (crash, close, kill); a dead session is replaced on the next turn. */
  readonly alive: boolean;
  /** True while a `send` runs. */
  readonly busy: boolean;
  /** Process id of the agent process (process group leader), for orphan reaping and tests. */
  readonly pid: number | undefined;
  /**
   * Runs one turn: sends `prompt` as a user message (over stdin, never argv) and resolves when
   * the agent finished it (and every steered text `taken` meanwhile). One turn at a time: a call
   * while busy resolves with error kind `crashed`. A session that cannot start resolves with the
   * error (`not_installed`, `crashed`, …); a missing stored session with the message
   * `isMissingSession` recognises.
   */
  send(prompt: string, handlers: SessionTurnHandlers, opts: SessionTurnOptions): Promise<RunResult>;
  /** Adds `text` to the running turn, where the backend can (see {@link SteerResult}). */
  steer(text: string): Promise<SteerResult>;
  /**
   * Ends the process: the protocol's own shutdown (stdin closed), then the process group
   * SIGTERM→SIGKILL after a grace. A running turn ends with error kind `stopped`. Idempotent.
   */
  close(): Promise<void>;
}

/** What a runner can do with live sessions; the conversation layer checks these, never agent names. */
export interface SessionCapabilities {
  /** {@link AgentSession.steer} can return `taken`. */
  steer: boolean;
  /** A stored session id can be resumed by a new live process (Gemini 0.61 cannot: `session/load` is broken). */
  resume: boolean;
  /** `forkSession` and `resumeAt` are honoured. */
  fork: boolean;
}
