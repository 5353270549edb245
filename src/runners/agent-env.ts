/**
 * The environment an agent CLI process gets: agentbridge's own environment minus what belongs
 * to agentbridge or to the chat platforms, so an agent that can run shell commands cannot use
 * the bot's credentials (which would bypass the per-turn scoping of agentbridge's MCP tools).
 *
 * Removed (see {@link agentEnvironment}):
 * - every `AGENTBRIDGE_*` variable (agentbridge's configuration; the turn's own MCP token,
 *   `AGENTBRIDGE_MCP_TOKEN`, is added back per turn by the runner, after this filter);
 * - every runner's bin variable (`CLAUDE_BIN`, `CODEX_BIN`, `GEMINI_BIN`, … — from the runner
 *   registry, ./registry.ts) and `LOG_LEVEL`: agentbridge's settings (which CLI to start, its own
 *   log level), not the CLIs' — none of the CLIs reads them;
 * - every `SLACK_*` and `DISCORD_*` variable: platform credentials and settings (bot/app tokens,
 *   signing secret, API URLs);
 * - the names the operator lists in `AGENTBRIDGE_AGENT_ENV_DENY` (exact names or `PREFIX_*`).
 *
 * Everything else passes unchanged — in particular the agents' own keys, base URLs and settings
 * (`ANTHROPIC_*`, `CLAUDE_CODE_*`, `CLAUDE_CONFIG_DIR`, `OPENAI_*`, `CODEX_*` other than
 * `CODEX_BIN`, `GEMINI_*` other than `GEMINI_BIN`, `GOOGLE_*`), proxies (`HTTP_PROXY`,
 * `HTTPS_PROXY`, `NO_PROXY`, lower-case too), `PATH`, `HOME` and the rest.
 *
 * The MCP signing secret is not in the environment: it is read from `<dataDir>/mcp-secret`
 * (src/tools/tokens.ts), so there is nothing to remove for it here.
 */
import { runnerDefinitions } from './registry.js';

/** Prefixes whose variables never reach the agent (agentbridge's own, and platform credentials). */
export const AGENT_ENV_DENIED_PREFIXES: readonly string[] = ['AGENTBRIDGE_', 'SLACK_', 'DISCORD_'];

/**
 * Exact names of agentbridge settings outside the `AGENTBRIDGE_` prefix that never reach the
 * agent: every registered runner's bin variable, and `LOG_LEVEL`.
 */
export function agentEnvDeniedNames(): string[] {
  return [...runnerDefinitions().map((d) => d.binVariable), 'LOG_LEVEL'];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const GLOB = /^[A-Za-z_][A-Za-z0-9_]*\*$/;

/**
 * True when `pattern` is a valid `AGENTBRIDGE_AGENT_ENV_DENY` item: an environment variable name
 * (`[A-Za-z_][A-Za-z0-9_]*`) or such a name followed by one `*` (a prefix glob, e.g. `AWS_*`).
 */
export function isEnvDenyPattern(pattern: string): boolean {
  return NAME.test(pattern) || GLOB.test(pattern);
}

/**
 * Splits an `AGENTBRIDGE_AGENT_ENV_DENY` value (comma-separated, spaces around items ignored,
 * empty items dropped) into its items. Does not validate them (see {@link isEnvDenyPattern}).
 */
export function parseEnvDenyList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * True when the variable `name` must not reach the agent: a denied prefix or name (see the
 * module doc), or a match of one of `deny` (exact, case-sensitive as Linux environment names
 * are; `PREFIX_*` matches every name starting with `PREFIX_`, and `*` alone is not allowed).
 */
export function isDeniedForAgent(name: string, deny: readonly string[] = []): boolean {
  if (AGENT_ENV_DENIED_PREFIXES.some((p) => name.startsWith(p))) return true;
  if (agentEnvDeniedNames().includes(name)) return true;
  return deny.some((d) => (d.endsWith('*') ? name.startsWith(d.slice(0, -1)) : name === d));
}

/**
 * The agent process environment: a copy of `env` without the variables {@link isDeniedForAgent}
 * names (with `deny` from `AGENTBRIDGE_AGENT_ENV_DENY`) and without unset (`undefined`) entries.
 * Pure; `env` is not changed.
 */
export function agentEnvironment(env: NodeJS.ProcessEnv, deny: readonly string[] = []): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || isDeniedForAgent(name, deny)) continue;
    out[name] = value;
  }
  return out;
}
