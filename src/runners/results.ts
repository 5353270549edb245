/**
 * What a turn reports: its events while it runs and its result (shared by one-shot runs,
 * ./types.ts, and live agent sessions, ./session/types.ts). Re-exported by ./types.ts.
 */
import type { Usage } from '../core/agents.js';

/** Events a runner emits while a turn runs, in order. */
export type RunEvent =
  | { type: 'session'; sessionId: string }
  /** Assistant text. `delta` is appended to the answer so far. */
  | { type: 'text'; delta: string }
  | { type: 'tool_start'; id: string; name: string; /** one line, ≤ 200 characters */ summary: string }
  | { type: 'tool_end'; id: string; name: string; ok: boolean; summary?: string }
  | { type: 'usage'; usage: Usage }
  /** A non-fatal warning (e.g. "Reconnecting…"); fatal errors come in the result. */
  | { type: 'warning'; message: string };

/** Why a turn failed; each kind has a user-facing explanation (`describeRunError`, src/runners/registry.ts). */
export type RunErrorKind = 'not_installed' | 'not_authenticated' | 'usage_limit' | 'api_error' | 'timeout' | 'stopped' | 'crashed';

export interface RunError {
  kind: RunErrorKind;
  /** Detail for the user, e.g. the provider's error message. Never contains secrets. */
  message: string;
}

/** A turn's outcome. `ok` is decided from the final event first, then the exit code. */
export interface RunResult {
  ok: boolean;
  /** The final answer text (may be partial when `ok` is false). */
  text: string;
  /** The agent's session id to resume next time (latest seen). */
  sessionId?: string;
  /**
   * Runners with the `resumeAt` capability (Claude): the `uuid` of the turn's last assistant message (main agent, not synthetic
   * error notices) — the point {@link RunRequest.resumeAt} can resume at after this turn.
   */
  resumeAt?: string;
  usage?: Usage;
  error?: RunError;
  /** Process exit code, or null when killed by a signal. */
  exitCode: number | null;
}
