/**
 * agentbridge's configuration: zod schemas over the environment (after `.env` is loaded by
 * dotenv in the CLI) — agentbridge's own variables here, each platform's in its module
 * (`src/platforms/<name>/config.ts`, composed through `src/platforms/registry.ts`), validated
 * together so one error names every problem. The rest of the code receives a typed
 * {@link Config}, never process.env.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { CLUSTER_ROLES, type ClusterRole, type Config } from './core/config.js';
import { nonNegativeInt, onOff, optionalString, positiveInt } from './core/env-schema.js';
import { deriveTurnSlots, describeMachine, type MachineFacts } from './core/slots.js';
import { readMachineFacts } from './machine.js';
import { redactUrl } from './store/postgres.js';
import { PLATFORMS, type PlatformRegistry } from './platforms/registry.js';
import { agentEnvironment, isEnvDenyPattern, parseEnvDenyList } from './runners/agent-env.js';
import { PACKAGE_BIN_DIR, withPackageBin } from './runners/bin.js';
import { runnerDefinitions } from './runners/registry.js';

/** A comma-separated list of ids qualified by a registered platform (`slack:U123,discord:456,local:alice`). */
function qualifiedIds(registry: PlatformRegistry) {
  const prefix = new RegExp(`^(${registry.map((m) => m.name).join('|')}):\\S+$`);
  const examples = registry.map((m) => m.userIdExample);
  const like = examples.length > 1 ? `${examples.slice(0, -1).join(', ')} or ${examples.at(-1)}` : (examples[0] ?? '');
  return z
    .string()
    .optional()
    .transform((v, ctx) => {
      const items = (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const item of items) {
        if (!prefix.test(item)) {
          ctx.addIssue({ code: 'custom', message: `"${item}" is not a platform-qualified id like ${like}` });
          return z.NEVER;
        }
      }
      return items;
    });
}

/**
 * The schema of agentbridge's own environment variables, with their defaults; each platform's
 * variables are its module's (`config.env` in `src/platforms/<name>/`).
 * @param registry the platforms whose names qualify ids in the access lists
 */
export function baseEnvSchema(registry: PlatformRegistry = PLATFORMS) {
  return z.object({ ...baseShape(qualifiedIds(registry)), ...runnerEnvShape() });
}

/**
 * AGENTBRIDGE_APPROVERS: a comma-separated list of `requester` (the person whose message started
 * the turn), `admins` (AGENTBRIDGE_ADMINS) and platform-qualified user ids; default
 * `requester,admins`. Whoever any item names may decide approvals, questions and plans.
 */
function approvers(qualified: ReturnType<typeof qualifiedIds>) {
  return z
    .string()
    .optional()
    .transform((v, ctx) => {
      const items = (v ?? 'requester,admins')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const ids = items.filter((i) => i !== 'requester' && i !== 'admins');
      const parsed = qualified.safeParse(ids.join(','));
      if (!parsed.success) {
        for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: `${issue.message}, "requester" or "admins"` });
        return z.NEVER;
      }
      if (items.length === 0) {
        ctx.addIssue({ code: 'custom', message: 'must name at least one of "requester", "admins" or a platform-qualified user id' });
        return z.NEVER;
      }
      return { requester: items.includes('requester'), admins: items.includes('admins'), users: parsed.data };
    });
}

/**
 * AGENTBRIDGE_DATABASE_URL: unset, or a `postgres://` / `postgresql://` URL. The problem message
 * shows the value only in its redacted form (`redactUrl`: the password replaced by `***`); the
 * variable counts as secret ({@link isSecretName}), so {@link describeIssue} never echoes it raw.
 */
const databaseUrl = optionalString.superRefine((v, ctx) => {
  if (v === undefined || isPostgresUrl(v)) return;
  ctx.addIssue({
    code: 'custom',
    message: `${shownUrl(v)} is not a PostgreSQL URL: use postgres://USER:PASSWORD@HOST:PORT/DATABASE (or postgresql://…), or leave it unset for SQLite in the data directory`,
  });
});

/**
 * How a bad AGENTBRIDGE_DATABASE_URL is shown: its redacted form (`redactUrl`) when it is a URL
 * with a host (`scheme://user:***@host/…`), else only its scheme, or nothing (a password could be anywhere in it).
 */
function shownUrl(v: string): string {
  try {
    const u = new URL(v);
    return u.host ? `'${redactUrl(v)}'` : `the ${u.protocol} value`;
  } catch {
    return 'the value';
  }
}

/** True for a URL that parses and whose scheme is `postgres:` or `postgresql:`. */
function isPostgresUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'postgres:' || u.protocol === 'postgresql:';
  } catch {
    return false;
  }
}

