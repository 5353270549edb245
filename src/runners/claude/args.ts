/**
 * The Claude Code command line of a turn or a live session: argv pieces and the child
 * environment, shared by the one-shot runner (./index.ts) and the live session (./session.ts).
 * Facts: Claude Code CLI reference (docs.anthropic.com); verified with claude 2.1.197 by
 * test/runners/claude.test.ts and test/runners/claude-session.test.ts.
 */
import { claudeMcpArgs, withMcpToken } from '../mcp-config.js';
import type { PermissionMode } from '../../core/agents.js';
import type { RunRequest } from '../types.js';

/** agentbridge permission level → `--permission-mode` value. */
export const CLAUDE_PERMISSION_MODES: Record<PermissionMode, string> = {
  'read-only': 'plan',
  ask: 'default',
  edit: 'acceptEdits',
  full: 'bypassPermissions',
};

/**
 * Builds the argv (after the executable) for one turn:
 * `-p --output-format stream-json --verbose [--model M] --permission-mode <mapped>
 * [--resume ID] [--fork-session] [--mcp-config JSON --allowedTools mcp__agentbridge]
 * [--resume-session-at UUID] [--append-system-prompt S]`. The MCP flags come with `req.mcp`
 * (./mcp-config.ts; the token is read from the child env, never argv). `--verbose` is required
 * with stream-json in `-p` mode; `--fork-session` and `--resume-session-at` are only passed
 * together with `--resume`. The prompt is NOT in argv: the runner writes it to stdin, which
 * `claude -p` reads when no prompt argument is given (verified with 2.1.197, also for a 200 KB
 * prompt and one starting with "-").
 *
 * `--resume-session-at <assistant message uuid>` (hidden from `--help` in 2.1.197; its help text:
 * "When resuming, only messages up to and including the assistant message with <message.id>
 * (use with --resume in print mode)") takes the `uuid` of an `assistant` stream-json line.
 * Verified: the resumed turn's model request holds the session up to that message only, the
 * session id stays the same (no `--fork-session` needed), and the next plain `--resume` of that
 * id continues from the new branch, not from the messages after the cut.
 */
export function claudeArgs(req: RunRequest): string[] {
  const args = ['-p', '--output-format', 'stream-json', '--verbose'];
  if (req.model) args.push('--model', req.model);
  args.push('--permission-mode', CLAUDE_PERMISSION_MODES[req.permissionMode]);
  if (req.resumeSessionId) {
    args.push('--resume', req.resumeSessionId);
    if (req.forkSession) args.push('--fork-session');
    if (req.resumeAt) args.push('--resume-session-at', req.resumeAt);
  }
  if (req.mcp) args.push(...claudeMcpArgs(req.mcp));
  if (req.systemPrompt) args.push('--append-system-prompt', req.systemPrompt);
  return args;
}

/**
 * The child environment: `req.env`, plus `IS_SANDBOX=1` for `full` when running as root —
 * `bypassPermissions` (like `--dangerously-skip-permissions`) otherwise refuses to start as
 * root (verified: exit 1, no stdout, stderr "--dangerously-skip-permissions cannot be used
 * with root/sudo privileges for security reasons") — and, with `req.mcp`, the turn's MCP token
 * as AGENTBRIDGE_MCP_TOKEN.
 */
export function claudeEnv(req: RunRequest): NodeJS.ProcessEnv {
  return withMcpToken(sandboxEnv(req.env, req), req.mcp);
}

/** `base` plus `IS_SANDBOX=1` for a `full` turn or live session run as root (see {@link claudeEnv}). */
export function sandboxEnv(base: NodeJS.ProcessEnv, req?: Pick<RunRequest, 'permissionMode'>): NodeJS.ProcessEnv {
  return req?.permissionMode === 'full' && process.getuid?.() === 0 ? { ...base, IS_SANDBOX: '1' } : base;
}
