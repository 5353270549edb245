/**
 * The Gemini CLI runner (`gemini`, verified with @google/gemini-cli 0.61.0).
 *
 * One turn: `gemini --prompt= --output-format stream-json -m <model> --approval-mode <mode>
 * [--resume <session-id>]` with the prompt written to stdin, spawned through the shared driver
 * (own process group) with cwd = the conversation's workdir (gemini keeps sessions per project
 * directory, so resume needs the same cwd). gemini reads a non-TTY stdin (up to 8 MiB) and
 * prepends it to the `--prompt` text; with an empty `--prompt=` the stdin text is the whole
 * prompt (verified with 0.61.0). The prompt is never in argv: an argv element cannot hold a NUL
 * and Linux limits one to 128 KiB.
 *
 * Facts this relies on (see ../shared/reference/agent-clis.md):
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
 *   ./mcp-config.ts ({@link prepareGeminiMcpHome}) for why and how.
 * - API retries: up to `general.maxAttempts` (settings.json, default 10, max 10) attempts with
 *   5 s → 30 s backoff for 429/5xx, so a failing provider can take minutes; the turn timeout bounds it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { drive } from './process.js';
import { resolveBin } from './bin.js';
import { classifyErrorText, runError } from './errors.js';
import { GeminiEventParser, providerMessage, stderrTail } from './gemini-events.js';
import { prepareGeminiMcpHome } from './mcp-config.js';
import type { PermissionMode } from '../core/agents.js';
import type { RunError, RunEvent, RunRequest, RunResult, Runner, RunnerProbe } from './types.js';

/** Model used when the request names none (gemini's own default is "auto", which adds a routing call). */
export const DEFAULT_GEMINI_MODEL = 'gemini-2.5-pro';

/** agentbridge permission → `--approval-mode`. */
export const GEMINI_APPROVAL_MODE: Record<PermissionMode, string> = {
  'read-only': 'default',
  edit: 'auto_edit',
  full: 'yolo',
};

const VERSION_TIMEOUT_MS = 15_000;

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

export class GeminiRunner implements Runner {
  readonly agent = 'gemini' as const;
  private readonly binOverride: string | undefined;

  constructor(opts: { bin?: string } = {}) {
    this.binOverride = opts.bin;
  }

  async run(req: RunRequest, onEvent: (event: RunEvent) => void): Promise<RunResult> {
    const bin = resolveBin('gemini', this.binOverride, req.env['PATH']);
    if (!bin) {
      return { ok: false, text: '', exitCode: null, error: runError('not_installed', `${this.binOverride ?? 'gemini'} not found`) };
    }
    const parser = new GeminiEventParser();
    const emit = (ev: RunEvent) => {
      try {
        onEvent(ev);
      } catch {
        /* a listener bug must not break the turn */
      }
    };
    const mcpHome = req.mcp ? prepareGeminiMcpHome(geminiEnv(req.env), req.mcp) : undefined;
    if (req.mcp && !mcpHome) emit({ type: 'warning', message: 'agentbridge tools are not available in this turn: the Gemini settings.json could not be read' });
    let r: Awaited<ReturnType<typeof drive>>;
    try {
      r = await drive({
        bin,
        args: geminiArgs(req),
        stdin: chatPrompt(req.prompt),
        cwd: req.cwd,
        env: mcpHome?.env ?? geminiEnv(req.env),
        timeoutMs: req.timeoutMs,
        ...(req.signal ? { signal: req.signal } : {}),
        onLine: (line) => {
          for (const ev of parser.feed(line)) emit(ev);
        },
      });
    } finally {
      mcpHome?.finish();
    }

    const base = {
      text: parser.text,
      exitCode: r.exitCode,
      ...(parser.sessionId ? { sessionId: parser.sessionId } : {}),
      ...(parser.usage ? { usage: parser.usage } : {}),
    };

    if (r.spawnError) {
      const kind = r.spawnError.code === 'ENOENT' || r.spawnError.code === 'EACCES' ? 'not_installed' : 'crashed';
      return { ...base, ok: false, error: runError(kind, `${bin}: ${r.spawnError.message}`) };
    }
    if (r.stoppedBy) {
      return {
        ...base,
        ok: false,
        error: runError(r.stoppedBy, r.stoppedBy === 'timeout' ? `no answer within ${Math.round(req.timeoutMs / 1000)} s` : 'stopped on request'),
      };
    }
    if (parser.result?.status === 'success' && r.exitCode === 0) return { ...base, ok: true };
    return { ...base, ok: false, error: failure(parser, r.exitCode, r.exitSignal, r.stderr) };
  }

  async probe(env: NodeJS.ProcessEnv): Promise<RunnerProbe> {
    const bin = resolveBin('gemini', this.binOverride, env['PATH']);
    const auth = geminiAuth(env);
    if (!bin) {
      return { agent: 'gemini', installed: false, authenticated: auth.authenticated, detail: `gemini not found (${this.binOverride ?? 'PATH'}); ${auth.detail}` };
    }
    let version: string | undefined;
    let out = '';
    const r = await drive({
      bin,
      args: ['--version'],
      cwd: env['HOME'] && fs.existsSync(env['HOME']) ? env['HOME'] : process.cwd(),
      env: geminiEnv(env),
      timeoutMs: VERSION_TIMEOUT_MS,
      killGraceMs: 1000,
      onLine: (line) => {
        out += `${line}\n`;
      },
    });
    const m = /\d+\.\d+\.\d+[\w.+-]*/.exec(out);
    if (m) version = m[0];
    const versionNote = version
      ? `version ${version}`
      : r.spawnError
        ? `could not start: ${r.spawnError.message}`
        : `\`gemini --version\` failed${r.stoppedBy === 'timeout' ? ' (timed out)' : ''}`;
    return {
      agent: 'gemini',
      installed: !r.spawnError,
      bin,
      ...(version ? { version } : {}),
      authenticated: auth.authenticated,
      detail: `${versionNote}; ${auth.detail}`,
    };
  }
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
