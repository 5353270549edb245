/**
 * The Claude Code runner definition: one turn is `claude -p --output-format stream-json --verbose`
 * run by the shared runner (../define.ts); its JSON lines become RunEvents
 * (parser: ./events.ts). Facts: Claude Code CLI reference (docs.anthropic.com) and docs/ARCHITECTURE.md §7;
 * verified with claude 2.1.197 by test/runners/claude.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClaudeEventParser } from './events.js';
import { defineRunner, howEnded, stoppedError, type OutcomeContext } from '../define.js';
import { classifyErrorText, runError } from '../errors.js';
import { claudeMcpArgs, withMcpToken } from '../mcp-config.js';
import type { PermissionMode } from '../../core/agents.js';
import type { RunRequest, RunResult } from '../types.js';

/** agentbridge permission level → `--permission-mode` value. */
export const CLAUDE_PERMISSION_MODES: Record<PermissionMode, string> = {
  'read-only': 'plan',
  ask: 'default',
  edit: 'acceptEdits',
  full: 'bypassPermissions',
};

/** Env variables that carry Claude credentials (any one set counts as authenticated). */
const AUTH_ENV = ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN'] as const;
/** Env flags that route Claude to a cloud provider whose credentials we cannot check. */
const CLOUD_ENV = ['CLAUDE_CODE_USE_BEDROCK', 'CLAUDE_CODE_USE_VERTEX', 'CLAUDE_CODE_USE_FOUNDRY'] as const;

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

/** `base` plus `IS_SANDBOX=1` for a `full` turn run as root (see {@link claudeEnv}). */
function sandboxEnv(base: NodeJS.ProcessEnv, req?: RunRequest): NodeJS.ProcessEnv {
  return req?.permissionMode === 'full' && process.getuid?.() === 0 ? { ...base, IS_SANDBOX: '1' } : base;
}

/**
 * Claude Code (`claude`) as a runner definition (../define.ts runs it).
 *
 * installed/version: `claude --version` ("2.1.197 (Claude Code)"); authenticated: {@link claudeAuth}.
 *
 * Outcome of a turn:
 * - ok iff a `result` line arrived with `is_error: false`; `text` is then `result.result`
 *   (the last assistant message) or, when that is empty, all streamed text. On failure `text`
 *   is the streamed answer text so far (never the CLI's error notice).
 * - `not_installed`: no executable found, or spawn failed (ENOENT/EACCES).
 * - `stopped` / `timeout`: the driver stopped the process group (abort signal / `timeoutMs`)
 *   and the turn had not already succeeded. Verified: on SIGINT `claude -p` writes a result
 *   with `subtype:"error_during_execution"`, `is_error:true` and exits 0; on SIGTERM it exits
 *   143 without a result line — both end up here, not in the `is_error` branch.
 * - a `result` with `is_error: true` (e.g. "API Error: Request rejected (429) · …",
 *   "API Error: 500 …", "Not logged in · Please run /login"; exit code 1): its text,
 *   prefixed with `api_error_status` when present, goes through `classifyErrorText`;
 *   `error.message` is the CLI's text, which includes the provider's message.
 * - no `result` line and a non-zero exit: stderr (or the last synthetic error notice) is
 *   classified; with neither, or with exit 0, `crashed`.
 * - `sessionId` is the latest seen (init, messages, result); `--fork-session` gives a new one.
 */
export const claude = defineRunner({
  name: 'claude',
  displayName: 'Claude Code',
  command: 'claude',
  binVariable: 'CLAUDE_BIN',
  capabilities: { fork: true, resumeAt: true, systemPrompt: true, mcp: true },
  args: (req) => claudeArgs(req),
  env: sandboxEnv,
  mcp: 'argv',
  parser: (req) => new ClaudeEventParser(req.cwd),
  outcome: decide,
  auth: claudeAuth,
  /**
   * Verified with 2.1.197: "No conversation found with session ID: …", and resuming at a message
   * the session file does not hold (`--resume-session-at`): "No message found with message.uuid of: …".
   */
  isMissingSession: (message) => /no conversation found with session id|no message found with message\.uuid/i.test(message),
});

/** Whether the environment/config files hold Claude credentials; never calls a model. */
export function claudeAuth(env: NodeJS.ProcessEnv): { authenticated: boolean | 'unknown'; detail: string } {
  const key = AUTH_ENV.find((k) => env[k]);
  if (key) return { authenticated: true, detail: `credentials from ${key}` };
  const home = env.HOME || os.homedir();
  const files = [env.CLAUDE_CONFIG_DIR && path.join(env.CLAUDE_CONFIG_DIR, '.credentials.json'), path.join(home, '.claude', '.credentials.json')];
  const file = files.find((f): f is string => !!f && fs.existsSync(f));
  if (file) return { authenticated: true, detail: `credentials file ${file}` };
  const cloud = CLOUD_ENV.find((k) => env[k] && env[k] !== '0' && env[k] !== 'false');
  if (cloud) return { authenticated: 'unknown', detail: `${cloud} set; cloud credentials not checked` };
  if (process.platform === 'darwin') return { authenticated: 'unknown', detail: 'no API key or credentials file; a login may be in the macOS Keychain' };
  return { authenticated: false, detail: 'not logged in: set ANTHROPIC_API_KEY or run `claude` and /login' };
}

/** Turns the parsed lines and the process outcome into the RunResult (see {@link claude}). */
function decide(parser: ClaudeEventParser, { done, req }: OutcomeContext): RunResult {
  const base = {
    text: parser.text,
    exitCode: done.exitCode,
    ...(parser.sessionId ? { sessionId: parser.sessionId } : {}),
    ...(parser.lastAssistantUuid ? { resumeAt: parser.lastAssistantUuid } : {}),
    ...(parser.usage ? { usage: parser.usage } : {}),
  };
  const result = parser.result;
  if (result && !result.isError) {
    return { ...base, ok: true, text: result.text?.trim() ? result.text : parser.text };
  }
  const stopped = stoppedError(done, req.timeoutMs);
  if (stopped) return { ...base, ok: false, error: stopped };
  if (result) {
    const text =
      result.text?.trim() ||
      parser.lastErrorText ||
      tail(done.stderr) ||
      `claude reported an error (${[result.subtype ?? 'unknown', ...result.errors].join('; ')})`;
    const kind = classifyErrorText(result.apiErrorStatus ? `${result.apiErrorStatus} ${text}` : text);
    return { ...base, ok: false, error: runError(kind, text) };
  }
  const detail = tail(done.stderr) || parser.lastErrorText;
  if (done.exitCode !== 0 && detail) {
    return { ...base, ok: false, error: runError(classifyErrorText(detail), detail) };
  }
  return { ...base, ok: false, error: runError('crashed', `claude ended without a result (${howEnded(done)})${detail ? `: ${detail}` : ''}`) };
}

/** The last few non-empty lines of stderr (the error is usually at the end). */
function tail(text: string, lines = 3): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-lines)
    .join(' ');
}
