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
 * agentbridge's permission level, mapped per agent:
 * - `read-only`: claude `--permission-mode plan`, codex `-s read-only`, gemini `--approval-mode default`
 * - `edit`:      claude `--permission-mode acceptEdits`, codex `-s workspace-write`, gemini `--approval-mode auto_edit`
 * - `full`:      claude `--permission-mode bypassPermissions`, codex `-s danger-full-access`, gemini `--approval-mode yolo`
 */
export type PermissionMode = 'read-only' | 'edit' | 'full';

/** Tokens and cost of one turn, as far as the CLI reports them. */
export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  /** US dollars, when the CLI reports it. */
  costUsd?: number;
}
