/**
 * The Gemini CLI runner definition (`gemini`, verified with @google/gemini-cli 0.61.0).
 *
 * One turn: `gemini --prompt= --output-format stream-json -m <model> --approval-mode <mode>
 * [--resume <session-id>]` with the prompt written to stdin, spawned through the shared driver
 * (../define.ts; own process group) with cwd = the conversation's workdir (gemini keeps sessions per project
 * directory, so resume needs the same cwd). gemini reads a non-TTY stdin (up to 8 MiB) and
 * prepends it to the `--prompt` text; with an empty `--prompt=` the stdin text is the whole
 * prompt (verified with 0.61.0). The prompt is never in argv: an argv element cannot hold a NUL
 * and Linux limits one to 128 KiB.
 *
 * Facts this relies on (Gemini CLI docs, github.com/google-gemini/gemini-cli; docs/ARCHITECTURE.md §7;
 * verified with gemini 0.61.0 by test/runners/gemini.test.ts):
 * - Headless mode refuses untrusted folders (exit 55); the child env gets
 *   `GEMINI_CLI_TRUST_WORKSPACE=true` so the workdir is trusted for the run.
 * - Without `-m` gemini routes through a classifier model first; we always pass `-m`
 *   ({@link DEFAULT_GEMINI_MODEL} when the request names none).
 * - `result.status: "error"` can come with exit code 0; API failures exit with the HTTP status
 *   modulo 256 (429 → 173, 500 → 244). Fixed codes: 41 auth, 42 bad input / unknown session,
 *   52 config, 53 turn limit, 55 untrusted folder.
 * - There is no flag to append to the system prompt (`GEMINI_SYSTEM_MD` replaces it wholesale),
 *   so `RunRequest.systemPrompt` is not used.
 * - Agent tools (`req.mcp`): gemini has no MCP flag; the turn runs with an overlay Gemini home
 *   (`GEMINI_CLI_HOME`) whose settings.json adds the `agentbridge` server — see
 *   ../mcp-config.ts ({@link prepareGeminiHome}) for why and how. The same overlay (made for every
 *   turn) lets gemini's file tools read attached files in a git work tree (./file-filtering.ts).
 * - API retries: up to `general.maxAttempts` (settings.json, default 10, max 10) attempts with
 *   5 s → 30 s backoff for 429/5xx, so a failing provider can take minutes; the turn timeout bounds it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { defineRunner, stoppedError, type OutcomeContext } from '../define.js';
import { classifyErrorText, runError } from '../errors.js';
import { GeminiEventParser, providerMessage, stderrTail } from './events.js';
import { prepareGeminiHome } from '../mcp-config.js';
import { geminiSession } from './session.js';
import { geminiSessionFiles } from './session-files.js';
import { DEFAULT_GEMINI_MODEL } from './model.js';
import type { PermissionMode } from '../../core/agents.js';
import type { RunError, RunRequest, RunResult } from '../types.js';

export { DEFAULT_GEMINI_MODEL };

/** agentbridge permission → `--approval-mode`. */
export const GEMINI_APPROVAL_MODE: Record<PermissionMode, string> = {
  'read-only': 'default',
  ask: 'default',
  edit: 'auto_edit',
  full: 'yolo',
};

/**
 * Chat text as a Gemini prompt: in headless mode a prompt starting with "/" runs as a CLI slash
 * command (verified with 0.61.0), so such text is prefixed to reach the model as a message.
 */
export function chatPrompt(prompt: string): string {
  return /^\s*\//.test(prompt) ? `Message: ${prompt}` : prompt;
}

/**
 * The argv for one turn (without the executable). `--prompt=` is empty: it selects headless mode,
 * and the prompt itself ({@link chatPrompt} of `req.prompt`) goes to stdin.
 */
export function geminiArgs(req: Pick<RunRequest, 'model' | 'permissionMode' | 'resumeSessionId'>): string[] {
  const args = [
    '--prompt=',
    '--output-format',
    'stream-json',
    '-m',
    req.model || DEFAULT_GEMINI_MODEL,
    '--approval-mode',
    GEMINI_APPROVAL_MODE[req.permissionMode],
  ];
  if (req.resumeSessionId) args.push('--resume', req.resumeSessionId);
  return args;
}

/** The child environment: the caller's env plus a trusted workspace (headless mode needs it). */
export function geminiEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, GEMINI_CLI_TRUST_WORKSPACE: 'true', NO_COLOR: env['NO_COLOR'] ?? '1' };
}

/** Meaning of gemini's fixed exit codes. */
const EXIT_CODES: Record<number, { kind: RunError['kind']; what: string }> = {
  41: { kind: 'not_authenticated', what: 'Gemini CLI authentication failed' },
  42: { kind: 'api_error', what: 'Gemini CLI rejected the input or the session to resume' },
  52: { kind: 'api_error', what: 'Gemini CLI configuration error' },
  53: { kind: 'usage_limit', what: 'Gemini CLI reached its session turn limit (maxSessionTurns)' },
  55: { kind: 'api_error', what: 'Gemini CLI refused to run in an untrusted folder' },
};

/**
 * Gemini CLI (`gemini`) as a runner definition (../define.ts runs it). Success: a `result` line
 * with `status: "success"` (the turn ends there; the exit code is not awaited). installed/version: `gemini --version` ("0.61.0");
 * authenticated: {@link geminiAuth}.
 */