/** agentbridge's own variables (platform-independent). */
function baseShape(qualified: ReturnType<typeof qualifiedIds>) {
  return {
    AGENTBRIDGE_DATA_DIR: z.string().min(1).default('./data'),
    // The session store: unset → SQLite in the data directory; a postgres:// URL → PostgreSQL.
    AGENTBRIDGE_DATABASE_URL: databaseUrl,
    // Cluster mode (docs/ARCHITECTURE.md §10): several instances on one PostgreSQL database.
    AGENTBRIDGE_CLUSTER: onOff.optional(),
    AGENTBRIDGE_INSTANCE_ID: optionalString.refine((v) => v === undefined || /^[A-Za-z0-9._-]{1,64}$/.test(v), 'must be 1–64 letters, digits, ".", "_" or "-"'),
    AGENTBRIDGE_ROLES: optionalString.transform((v, ctx) => {
      if (v === undefined) return undefined;
      const roles = parseRoles(v);
      if (typeof roles === 'string') {
        ctx.addIssue({ code: 'custom', message: roles });
        return z.NEVER;
      }
      return roles;
    }),
    AGENTBRIDGE_CLUSTER_HEARTBEAT_S: positiveInt(10).refine((n) => n >= 10, 'must be at least 10 (pg-boss heartbeats)'),
    AGENTBRIDGE_WORKSPACES_SHARED: onOff.optional(),
    AGENTBRIDGE_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
    AGENTBRIDGE_HTTP_PORT: z
      .string()
      .default('8080')
      .transform((v, ctx) => {
        const n = Number(v);
        if (!/^\d+$/.test(v.trim()) || n > 65535) {
          ctx.addIssue({ code: 'custom', message: 'must be a port number 0–65535' });
          return z.NEVER;
        }
        return n;
      }),
    AGENTBRIDGE_MODEL: optionalString,
    AGENTBRIDGE_WORKDIR: z.string().min(1).default('./workspace'),
    AGENTBRIDGE_PERMISSION_MODE: z.enum(['read-only', 'ask', 'edit', 'full']).default('edit'),
    // The answer's change summary line in a git work tree (src/core/changes.ts).
    AGENTBRIDGE_CHANGE_SUMMARY: onOff.optional(),
    // The local chat's largest file, MB (files sent by agents; src/platforms/local/files.ts).
    AGENTBRIDGE_MAX_FILE_MB: positiveInt(25),
    // Default: derived from the machine (src/core/slots.ts), see loadConfig.
    AGENTBRIDGE_MAX_CONCURRENT_TURNS: positiveInt(0).optional(),
    AGENTBRIDGE_TURN_TIMEOUT_S: positiveInt(1800),
    AGENTBRIDGE_IDLE_EVICT_S: positiveInt(600),
    // Interactive sessions (README "Approvals and steering").
    AGENTBRIDGE_SESSION_IDLE_S: positiveInt(600),
    AGENTBRIDGE_MAX_LIVE_SESSIONS: positiveInt(0).optional(),
    AGENTBRIDGE_APPROVAL_TIMEOUT_S: positiveInt(900),
    AGENTBRIDGE_BUSY_MODE: z.enum(['steer', 'queue', 'interrupt']).default('steer'),
    AGENTBRIDGE_APPROVERS: approvers(qualified),
    // Local chat security (README "Local chat security"): the address people open; its host is served besides loopback.
    AGENTBRIDGE_PUBLIC_URL: optionalString.refine(
      (v) => v === undefined || isPublicUrl(v),
      'must be an http(s) URL without query or fragment, e.g. https://chat.example.com',
    ),
    // Access control and operations (see .env.example).
    AGENTBRIDGE_ADMINS: qualified,
    AGENTBRIDGE_ALLOWED_USERS: qualified,
    AGENTBRIDGE_ALLOWED_CHANNELS: qualified,
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
          ctx.addIssue({
            code: 'custom',
            message: `${bad.map((b) => `"${b}"`).join(', ')}: each item must be a variable name (e.g. AWS_SECRET_ACCESS_KEY) or a prefix ending in * (e.g. AWS_*)`,
          });
          return z.NEVER;
        }
        return items;
      }),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  };
}

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
 * Validates `env` and returns the typed config; each registered platform's settings are under
 * its name (`config.slack`, …; see `PlatformConfigSpec.read`).
 * @param cwd the directory relative paths are resolved against
 * @param registry the platform modules (default: the registry; tests pass another list)
 * @param machine what the default turn slots are derived from when AGENTBRIDGE_MAX_CONCURRENT_TURNS
 *   is unset (`src/machine.ts` → `readMachineFacts`, called only then; tests pass fixed facts)
 * @throws ConfigError naming every invalid variable, its value and why (values are never echoed
 *   for variables whose name suggests a secret; see {@link describeIssue}).
 */
