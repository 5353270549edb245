/**
 * The Claude Code runner definition: one turn is `claude -p --output-format stream-json --verbose`
 * run by the shared runner (../define.ts); its JSON lines become RunEvents
 * (parser: ./events.ts); argv and env: ./args.ts. Live sessions (one process for many turns, with
 * approvals, questions, plans and steering): ./session.ts. Facts: Claude Code CLI reference
 * (docs.anthropic.com) and docs/ARCHITECTURE.md §7; verified with claude 2.1.197 by
 * test/runners/claude.test.ts and test/runners/claude-session.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClaudeEventParser } from './events.js';
import { defineRunner, howEnded, stoppedError, type OutcomeContext } from '../define.js';
import { classifyErrorText, runError, stderrTail } from '../errors.js';
import type { RunResult } from '../types.js';
import { claudeArgs, sandboxEnv } from './args.js';
import { claudeSession } from './session.js';
import { claudeSessionFiles } from './session-files.js';

export { CLAUDE_PERMISSION_MODES, claudeArgs, claudeEnv } from './args.js';

/** Env variables that carry Claude credentials (any one set counts as authenticated). */
const AUTH_ENV = ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN'] as const;
/** Env flags that route Claude to a cloud provider whose credentials we cannot check. */
const CLOUD_ENV = ['CLAUDE_CODE_USE_BEDROCK', 'CLAUDE_CODE_USE_VERTEX', 'CLAUDE_CODE_USE_FOUNDRY'] as const;

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
 * - The turn ends at the `result` line (`finalEvent`): `exitCode` is then usually null (the CLI
 *   exits 40–140 ms later; its process group is ended in the background, ../process.ts).
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
  /** The `result` line ends a `-p` turn, ok or not (`is_error` decides; the exit code adds nothing). */
  finalEvent: (parser) => parser.result !== undefined,
  outcome: decide,
  auth: claudeAuth,
  /**
   * Verified with 2.1.197: "No conversation found with session ID: …", and resuming at a message
   * the session file does not hold (`--resume-session-at`): "No message found with message.uuid of: …".
   */
  isMissingSession: (message) => /no conversation found with session id|no message found with message\.uuid/i.test(message),
  session: claudeSession,
  /** `<CLAUDE_CONFIG_DIR or ~/.claude>/projects/<cwd slug>/<id>.jsonl` and `<id>/` (./session-files.ts). */
  sessionFiles: claudeSessionFiles,
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
      stderrTail(done.stderr) ||
      `claude reported an error (${[result.subtype ?? 'unknown', ...result.errors].join('; ')})`;
    const kind = classifyErrorText(result.apiErrorStatus ? `${result.apiErrorStatus} ${text}` : text);
    return { ...base, ok: false, error: runError(kind, text) };
  }
  const detail = stderrTail(done.stderr) || parser.lastErrorText;
  if (done.exitCode !== 0 && detail) {
    return { ...base, ok: false, error: runError(classifyErrorText(detail), detail) };
  }
  return { ...base, ok: false, error: runError('crashed', `claude ended without a result (${howEnded(done)})${detail ? `: ${detail}` : ''}`) };
}
