/**
 * The Codex CLI runner: one `codex exec --json` process per turn, driven by the shared process
 * driver (own process group, the prompt written to stdin, SIGINT → SIGTERM → SIGKILL on stop/timeout).
 *
 * argv (verified with @openai/codex 0.169.0):
 *   codex exec --json --skip-git-repo-check [-m MODEL] -s <sandbox> -C <cwd>
 *         [-c developer_instructions="…"] [-c mcp_servers.agentbridge.…] [-c k=v …]
 *         [resume <THREAD_ID>] -
 * The `mcp_servers.agentbridge.*` overrides come with `req.mcp` (./mcp-config.ts); the token goes
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
 * Parsing: see ./codex-events.ts. Success: `turn.completed` seen, no `turn.failed`, exit code 0.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveBin } from './bin.js';
import { CodexEventParser } from './codex-events.js';
import { classifyErrorText, runError } from './errors.js';
import { codexMcpOverrides, withMcpToken } from './mcp-config.js';
import { drive } from './process.js';
import type { PermissionMode } from '../core/agents.js';
import type { RunEvent, RunRequest, RunResult, Runner, RunnerProbe } from './types.js';

/** agentbridge permission level → `codex exec -s` value. */
export const CODEX_SANDBOX: Record<PermissionMode, string> = {
  'read-only': 'read-only',
  edit: 'workspace-write',
  full: 'danger-full-access',
};

export interface CodexRunnerOptions {
  /** Executable path or name (CODEX_BIN); default `codex` on the request's PATH. */
  bin?: string;
  /**
   * Extra `-c key=value` overrides (value parsed as TOML by codex), added after the runner's own,
   * e.g. `model_provider=mock` and `model_providers.mock.*` to use a local provider in tests.
   */
  configOverrides?: string[];
  /** Delay between SIGINT→SIGTERM→SIGKILL when stopping, ms (driver default 3000). */
  killGraceMs?: number;
}

/** Lines codex writes to stderr on every run; left out of error messages. */
const STDERR_NOISE = [/^WARNING: proceeding, even though we could not create PATH aliases/, /^Reading (additional input|prompt) from stdin/];

export class CodexRunner implements Runner {
  readonly agent = 'codex' as const;
  private readonly bin?: string;
  private readonly configOverrides: string[];
  private readonly killGraceMs?: number;

  constructor(opts: CodexRunnerOptions = {}) {
    this.bin = opts.bin;
    this.configOverrides = opts.configOverrides ?? [];
    this.killGraceMs = opts.killGraceMs;
  }

  /** The argv after the executable for one turn. */
  buildArgs(req: Pick<RunRequest, 'prompt' | 'cwd' | 'resumeSessionId' | 'model' | 'permissionMode' | 'systemPrompt' | 'mcp'>): string[] {
    const args = ['exec', '--json', '--skip-git-repo-check'];
    if (req.model) args.push('-m', req.model);
    args.push('-s', CODEX_SANDBOX[req.permissionMode], '-C', req.cwd);
    if (req.systemPrompt) args.push('-c', `developer_instructions=${tomlString(req.systemPrompt)}`);
    if (req.mcp) for (const kv of codexMcpOverrides(req.mcp)) args.push('-c', kv);
    for (const kv of this.configOverrides) args.push('-c', kv);
    if (req.resumeSessionId) args.push('resume', req.resumeSessionId);
    args.push('-');
    return args;
  }

