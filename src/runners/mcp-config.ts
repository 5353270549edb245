/**
 * How each agent CLI is given agentbridge's MCP server for one turn (`RunRequest.mcp`), as the
 * server named `agentbridge`. The bearer token never appears in argv (other local users can read
 * argv): it is passed in the child env as {@link MCP_TOKEN_ENV} and each CLI reads it from there.
 * Verified with claude 2.1.197, codex 0.169.0 and gemini 0.61.0:
 *
 * - claude: `--mcp-config <json>` with `{"mcpServers":{"agentbridge":{"type":"http","url":…,
 *   "headers":{"Authorization":"Bearer ${AGENTBRIDGE_MCP_TOKEN}"}}}}` — Claude Code expands
 *   `${VAR}` in --mcp-config JSON from its environment — plus `--allowedTools mcp__agentbridge`
 *   (a server-level rule: every tool of the server runs without a prompt in `-p` mode, in every
 *   permission mode including `plan`; without it the call is denied as "requested permissions").
 *   Not `--strict-mcp-config`: the user's own MCP servers stay available.
 * - codex: `-c mcp_servers.agentbridge.url="…"`, `-c mcp_servers.agentbridge.bearer_token_env_var=
 *   "AGENTBRIDGE_MCP_TOKEN"` and `-c mcp_servers.agentbridge.default_tools_approval_mode="approve"`.
 *   Without the last one codex refuses tools annotated destructive (cancel/reset) in exec mode
 *   ("MCP tool call requires approval, but approval policy is never"); values: auto|prompt|writes|approve.
 *   Codex shows the tools to the model as a `namespace` tool `mcp__agentbridge` with functions
 *   named after the tools.
 * - gemini: no flag. Settings files are the only way, and the system-level ones
 *   (GEMINI_CLI_SYSTEM_SETTINGS_PATH / GEMINI_CLI_SYSTEM_DEFAULTS_PATH) are skipped unless the file
 *   and every parent directory are owned by root and not group/world-writable — unusable in
 *   general. So the turn gets an **overlay Gemini home** ({@link prepareGeminiMcpHome}): a private
 *   temp dir set as `GEMINI_CLI_HOME`, whose `.gemini/settings.json` is the user's settings plus
 *   `mcpServers.agentbridge = {httpUrl, headers: {Authorization: "Bearer ${AGENTBRIDGE_MCP_TOKEN}"},
 *   trust: true}` (gemini expands `${VAR}` in settings; `trust: true` is required — without it the
 *   tools are not even offered in headless `default` approval mode) and every other entry of the
 *   real `.gemini` dir (and of the real home) is a symlink to the original, so sessions, auth and
 *   memory are the user's own (gemini's state folders `tmp` and `history` are first created in the
 *   real `.gemini` when missing, so sessions are written there directly). After the turn, files gemini created or replaced (rename) at the top
 *   of the overlay `.gemini` are copied back to the real one — what gemini would have written there
 *   itself — and the overlay is removed. Nothing is written into the workdir.
 *   Gemini names the tools `mcp_agentbridge_<tool>`.
 *   The same overlay, made for every gemini turn and live session (also without tools), makes the
 *   files people attach readable by gemini's file tools in a git work tree: ./gemini/file-filtering.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ATTACHMENTS_IGNORE_FILE, attachmentsIgnoreText, ignoreFilePathFor, withReadableAttachments } from './gemini/file-filtering.js';
import type { RunRequest } from './types.js';

/** Name of the server in every CLI's configuration. */
export const MCP_SERVER_NAME = 'agentbridge';
/** Child env variable holding the turn's bearer token. */
export const MCP_TOKEN_ENV = 'AGENTBRIDGE_MCP_TOKEN';
const AUTH_HEADER_VALUE = `Bearer \${${MCP_TOKEN_ENV}}`;

type Mcp = NonNullable<RunRequest['mcp']>;

/** The child env with the token, or `env` unchanged when the turn has no MCP access. */
export function withMcpToken(env: NodeJS.ProcessEnv, mcp: RunRequest['mcp']): NodeJS.ProcessEnv {
  return mcp ? { ...env, [MCP_TOKEN_ENV]: mcp.token } : env;
}

/** claude argv: `--mcp-config <json> --allowedTools mcp__agentbridge` (token only as `${VAR}`). */
export function claudeMcpArgs(mcp: Mcp): string[] {
  const config = { mcpServers: { [MCP_SERVER_NAME]: { type: 'http', url: mcp.url, headers: { Authorization: AUTH_HEADER_VALUE } } } };
  return ['--mcp-config', JSON.stringify(config), '--allowedTools', `mcp__${MCP_SERVER_NAME}`];
}

/** codex `-c key=value` overrides (values are TOML). */
export function codexMcpOverrides(mcp: Mcp): string[] {
  const key = `mcp_servers.${MCP_SERVER_NAME}`;
  return [
    `${key}.url=${JSON.stringify(mcp.url)}`,
    `${key}.bearer_token_env_var=${JSON.stringify(MCP_TOKEN_ENV)}`,
    `${key}.default_tools_approval_mode="approve"`,
  ];
}

export interface GeminiMcpHome {
  /** The child env: `GEMINI_CLI_HOME` pointing at the overlay, plus the token when the turn has tools. */
  env: NodeJS.ProcessEnv;
  /** Copies what gemini wrote back to the real `.gemini` dir and removes the overlay. Never throws. */
  finish(): void;
}

