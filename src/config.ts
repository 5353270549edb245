/**
 * agentbridge's configuration: one zod schema over the environment (after `.env` is loaded
 * by dotenv in the CLI). The rest of the code receives a typed {@link Config}, never process.env.
 */
import path from 'node:path';
import { z } from 'zod';
import type { Config } from './core/config.js';
import { agentEnvironment, isEnvDenyPattern, parseEnvDenyList } from './runners/agent-env.js';
import { runnerDefinitions } from './runners/registry.js';

const onOff = z
  .enum(['on', 'off', 'true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => ['on', 'true', '1', 'yes'].includes(v));

const positiveInt = (def: number) =>
  z
    .string()
    .default(String(def))
    .transform((v, ctx) => {
      const n = Number(v);
      if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number ≥ 1 (got "${v}")` });
        return z.NEVER;
      }
      return n;
    });

/** A whole number ≥ 0 (0 allowed, e.g. "no grace period"). */
const nonNegativeInt = (def: number) =>
  z
    .string()
    .default(String(def))
    .transform((v, ctx) => {
      const n = Number(v);
      if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number ≥ 0 (got "${v}")` });
        return z.NEVER;
      }
      return n;
    });

/** A comma-separated list of platform-qualified ids (`slack:U123,discord:456,local:alice`). */
const qualifiedIds = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const items = (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const item of items) {
      if (!/^(slack|discord|local):\S+$/.test(item)) {
        ctx.addIssue({ code: 'custom', message: `"${item}" is not a platform-qualified id like slack:U123, discord:456 or local:alice` });
        return z.NEVER;
      }
    }
    return items;
  });

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() ? v.trim() : undefined));

/**
 * The environment variables agentbridge reads, with their defaults — except the runners' ones
 * (AGENTBRIDGE_AGENT and each `*_BIN`), which come from the runner registry: {@link runnerEnvShape}.
 */
export const envSchema = z.object({
  AGENTBRIDGE_DATA_DIR: z.string().min(1).default('./data'),
  AGENTBRIDGE_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  AGENTBRIDGE_HTTP_PORT: z
    .string()
    .default('8080')
    .transform((v, ctx) => {
      const n = Number(v);
      if (!/^\d+$/.test(v.trim()) || n > 65535) {
        ctx.addIssue({ code: 'custom', message: `must be a port number 0–65535 (got "${v}")` });
        return z.NEVER;
      }
      return n;
    }),
  AGENTBRIDGE_MODEL: optionalString,
  AGENTBRIDGE_WORKDIR: z.string().min(1).default('./workspace'),
  AGENTBRIDGE_PERMISSION_MODE: z.enum(['read-only', 'edit', 'full']).default('edit'),
  AGENTBRIDGE_MAX_CONCURRENT_TURNS: positiveInt(4),
  AGENTBRIDGE_TURN_TIMEOUT_S: positiveInt(1800),
  AGENTBRIDGE_IDLE_EVICT_S: positiveInt(600),
  AGENTBRIDGE_LOCAL_CHAT: z.enum(['auto', 'on', 'off']).default('auto'),
  // Local chat security (README "Local chat security"): the address people open; its host is served besides loopback.
  AGENTBRIDGE_PUBLIC_URL: optionalString.refine((v) => v === undefined || isPublicUrl(v), 'must be an http(s) URL without query or fragment, e.g. https://chat.example.com'),
  // Access control and operations (see .env.example).
  AGENTBRIDGE_ADMINS: qualifiedIds,
  AGENTBRIDGE_ALLOWED_USERS: qualifiedIds,
  AGENTBRIDGE_ALLOWED_CHANNELS: qualifiedIds,
  AGENTBRIDGE_WORKSPACES_ROOT: optionalString,
  AGENTBRIDGE_SHUTDOWN_GRACE_S: nonNegativeInt(60),
  AGENTBRIDGE_CRON_GRACE_S: nonNegativeInt(600),
  AGENTBRIDGE_RESTART_MODE: z.enum(['auto', 'spawn', 'exit']).default('auto'),
  // Extra variables kept from the agent (see src/runners/agent-env.ts): names or PREFIX_* globs.
  AGENTBRIDGE_AGENT_ENV_DENY: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const items = parseEnvDenyList(v);
      const bad = items.filter((i) => !isEnvDenyPattern(i));
      if (bad.length) {
        ctx.addIssue({ code: 'custom', message: `${bad.map((b) => `"${b}"`).join(', ')}: each item must be a variable name (e.g. AWS_SECRET_ACCESS_KEY) or a prefix ending in * (e.g. AWS_*)` });
        return z.NEVER;
      }
      return items;
    }),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Slack (see README "Slack"): Socket Mode with an app token, else the Events API over HTTP.
  SLACK_BOT_TOKEN: optionalString.refine((v) => v === undefined || v.startsWith('xoxb-'), 'must be a bot token starting with "xoxb-"'),
  SLACK_APP_TOKEN: optionalString.refine((v) => v === undefined || v.startsWith('xapp-'), 'must be an app-level token starting with "xapp-"'),
  SLACK_SIGNING_SECRET: optionalString,
  SLACK_API_URL: optionalString.refine((v) => v === undefined || /^https?:\/\//.test(v), 'must be an http(s) URL'),
  SLACK_ALLOW_BOTS: onOff.optional(),
  AGENTBRIDGE_SLACK_SOCKET_IDLE_S: positiveInt(60),
  // Discord (see README "Discord").
  DISCORD_BOT_TOKEN: optionalString,
  DISCORD_API_URL: optionalString.refine((v) => v === undefined || /^https?:\/\//.test(v), 'must be an http(s) URL'),
  DISCORD_CHANNELS: optionalString.refine((v) => v === undefined || /^\d+(\s*,\s*\d+)*$/.test(v), 'must be a comma-separated list of channel ids (digits)'),
  DISCORD_ALLOW_BOTS: onOff.optional(),
});