export const gemini = defineRunner({
  name: 'gemini',
  displayName: 'Gemini CLI',
  command: 'gemini',
  binVariable: 'GEMINI_BIN',
  // No fork, no resume at a message (`--resume` takes the whole session), no system prompt flag (module doc).
  capabilities: { fork: false, resumeAt: false, systemPrompt: false, mcp: true },
  args: (req) => geminiArgs(req),
  env: (base) => geminiEnv(base),
  stdin: chatPrompt,
  // Every turn gets the overlay home: agentbridge's tools (when the turn has them) and readable attached files (./file-filtering.ts).
  mcp: (env, req) => prepareGeminiHome(env, { mcp: req.mcp, cwd: req.cwd }),
  parser: () => new GeminiEventParser(),
  /**
   * A `result` with `status: "success"` ends the turn. One with `status: "error"` does not: the
   * exit code that follows at once (0.61.0 `handleError`: the result line, then `process.exit`)
   * tells auth (41), turn limit (53) and the others apart.
   */
  finalEvent: (parser) => parser.result?.status === 'success',
  outcome: decide,
  auth: geminiAuth,
  /** Verified with 0.61.0 (exit 42): "Error resuming session: No previous sessions found for this project." */
  isMissingSession: (message) => /no previous sessions found|error resuming session/i.test(message),
  /**
   * Verified with 0.61.0: when piped input arrives after its 500 ms wait (a CPU-starved start),
   * it exits 42 with "No input provided via stdin" before doing anything.
   */
  promptMissed: (done) => done.exitCode === 42 && /no input provided via stdin/i.test(done.stderr),
  /** Its first line (`init`) comes within a few seconds, also on a loaded machine (seen: 1–12 s). */
  silentStartMs: 30_000,
  /** Live sessions over `gemini --acp` (./session.ts): no steering, no resume (session/load is broken in 0.61.0), no fork. */
  session: geminiSession,
  /** `<GEMINI_CLI_HOME or HOME>/.gemini/tmp/<project>/chats/session-*-<id8>.jsonl` and `.project_root` (./session-files.ts). */
  sessionFiles: geminiSessionFiles,
});

function decide(parser: GeminiEventParser, { done: r, req }: OutcomeContext): RunResult {
  const base = {
    text: parser.text,
    exitCode: r.exitCode,
    ...(parser.sessionId ? { sessionId: parser.sessionId } : {}),
    ...(parser.usage ? { usage: parser.usage } : {}),
  };
  const stopped = stoppedError(r, req.timeoutMs);
  if (stopped) return { ...base, ok: false, error: stopped };
  if (parser.result?.status === 'success' && (r.exitCode === 0 || r.endedAtFinalEvent)) return { ...base, ok: true };
  return { ...base, ok: false, error: failure(parser, r.exitCode, r.exitSignal, r.stderr) };
}

/** Builds the RunError for a turn that did not succeed (not stopped, spawned fine). */
function failure(parser: GeminiEventParser, exitCode: number | null, exitSignal: NodeJS.Signals | null, stderr: string): RunError {
  const reported = parser.result?.errorMessage ?? parser.lastError;
  const tail = stderrTail(stderr);
  const fixed = exitCode !== null ? EXIT_CODES[exitCode] : undefined;
  if (fixed) {
    const detail = reported ?? tail;
    return runError(fixed.kind, detail ? `${fixed.what}: ${providerMessage(detail)}` : fixed.what);
  }
  if (reported) return runError(classifyErrorText(reported), providerMessage(reported));
  if (parser.result) {
    // status "error" without any message (e.g. an empty model response).
    return runError('api_error', tail || `Gemini CLI reported an error (exit code ${exitCode ?? exitSignal})`);
  }
  // No result line: the CLI died. Use stderr when it clearly names an auth or limit problem.
  if (tail) {
    const kind = classifyErrorText(tail);
    if (kind !== 'api_error') return runError(kind, providerMessage(tail));
  }
  const how = exitSignal ? `killed by ${exitSignal}` : `exit code ${exitCode}`;
  return runError('crashed', tail ? `${how}: ${tail}` : `${how} without a result`);
}

/**
 * Whether gemini has credentials, judged from env and files only: GEMINI_API_KEY, GOOGLE_API_KEY,
 * GOOGLE_APPLICATION_CREDENTIALS, or a Google login (`oauth_creds.json`, or the encrypted
 * `gemini-credentials.json`) in the Gemini home — `$GEMINI_CLI_HOME/.gemini` when set (the
 * variable names the directory that contains `.gemini`), else `~/.gemini`.
 */
export function geminiAuth(env: NodeJS.ProcessEnv): { authenticated: boolean; detail: string } {
  for (const key of ['GEMINI_API_KEY', 'GOOGLE_API_KEY', 'GOOGLE_APPLICATION_CREDENTIALS']) {
    if (env[key]) return { authenticated: true, detail: `${key} is set` };
  }
  const home = env['GEMINI_CLI_HOME'] || env['HOME'];
  if (home) {
    const dir = path.join(home, '.gemini');
    for (const file of ['oauth_creds.json', 'gemini-credentials.json']) {
      if (fs.existsSync(path.join(dir, file))) return { authenticated: true, detail: `Google login found (${path.join(dir, file)})` };
    }
  }
  return { authenticated: false, detail: 'no GEMINI_API_KEY/GOOGLE_API_KEY/GOOGLE_APPLICATION_CREDENTIALS and no Google login in the Gemini home' };
}
