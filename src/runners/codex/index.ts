/**
 * The Codex CLI runner definition: one `codex exec --json` process per turn, run by the shared
 * runner (../define.ts: own process group, the prompt written to stdin, SIGINT → SIGTERM → SIGKILL
 * on stop/timeout).
 *
 * argv (verified with @openai/codex 0.169.0):
 *   codex exec --json --skip-git-repo-check [-m MODEL] -s <sandbox> -C <cwd>
 *         [-c developer_instructions="…"] [-c mcp_servers.agentbridge.…] [-c k=v …]
 *         [resume <THREAD_ID>] -
 * The `mcp_servers.agentbridge.*` overrides come with `req.mcp` (../mcp-config.ts); the token goes
 * in the child env as AGENTBRIDGE_MCP_TOKEN (`bearer_token_env_var`), never in argv.
 * Root flags (`-s`, `-C`, `-c`, `-m`) go before `resume`: `codex exec resume` itself accepts
 * `-c`/`-m` but not `-s`/`-C`, and the root ones apply to the resumed thread. The prompt is never
 * in argv (a NUL or 128 KiB+ argument fails): the last positional is `-`, which makes both
 * `codex exec` and `codex exec resume <ID>` read the prompt from stdin (their help: "If `-` is
 * used, read from stdin"); codex notes "Reading prompt from stdin..." on stderr.
 *
 * Sandbox (Linux, checked in this container as root): `read-only` and `workspace-write` are
 * enforced — a write outside the allowed roots fails with "Read-only file system";
 * `workspace-write` allows the cwd and /tmp (TMPDIR). `danger-full-access` runs unsandboxed.
 * Approvals are never asked in exec mode.
 *
 * Parsing: see ./events.ts. Success: `turn.completed` seen, no `turn.failed`, exit code 0 — or,
 * as usual, the run ended at that final event (`finalEvent`; the exit code is then not awaited).
 *
 * Live sessions (one `codex app-server` process for many turns, with approvals, questions,
 * steering and interrupt) are ./session.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CodexEventParser } from './events.js';
import { codexSession } from './session.js';
import { codexSessionFiles } from './session-files.js';
import { defineRunner, howEnded, stoppedError, type OutcomeContext } from '../define.js';
import { classifyErrorText, runError } from '../errors.js';
import { codexMcpOverrides } from '../mcp-config.js';
import type { PermissionMode } from '../../core/agents.js';
import type { RunRequest, RunResult } from '../types.js';

/** agentbridge permission level → `codex exec -s` value. */
export const CODEX_SANDBOX: Record<PermissionMode, string> = {
  'read-only': 'read-only',
  ask: 'read-only',
  edit: 'workspace-write',
  full: 'danger-full-access',
};

/** Lines codex writes to stderr on every run; left out of error messages. */
const STDERR_NOISE = [/^WARNING: proceeding, even though we could not create PATH aliases/, /^Reading (additional input|prompt) from stdin/];

/**
 * Codex CLI (`codex`) as a runner definition (../define.ts runs it). `RunnerOptions.configOverrides`
 * are extra `-c key=value` overrides (value parsed as TOML by codex), added after the runner's own,
 * e.g. `model_provider=mock` and `model_providers.mock.*` to use a local provider in tests.
 * installed/version: `codex --version` ("codex-cli 0.169.0"); authenticated: {@link codexAuth}.
 */
export const codex = defineRunner({
  name: 'codex',
  displayName: 'Codex CLI',
  command: 'codex',
  binVariable: 'CODEX_BIN',
  // No headless fork or resume-at-message in 0.169.0 (`codex fork` is interactive only).
  capabilities: { fork: false, resumeAt: false, systemPrompt: true, mcp: true },
  args: (req, opts) => codexArgs(req, opts.configOverrides),
  mcp: 'argv',
  parser: (req) => new CodexEventParser(req.cwd),
  /** `turn.completed` / `turn.failed` end an exec turn (its exit code, 0 / 1, adds nothing). */
  finalEvent: (parser) => parser.state.turnCompleted || parser.state.turnFailed !== undefined,
  outcome: decide,
  auth: codexAuth,
  /** Verified with 0.169.0: "thread/resume failed: no rollout found for thread id …". */
  isMissingSession: (message) => /no rollout found for thread|thread\/resume failed/i.test(message),
  /** Live sessions over `codex app-server` (./session.ts). */
  session: codexSession,
  /** `<CODEX_HOME or ~/.codex>/sessions/YYYY/MM/DD/rollout-*-<id>.jsonl` (./session-files.ts). */
  sessionFiles: codexSessionFiles,
});

