/**
 * Core agent types shared by every layer: which agent CLIs exist, the permission levels and the
 * token usage a turn reports. The runner contract itself is in `src/runners/types.ts`.
 */

export type AgentName = 'claude' | 'codex' | 'gemini';
export const AGENT_NAMES: readonly AgentName[] = ['claude', 'codex', 'gemini'];

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