export function loadConfig(
  env: NodeJS.ProcessEnv,
  cwd = process.cwd(),
  registry: PlatformRegistry = PLATFORMS,
  machine: () => MachineFacts = readMachineFacts,
): Config {
  const base = baseEnvSchema(registry);
  const platforms = registry.map((m) => ({ module: m, schema: z.object(m.config.env) }));
  assertDistinctVariables([Object.keys(base.shape), ...platforms.map((p) => Object.keys(p.schema.shape))], registry);
  const problems: string[] = [];
  const baseRaw = pickKnown(env, Object.keys(base.shape));
  const parsed = base.safeParse(baseRaw);
  if (!parsed.success) problems.push(...parsed.error.issues.map((i) => describeIssue(i, baseRaw)));
  const values = platforms.map(({ module, schema }) => {
    const raw = pickKnown(env, Object.keys(schema.shape));
    const result = schema.safeParse(raw);
    if (!result.success) problems.push(...result.error.issues.map((i) => describeIssue(i, raw)));
    problems.push(...(module.config.check?.(raw) ?? []));
    return { module, values: result.success ? result.data : undefined };
  });
  if (parsed.success && parsed.data.AGENTBRIDGE_CLUSTER && !parsed.data.AGENTBRIDGE_DATABASE_URL)
    problems.push('AGENTBRIDGE_CLUSTER: cluster mode needs PostgreSQL — set AGENTBRIDGE_DATABASE_URL (several instances share one database)');
  if (parsed.success && !parsed.data.AGENTBRIDGE_CLUSTER && parsed.data.AGENTBRIDGE_ROLES)
    problems.push('AGENTBRIDGE_ROLES: roles apply in cluster mode only — set AGENTBRIDGE_CLUSTER=1 too');
  if (!parsed.success || problems.length) throw new ConfigError(problems);
  const e = parsed.data;
  const dataDir = path.resolve(cwd, e.AGENTBRIDGE_DATA_DIR);
  const workdir = path.resolve(cwd, e.AGENTBRIDGE_WORKDIR);
  const slots = turnSlots(e.AGENTBRIDGE_MAX_CONCURRENT_TURNS, machine);
  const dbPath = path.join(dataDir, 'agentbridge.db');
  const config: Config = {
    dataDir,
    dbPath,
    database: e.AGENTBRIDGE_DATABASE_URL ? { backend: 'postgres', url: e.AGENTBRIDGE_DATABASE_URL } : { backend: 'sqlite', path: dbPath },
    cluster: e.AGENTBRIDGE_CLUSTER
      ? {
          instanceId: e.AGENTBRIDGE_INSTANCE_ID ?? `${os.hostname()}-${process.pid}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64),
          roles: e.AGENTBRIDGE_ROLES ?? [...CLUSTER_ROLES],
          heartbeatS: e.AGENTBRIDGE_CLUSTER_HEARTBEAT_S,
          workspacesShared: e.AGENTBRIDGE_WORKSPACES_SHARED ?? false,
        }
      : undefined,
    http: { host: e.AGENTBRIDGE_HTTP_HOST, port: e.AGENTBRIDGE_HTTP_PORT },
    agent: e.AGENTBRIDGE_AGENT,
    model: e.AGENTBRIDGE_MODEL,
    workdir,
    permissionMode: e.AGENTBRIDGE_PERMISSION_MODE,
    changeSummary: e.AGENTBRIDGE_CHANGE_SUMMARY ?? true,
    maxFileBytes: e.AGENTBRIDGE_MAX_FILE_MB * 1024 * 1024,
    maxConcurrentTurns: slots.slots,
    maxConcurrentTurnsSource: slots.source,
    turnTimeoutMs: e.AGENTBRIDGE_TURN_TIMEOUT_S * 1000,
    idleEvictMs: e.AGENTBRIDGE_IDLE_EVICT_S * 1000,
    sessionIdleMs: e.AGENTBRIDGE_SESSION_IDLE_S * 1000,
    maxLiveSessions: e.AGENTBRIDGE_MAX_LIVE_SESSIONS ?? 2 * slots.slots,
    approvalTimeoutMs: e.AGENTBRIDGE_APPROVAL_TIMEOUT_S * 1000,
    busyMode: e.AGENTBRIDGE_BUSY_MODE,
    approvers: e.AGENTBRIDGE_APPROVERS,
    publicUrl: e.AGENTBRIDGE_PUBLIC_URL?.replace(/\/+$/, ''),
    access: { admins: e.AGENTBRIDGE_ADMINS, allowedUsers: e.AGENTBRIDGE_ALLOWED_USERS, allowedChannels: e.AGENTBRIDGE_ALLOWED_CHANNELS },
    workspacesRoot: e.AGENTBRIDGE_WORKSPACES_ROOT ? path.resolve(cwd, e.AGENTBRIDGE_WORKSPACES_ROOT) : workdir,
    shutdownGraceMs: e.AGENTBRIDGE_SHUTDOWN_GRACE_S * 1000,
    cronGraceMs: e.AGENTBRIDGE_CRON_GRACE_S * 1000,
    restartMode: e.AGENTBRIDGE_RESTART_MODE,
    bins: Object.fromEntries(runnerDefinitions().map((d) => [d.name, (e as Record<string, unknown>)[d.binVariable] as string | undefined])),
    logLevel: e.LOG_LEVEL,
    // A platform's variables never reach the agent, nor what its module lists (e.g. SLACK_*).
    // PATH: agentbridge's node_modules/.bin first, however it was started (src/runners/bin.ts).
    agentEnv: withAgentPath(
      agentEnvironment(env, [
        ...e.AGENTBRIDGE_AGENT_ENV_DENY,
        ...platforms.flatMap((p) => [...Object.keys(p.schema.shape), ...(p.module.config.agentEnvDeny ?? [])]),
      ]),
    ),
  };
  const settings = config as unknown as Record<string, unknown>;
  for (const { module, values: v } of values) settings[module.name] = module.config.read(v ?? {});
  return config;
}

/**
 * A comma-separated role list (`agentbridge start --roles`, AGENTBRIDGE_ROLES): the roles in
 * {@link CLUSTER_ROLES} order without repeats, or a problem sentence naming the bad items.
 */
export function parseRoles(text: string): ClusterRole[] | string {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = items.filter((i) => !(CLUSTER_ROLES as readonly string[]).includes(i));
  if (bad.length) return `${bad.map((b) => `"${b}"`).join(', ')}: each role must be one of ${CLUSTER_ROLES.join(', ')}`;
  if (items.length === 0) return `name at least one role of ${CLUSTER_ROLES.join(', ')}`;
  return CLUSTER_ROLES.filter((r) => items.includes(r));
}

/** AGENTBRIDGE_MAX_CONCURRENT_TURNS when set, else one turn per 0.5 core and 400 MiB (src/core/slots.ts). */
function turnSlots(setting: number | undefined, machine: () => MachineFacts): { slots: number; source: string } {
  if (setting !== undefined) return { slots: setting, source: 'AGENTBRIDGE_MAX_CONCURRENT_TURNS' };
  const facts = machine();
  return { slots: deriveTurnSlots(facts).slots, source: describeMachine(facts) };
}

/** `env` with agentbridge's `node_modules/.bin` on PATH ({@link withPackageBin}) when that folder exists (a clone after `npm ci`, or an install). */
function withAgentPath(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return fs.existsSync(PACKAGE_BIN_DIR) ? { ...env, PATH: withPackageBin(env['PATH']) } : env;
}

/**
 * Programming-error guard: every variable belongs to one owner (agentbridge or one platform).
 * @throws Error naming the variable declared twice
 */
function assertDistinctVariables(lists: string[][], registry: PlatformRegistry): void {
  const seen = new Set<string>();
  for (const name of lists.flat()) {
    if (seen.has(name)) throw new Error(`environment variable ${name} is declared twice (platforms: ${registry.map((m) => m.name).join(', ')})`);
    seen.add(name);
  }
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

/** Empty strings count as unset, so `FOO=` in .env falls back to the default. */
function pickKnown(env: NodeJS.ProcessEnv, names: readonly string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const key of names) {
    const v = env[key];
    out[key] = v === undefined || v === '' ? undefined : v;
  }
  return out;
}

/**
 * One configuration problem for people: `NAME: 'value' <why>`, e.g.
 * `AGENTBRIDGE_AGENT: 'foo' is not one of auto, claude, codex, gemini` or
 * `AGENTBRIDGE_HTTP_PORT: 'eighty' must be a port number 0–65535`. The value is left out for
 * variables whose name suggests a secret ({@link isSecretName}: `SLACK_BOT_TOKEN: must be a bot
 * token…`), for unset ones, and when the message already quotes the offending list item (it starts
 * with `"`, e.g. `AGENTBRIDGE_ADMINS: "bob" is not a platform-qualified id…`).
 * @param raw the variables as parsed (blank ones already undefined)
 */
export function describeIssue(issue: z.core.$ZodIssue, raw: Record<string, string | undefined>): string {
  const name = String(issue.path[0] ?? '?');
  const message = issue.code === 'invalid_value' ? `is not one of ${issue.values.map(String).join(', ')}` : issue.message;
  const value = raw[name];
  if (value === undefined || isSecretName(name) || message.startsWith('"')) return `${name}: ${message}`;
  return `${name}: '${value}' ${message}`;
}

/** True for variable names that usually hold secrets (tokens, keys, passwords, database URLs with their password). */
export function isSecretName(name: string): boolean {
  return /TOKEN|SECRET|KEY|PASSWORD|PASS|CREDENTIAL|AUTH|DATABASE_URL/i.test(name);
}