/** The argv after the executable for one turn (see the module doc); `configOverrides` go last as `-c`. */
export function codexArgs(
  req: Pick<RunRequest, 'cwd' | 'resumeSessionId' | 'model' | 'permissionMode' | 'systemPrompt' | 'mcp'>,
  configOverrides: readonly string[] = [],
): string[] {
  const args = ['exec', '--json', '--skip-git-repo-check'];
  if (req.model) args.push('-m', req.model);
  args.push('-s', CODEX_SANDBOX[req.permissionMode], '-C', req.cwd);
  if (req.systemPrompt) args.push('-c', `developer_instructions=${tomlString(req.systemPrompt)}`);
  if (req.mcp) for (const kv of codexMcpOverrides(req.mcp)) args.push('-c', kv);
  for (const kv of configOverrides) args.push('-c', kv);
  if (req.resumeSessionId) args.push('resume', req.resumeSessionId);
  args.push('-');
  return args;
}

/**
 * Success: `turn.completed` seen, no `turn.failed`, and exit code 0 or the run ended at that final
 * event (`done.endedAtFinalEvent`); else the provider's/codex's message decides.
 */
function decide(parser: CodexEventParser, { done: res, req }: OutcomeContext): RunResult {
  const st = parser.state;
  const base = { text: st.text, sessionId: st.sessionId, usage: st.usage, exitCode: res.exitCode };
  const stopped = stoppedError(res, req.timeoutMs);
  if (stopped) return { ...base, ok: false, error: stopped };
  if (st.turnCompleted && st.turnFailed === undefined && (res.exitCode === 0 || res.endedAtFinalEvent)) return { ...base, ok: true };

  // The turn failed (or codex gave up after an error): the provider's/codex's message decides.
  if (st.turnFailed !== undefined || (!st.turnCompleted && st.lastError)) {
    const message = cleanMessage(parser.failureMessage() ?? '');
    if (message) return { ...base, ok: false, error: runError(classifyErrorText(message), message) };
  }
  const tail = stderrTail(res.stderr);
  const detail = tail || (st.turnCompleted ? '' : 'ended without finishing the turn');
  return { ...base, ok: false, error: runError('crashed', `codex ${howEnded(res)}${detail ? `: ${detail}` : ''}`) };
}

/**
 * Whether codex has credentials: `OPENAI_API_KEY` / `CODEX_API_KEY` in the environment, or a login
 * file `$CODEX_HOME/auth.json` (default `~/.codex/auth.json`). Never calls a model.
 */
export function codexAuth(env: NodeJS.ProcessEnv): { authenticated: boolean; detail: string } {
  for (const name of ['OPENAI_API_KEY', 'CODEX_API_KEY']) {
    if (env[name]) return { authenticated: true, detail: `${name} is set` };
  }
  const home = env.CODEX_HOME || path.join(env.HOME || os.homedir(), '.codex');
  const file = path.join(home, 'auth.json');
  if (fs.existsSync(file)) return { authenticated: true, detail: `logged in (${file})` };
  return { authenticated: false, detail: `not logged in: no OPENAI_API_KEY/CODEX_API_KEY and no ${file} (run \`codex login\`)` };
}

/** A TOML basic string (JSON escapes are valid TOML escapes; DEL must be escaped too). */
export function tomlString(s: string): string {
  return JSON.stringify(s).replace(/\x7f/g, '\\u007f');
}

/** Drops codex's `, url: http://…` suffix (provider URLs may carry keys in their query). */
function cleanMessage(message: string): string {
  return message.replace(/,\s*url:\s*\S+\s*$/, '').trim();
}

/** The last meaningful stderr lines (noise and ANSI codes removed), ≤ 400 characters. */
function stderrTail(stderr: string): string {
  const lines = stderr
    // eslint-disable-next-line no-control-regex -- ANSI escape sequences start with ESC
    .replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
    .split('\n')
    .map((l) => l.trim());
  const kept = lines.filter((l) => l && !STDERR_NOISE.some((re) => re.test(l)));
  const tail = kept.slice(-5).join(' | ');
  return tail.length > 400 ? `…${tail.slice(-399)}` : tail;
}