/** What the overlay Gemini home of a turn or live session carries. */
export interface GeminiHomeOptions {
  /** agentbridge's MCP server (absent: no tools). */
  mcp?: Mcp | undefined;
  /** The working directory gemini runs in: attached files under it become readable (./gemini/file-filtering.ts). */
  cwd: string;
}

/**
 * Builds the overlay Gemini home for one turn or live session (see the module doc and
 * ./gemini/file-filtering.ts).
 * @param env the child env the runner would use (its `GEMINI_CLI_HOME`, else `HOME`, is the real home).
 * @param tmpRoot where the overlay directory is created (default `os.tmpdir()`).
 * @returns undefined (run with the real home: no tools, attached files unreadable in a git work
 *   tree) when the real settings.json cannot be parsed — gemini would report that itself — or the
 *   overlay cannot be created.
 */
export function prepareGeminiHome(env: NodeJS.ProcessEnv, opts: GeminiHomeOptions, tmpRoot = os.tmpdir()): GeminiMcpHome | undefined {
  const realHome = env['GEMINI_CLI_HOME'] || env['HOME'] || os.homedir();
  const realDir = path.join(realHome, '.gemini');
  const settings = readSettings(path.join(realDir, 'settings.json'));
  if (!settings) return undefined;
  const { mcp } = opts;
  let overlay: string | undefined;
  try {
    ensureStateDirs(realDir);
    overlay = fs.mkdtempSync(path.join(tmpRoot, 'agentbridge-gemini-'));
    const overlayDir = path.join(overlay, '.gemini');
    fs.mkdirSync(overlayDir, { mode: 0o700 });
    for (const name of safeReaddir(realHome)) {
      if (name !== '.gemini') fs.symlinkSync(path.join(realHome, name), path.join(overlay, name));
    }
    for (const name of safeReaddir(realDir)) {
      if (name !== 'settings.json' && name !== ATTACHMENTS_IGNORE_FILE) fs.symlinkSync(path.join(realDir, name), path.join(overlayDir, name));
    }
    const ignoreFile = path.join(overlayDir, ATTACHMENTS_IGNORE_FILE);
    fs.writeFileSync(ignoreFile, attachmentsIgnoreText(), { mode: 0o600 });
    let merged = withReadableAttachments(settings, ignoreFilePathFor(realPathOr(opts.cwd), ignoreFile));
    if (mcp) {
      const servers = isObject(settings.mcpServers) ? settings.mcpServers : {};
      merged = {
        ...merged,
        mcpServers: { ...servers, [MCP_SERVER_NAME]: { httpUrl: mcp.url, headers: { Authorization: AUTH_HEADER_VALUE }, trust: true } },
      };
    }
    fs.writeFileSync(path.join(overlayDir, 'settings.json'), `${JSON.stringify(merged, null, 2)}\n`, { mode: 0o600 });
  } catch {
    if (overlay) fs.rmSync(overlay, { recursive: true, force: true });
    return undefined;
  }
  const root = overlay;
  return {
    env: { ...withMcpToken(env, mcp), GEMINI_CLI_HOME: root },
    finish: () => {
      try {
        copyBack(path.join(root, '.gemini'), realDir);
      } catch {
        /* best effort: the turn's answer matters more than gemini's bookkeeping */
      }
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * Folders gemini 0.61.0 writes its state into at the top of `.gemini` (seen in a fresh home after
 * one turn: `tmp/<project>/chats` the sessions, `history/<project>`; plus `projects.json`).
 */
const GEMINI_STATE_DIRS = ['tmp', 'history'];

/**
 * Creates {@link GEMINI_STATE_DIRS} in the real `.gemini` when missing (as gemini itself would), so
 * the overlay links them and a session is in the real home as soon as gemini writes it — not only
 * after the copy-back, which runs once the process group is gone (the next turn's `--resume` could
 * start before that). Best effort: a home that cannot be written is left to the copy-back.
 */
function ensureStateDirs(realDir: string): void {
  for (const name of GEMINI_STATE_DIRS) {
    try {
      fs.mkdirSync(path.join(realDir, name), { recursive: true, mode: 0o700 });
    } catch {
      /* see the doc */
    }
  }
}

/** The real path of `dir` (gemini's `process.cwd()` resolves symlinks); `dir` itself when it cannot be resolved. */
function realPathOr(dir: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
}

/** Copies top-level entries gemini created or replaced in the overlay `.gemini` back to the real one. */
function copyBack(overlayDir: string, realDir: string): void {
  for (const name of safeReaddir(overlayDir)) {
    if (name === 'settings.json' || name === ATTACHMENTS_IGNORE_FILE || name.startsWith('settings.json.') || name.endsWith('.lock') || name.endsWith('.tmp'))
      continue;
    const from = path.join(overlayDir, name);
    if (fs.lstatSync(from).isSymbolicLink()) continue;
    fs.mkdirSync(realDir, { recursive: true, mode: 0o700 });
    fs.cpSync(from, path.join(realDir, name), { recursive: true, force: true, verbatimSymlinks: true });
  }
}

/** The user's settings (JSON with comments, as gemini reads it); {} when absent; undefined when unreadable. */
function readSettings(file: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? {} : undefined;
  }
  if (!text.trim()) return {};
  try {
    const value: unknown = JSON.parse(stripJsonComments(text));
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Removes `//` and `/* *\/` comments outside strings. */
function stripJsonComments(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 1;
    } else {
      out += c;
    }
  }
  return out;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
