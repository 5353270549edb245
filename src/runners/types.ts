/**
 * The Runner contract. A runner spawns an agent CLI non-interactively for one turn, parses its
 * JSON lines into {@link RunEvent}s and returns a {@link RunResult}. Every runner is a
 * `defineRunner` definition (./define.ts: run and probe are implemented once there) listed in the
 * registry (./registry.ts). Facts about the CLIs: docs/ARCHITECTURE.md §7 (verified by test/runners/*.test.ts).
 */

import type { AgentName, PermissionMode } from '../core/agents.js';
import type { AgentSession, SessionCapabilities, SessionOptions } from './session/types.js';
import type { SessionFileLocation, SessionFilesContext } from './session-files.js';

export type { SessionFileLocation, SessionFilesContext } from './session-files.js';

/** One turn's input. */
export interface RunRequest {
  prompt: string;
  /** Working directory; Claude and Gemini resume sessions per directory, so keep it stable. */
  cwd: string;
  /** The agent's own session id from the previous turn, to resume. */
  resumeSessionId?: string;
  /** Runners with the `fork` capability (Claude): resume from `resumeSessionId` into a new session (`--fork-session`). */
  forkSession?: boolean;
  /**
   * Runners with the `resumeAt` capability (Claude), with `resumeSessionId`: resume the session only up to and including this
   * assistant message (its stream-json `uuid`; `--resume-session-at`), dropping whatever the
   * CLI wrote after it — used to rerun an interrupted turn from the last committed point.
   */
  resumeAt?: string;
  model?: string;
  permissionMode: PermissionMode;
  /** Aborting it stops the turn (process group: SIGINT → SIGTERM → SIGKILL). */
  signal?: AbortSignal;
  /** Hard limit for the turn, ms; on expiry the turn is stopped with error kind `timeout`. */
  timeoutMs: number;
  /** Environment for the agent process (the caller's full environment plus overrides). */
  env: NodeJS.ProcessEnv;
  /** Extra text appended to the agent's system prompt, when the CLI supports it. */
  systemPrompt?: string;
  /**
   * agentbridge's MCP server for this turn (Streamable HTTP), registered in the agent as the
   * server named `agentbridge` (tools appear to Claude as `mcp__agentbridge__<tool>`). `token` is
   * the turn's bearer token; it must not appear in argv (other local users can read argv).
   */
  mcp?: { url: string; token: string };
}

export type { RunEvent, RunErrorKind, RunError, RunResult } from './results.js';
import type { RunEvent, RunResult } from './results.js';

/** What `agentbridge doctor` reports for one agent; the same shape for every runner (./define.ts `probe`). */
export interface RunnerProbe {
  agent: AgentName;
  installed: boolean;
  /** Resolved executable path, when found. */
  bin?: string;
  version?: string;
  /**
   * Why no version could be read, when installed without one, e.g.
   * `` `gemini --version` timed out after 10 s `` (../define.ts `versionProblem`).
   */
  versionError?: string;
  /** true/false when it could be determined from env/config files; 'unknown' otherwise. */
  authenticated: boolean | 'unknown';
  /** One line for people: `<command> <version> at <bin>; <auth detail>`, or why it is not installed. */
  detail: string;
}

/** One agent CLI, ready to run turns: made from its definition by `createRunner` (./define.ts). */
export interface Runner {
  readonly agent: AgentName;
  /** Runs one turn. Never throws for agent failures: they come back as `RunResult.error`. */
  run(req: RunRequest, onEvent: (event: RunEvent) => void): Promise<RunResult>;
  /** Checks installation, version and authentication without calling a model. */
  probe(env: NodeJS.ProcessEnv): Promise<RunnerProbe>;
  /** What its live sessions can do; absent when the runner has none. */
  readonly sessionCapabilities?: SessionCapabilities;
  /**
   * Opens a live agent session (./session/types.ts): one process for many turns, with approvals,
   * questions and steering. Absent for runners that only run one process per turn. Never throws:
   * a session that cannot start reports it from its first `send`.
   */
  openSession?(options: SessionOptions): AgentSession;
  /**
   * Where this host keeps the files of agent session `ctx.sessionId` (`ctx.env`: the agent
   * environment, as for a turn); absent when the runner declares none (../runners/session-files.ts).
   */
  sessionFiles?(ctx: SessionFilesContext): SessionFileLocation;
}