/**
 * The runner registry's variables (src/runners/registry.ts): `AGENTBRIDGE_AGENT` (`auto` or a
 * registered agent name, default `auto`) and each runner's bin variable (CLAUDE_BIN, …; optional).
 * Read when the configuration is loaded, so runners registered before that count.
 */
export function runnerEnvShape() {
  const defs = runnerDefinitions();
  const bins: Record<string, typeof optionalString> = Object.fromEntries(defs.map((d) => [d.binVariable, optionalString]));
  return { AGENTBRIDGE_AGENT: z.enum(['auto', ...defs.map((d) => d.name)]).default('auto'), ...bins };
}

/** Thrown by {@link loadConfig}; `message` lists every problem, one per line, without values of secrets. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Validates `env` and returns the typed config.
 * @throws ConfigError naming every invalid variable and why (values are never echoed for
 *   variables whose name suggests a secret).
 */
export function loadConfig(env: NodeJS.ProcessEnv, cwd = process.cwd()): Config {
  const schema = envSchema.extend(runnerEnvShape());
  const raw = pickKnown(env, Object.keys(schema.shape));
  const parsed = schema.safeParse(raw);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((i) => {
        const name = String(i.path[0] ?? '?');
        // Messages of secret variables never echo the value (zod's refine messages don't).
        return `${name}: ${i.message}`;
      });
  if (raw.SLACK_BOT_TOKEN && !raw.SLACK_APP_TOKEN && !raw.SLACK_SIGNING_SECRET) {
    problems.push('SLACK_BOT_TOKEN: set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (Events API over HTTP) too');
  }
  if (!raw.SLACK_BOT_TOKEN && (raw.SLACK_APP_TOKEN || raw.SLACK_SIGNING_SECRET)) {
    problems.push('SLACK_BOT_TOKEN: required when SLACK_APP_TOKEN or SLACK_SIGNING_SECRET is set');
  }
  if (!parsed.success || problems.length) throw new ConfigError(problems);
  const e = parsed.data;
  const dataDir = path.resolve(cwd, e.AGENTBRIDGE_DATA_DIR);
  const workdir = path.resolve(cwd, e.AGENTBRIDGE_WORKDIR);
  return {
    dataDir,
    dbPath: path.join(dataDir, 'agentbridge.db'),
    http: { host: e.AGENTBRIDGE_HTTP_HOST, port: e.AGENTBRIDGE_HTTP_PORT },
    agent: e.AGENTBRIDGE_AGENT,
    model: e.AGENTBRIDGE_MODEL,
    workdir,
    permissionMode: e.AGENTBRIDGE_PERMISSION_MODE,
    maxConcurrentTurns: e.AGENTBRIDGE_MAX_CONCURRENT_TURNS,
    turnTimeoutMs: e.AGENTBRIDGE_TURN_TIMEOUT_S * 1000,
    idleEvictMs: e.AGENTBRIDGE_IDLE_EVICT_S * 1000,
    localChat: e.AGENTBRIDGE_LOCAL_CHAT,
    publicUrl: e.AGENTBRIDGE_PUBLIC_URL?.replace(/\/+$/, ''),
    access: { admins: e.AGENTBRIDGE_ADMINS, allowedUsers: e.AGENTBRIDGE_ALLOWED_USERS, allowedChannels: e.AGENTBRIDGE_ALLOWED_CHANNELS },
    workspacesRoot: e.AGENTBRIDGE_WORKSPACES_ROOT ? path.resolve(cwd, e.AGENTBRIDGE_WORKSPACES_ROOT) : workdir,
    shutdownGraceMs: e.AGENTBRIDGE_SHUTDOWN_GRACE_S * 1000,
    cronGraceMs: e.AGENTBRIDGE_CRON_GRACE_S * 1000,
    restartMode: e.AGENTBRIDGE_RESTART_MODE,
    bins: Object.fromEntries(runnerDefinitions().map((d) => [d.name, (e as Record<string, unknown>)[d.binVariable] as string | undefined])),
    logLevel: e.LOG_LEVEL,
    agentEnv: agentEnvironment(env, e.AGENTBRIDGE_AGENT_ENV_DENY),
    slack: e.SLACK_BOT_TOKEN
      ? { botToken: e.SLACK_BOT_TOKEN, appToken: e.SLACK_APP_TOKEN, signingSecret: e.SLACK_SIGNING_SECRET, apiUrl: slackApiBase(e.SLACK_API_URL), allowBots: e.SLACK_ALLOW_BOTS ?? false, socketIdleMs: e.AGENTBRIDGE_SLACK_SOCKET_IDLE_S * 1000 }
      : undefined,
    discord: e.DISCORD_BOT_TOKEN
      ? { botToken: e.DISCORD_BOT_TOKEN, apiUrl: e.DISCORD_API_URL?.replace(/\/+$/, ''), channels: e.DISCORD_CHANNELS ? e.DISCORD_CHANNELS.split(',').map((c) => c.trim()) : [], allowBots: e.DISCORD_ALLOW_BOTS ?? false }
      : undefined,
  };
}

/** An absolute http(s) URL with a host and no query, fragment or credentials. */
function isPublicUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' && !u.search && !u.hash && !u.username && !u.password;
  } catch {
    return false;
  }
}

/** Slack's Web API client wants a base ending in `/api/`; accept the host or `/api` too. */
function slackApiBase(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const trimmed = url.replace(/\/+$/, '');
  return trimmed.endsWith('/api') ? `${trimmed}/` : `${trimmed}/api/`;
}

/** Empty strings count as unset, so `FOO=` in .env falls back to the default. */
function pickKnown(env: NodeJS.ProcessEnv, keys: string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const key of keys) {
    const v = env[key];
    out[key] = v === undefined || v === '' ? undefined : v;
  }
  return out;
}

/** True for variable names that usually hold secrets (tokens, keys, passwords). */
export function isSecretName(name: string): boolean {
  return /TOKEN|SECRET|KEY|PASSWORD|PASS|CREDENTIAL|AUTH/i.test(name);
}