  async run(req: RunRequest, onEvent: (event: RunEvent) => void): Promise<RunResult> {
    const bin = resolveBin('codex', this.bin, req.env.PATH);
    if (!bin) {
      return { ok: false, text: '', exitCode: null, error: runError('not_installed', `codex executable not found (${this.bin ?? 'codex on PATH'})`) };
    }
    const parser = new CodexEventParser(req.cwd);
    const emit = (events: RunEvent[]) => {
      for (const e of events) {
        try {
          onEvent(e);
        } catch {
          /* a consumer bug must not break parsing */
        }
      }
    };
    const res = await drive({
      bin,
      args: this.buildArgs(req),
      stdin: req.prompt,
      cwd: req.cwd,
      env: withMcpToken(req.env, req.mcp),
      timeoutMs: req.timeoutMs,
      signal: req.signal,
      killGraceMs: this.killGraceMs,
      onLine: (line) => emit(parser.push(line)),
    });
    emit(parser.finish());

    const st = parser.state;
    const base = { text: st.text, sessionId: st.sessionId, usage: st.usage, exitCode: res.exitCode };
    if (res.spawnError) {
      const code = res.spawnError.code;
      const kind = code === 'ENOENT' || code === 'EACCES' ? 'not_installed' : 'crashed';
      return { ...base, ok: false, error: runError(kind, `${bin}: ${res.spawnError.message}`) };
    }
    if (res.stoppedBy) {
      const msg = res.stoppedBy === 'timeout' ? `no answer within ${Math.round(req.timeoutMs / 1000)} s` : 'stopped on request';
      return { ...base, ok: false, error: runError(res.stoppedBy, msg) };
    }
    if (st.turnCompleted && st.turnFailed === undefined && res.exitCode === 0) return { ...base, ok: true };

    // The turn failed (or codex gave up after an error): the provider's/codex's message decides.
    if (st.turnFailed !== undefined || (!st.turnCompleted && st.lastError)) {
      const message = cleanMessage(parser.failureMessage() ?? '');
      if (message) return { ...base, ok: false, error: runError(classifyErrorText(message), message) };
    }
    const tail = stderrTail(res.stderr);
    const why = res.exitCode !== null ? `exit code ${res.exitCode}` : `signal ${res.exitSignal ?? 'unknown'}`;
    const detail = tail || (st.turnCompleted ? '' : 'ended without finishing the turn');
    return { ...base, ok: false, error: runError('crashed', `codex ${why}${detail ? `: ${detail}` : ''}`) };
  }

  async probe(env: NodeJS.ProcessEnv): Promise<RunnerProbe> {
    const bin = resolveBin('codex', this.bin, env.PATH);
    if (!bin) {
      return { agent: 'codex', installed: false, authenticated: 'unknown', detail: `codex not found (${this.bin ?? 'PATH'}); install @openai/codex` };
    }
    const lines: string[] = [];
    const res = await drive({ bin, args: ['--version'], cwd: os.tmpdir(), env, timeoutMs: 15_000, onLine: (l) => lines.push(l), killGraceMs: 500 });
    if (res.spawnError) {
      return { agent: 'codex', installed: false, bin, authenticated: 'unknown', detail: `${bin}: ${res.spawnError.message}` };
    }
    const version = /(\d+\.\d+\.\d+[^\s]*)/.exec(lines.join(' '))?.[1];
    const auth = codexAuth(env);
    const parts = [version ? `codex ${version}` : `codex (version unknown: ${stderrTail(res.stderr) || `exit ${res.exitCode}`})`, auth.detail];
    return { agent: 'codex', installed: true, bin, version, authenticated: auth.ok, detail: parts.join('; ') };
  }
}

/**
 * Whether codex has credentials: `OPENAI_API_KEY` / `CODEX_API_KEY` in the environment, or a login
 * file `$CODEX_HOME/auth.json` (default `~/.codex/auth.json`). Never calls a model.
 */
export function codexAuth(env: NodeJS.ProcessEnv): { ok: boolean; detail: string } {
  for (const name of ['OPENAI_API_KEY', 'CODEX_API_KEY']) {
    if (env[name]) return { ok: true, detail: `${name} is set` };
  }
  const home = env.CODEX_HOME || path.join(env.HOME || os.homedir(), '.codex');
  const file = path.join(home, 'auth.json');
  if (fs.existsSync(file)) return { ok: true, detail: `logged in (${file})` };
  return { ok: false, detail: `not logged in: no OPENAI_API_KEY/CODEX_API_KEY and no ${file} (run \`codex login\`)` };
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
  // eslint-disable-next-line no-control-regex
  const lines = stderr.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').split('\n').map((l) => l.trim());
  const kept = lines.filter((l) => l && !STDERR_NOISE.some((re) => re.test(l)));
  const tail = kept.slice(-5).join(' | ');
  return tail.length > 400 ? `…${tail.slice(-399)}` : tail;
}
