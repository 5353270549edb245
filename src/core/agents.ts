/**
 * Core agent types shared by every layer: agent names, the permission levels and the token usage
 * a turn reports. The runner contract itself is in `src/runners/types.ts`.
 */

/**
 * The name of an agent CLI, as used in configuration (AGENTBRIDGE_AGENT), commands and the
 * database: the `name` of a runner in the runner registry (src/runners/registry.ts; built in:
 * `claude`, `codex`, `gemini`). A string, not a union: runners are registered at run time (the
 * registry can be extended), so which names exist is decided there — `isAgentName` checks one.
 */
export type AgentName = string;

/**
 * agentbridge's permission level (the per-CLI mapping is a table in the README and
 * docs/ARCHITECTURE.md §7):
 * - `read-only`: plan only; nothing changes (Claude plan mode: `ExitPlanMode` asks to approve the plan);
 * - `ask`: every tool call that changes anything asks in the chat;
 * - `edit`: file edits in the working directory are allowed; shell commands and other tools ask;
 * - `full`: nothing asks.
 * One-shot turns (runners without live sessions) cannot ask: there `ask` runs like `read-only`
 * and `edit` denies what would ask.
 */
export type PermissionMode = 'read-only' | 'ask' | 'edit' | 'full';

/** Every {@link PermissionMode}, most restrictive first. */
export const PERMISSION_MODES: readonly PermissionMode[] = ['read-only', 'ask', 'edit', 'full'];

/** Tokens and cost of one turn, as far as the CLI reports them. */
export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  /** US dollars, when the CLI reports it. */
  costUsd?: number;
}
