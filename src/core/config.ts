/**
 * The typed configuration every layer may receive (platform adapters their part, runners the
 * binaries, the access policy its lists). Only its TYPES live here; reading and validating the
 * environment is `src/config.ts` (`loadConfig`), used by the app and the CLI alone.
 */
import type { AgentName, PermissionMode } from './agents.js';
import type { PlatformSettings } from './platforms.js';

/**
 * The session store's database: SQLite at `path` (`<dataDir>/agentbridge.db`, the default when
 * AGENTBRIDGE_DATABASE_URL is unset), or PostgreSQL at `url` (`postgres://…` or
 * `postgresql://…`; it may hold a password: show it only through `redactUrl`, src/store/postgres.ts).
 */
export type DatabaseConfig = { backend: 'sqlite'; path: string } | { backend: 'postgres'; url: string };

/** A role of an agentbridge instance in cluster mode (docs/ARCHITECTURE.md §10). */
export type ClusterRole = 'ingress' | 'worker' | 'leader';

/** Every role, in the order they are listed. */
export const CLUSTER_ROLES: readonly ClusterRole[] = ['ingress', 'worker', 'leader'];

/**
 * Cluster mode (AGENTBRIDGE_CLUSTER=1, PostgreSQL only): several instances share one database.
 * - `instanceId`: AGENTBRIDGE_INSTANCE_ID, else `<hostname>-<pid>`; shown by `cluster status`, a `/metrics` label.
 * - `roles`: `agentbridge start --roles …` or AGENTBRIDGE_ROLES (default all three).
 * - `heartbeatS`: the wake-up jobs' heartbeat window, s (AGENTBRIDGE_CLUSTER_HEARTBEAT_S, default 10,
 *   pg-boss's minimum): a worker not heard from for this long loses its turns to another worker.
 * - `workspacesShared`: AGENTBRIDGE_WORKSPACES_SHARED=1 — every worker sees the same workspaces and
 *   agent homes (a shared volume), so agent session files are not synchronised through the database.
 */
export interface ClusterConfig {
  instanceId: string;
  roles: ClusterRole[];
  heartbeatS: number;
  workspacesShared: boolean;
}

/** AGENTBRIDGE_PERMISSION_MODE: the same levels as {@link PermissionMode}. */
export type PermissionModeSetting = PermissionMode;

/**
 * Typed configuration. Paths are absolute; durations in the unit their name says. Each
 * platform's settings are under the platform's name ({@link PlatformSettings}: `config.slack`,
 * `config.discord`, `config.local`), typed by the platform module (`src/platforms/<name>/`).
 */
export interface Config extends PlatformSettings {
  dataDir: string;
  /** `<dataDir>/agentbridge.db`: the SQLite database when {@link database} is SQLite (SQLite-only code paths). */
  dbPath: string;
  /** Where the session store lives (AGENTBRIDGE_DATABASE_URL): see {@link DatabaseConfig}. */
  database: DatabaseConfig;
  /** Cluster mode (AGENTBRIDGE_CLUSTER=1); undefined: one instance owns the store. See {@link ClusterConfig}. */
  cluster?: ClusterConfig;
  http: { host: string; port: number };
  /** AGENTBRIDGE_AGENT: a registered agent, or `auto` (the first usable one in registry order). */
  agent: 'auto' | AgentName;
  model?: string;
  workdir: string;
  permissionMode: PermissionModeSetting;
  /** Turns running at once: AGENTBRIDGE_MAX_CONCURRENT_TURNS, or derived from the machine (`core/slots.ts` → `deriveTurnSlots`). */
  maxConcurrentTurns: number;
  /**
   * Where {@link maxConcurrentTurns} came from, for the startup log and `agentbridge doctor`:
   * `"AGENTBRIDGE_MAX_CONCURRENT_TURNS"` when set, else the machine (`"2 cores, 7.8 GiB"`).
   */
  maxConcurrentTurnsSource?: string;
  turnTimeoutMs: number;
  /** A bridge idle this long (ms) is dropped from memory. */
  idleEvictMs: number;
  /** A live agent session (process) unused this long (ms) is closed (AGENTBRIDGE_SESSION_IDLE_S). */
  sessionIdleMs: number;
  /** At most this many live agent sessions at once; the least recently used is closed first (default twice the turn slots). */
  maxLiveSessions: number;
  /** How long an approval, question or plan waits for a decision before it is denied (ms). */
  approvalTimeoutMs: number;
  /**
   * AGENTBRIDGE_CHANGE_SUMMARY (default on): in a git work tree a turn's answer ends with the line
   * `📝 N files changed (+A −D): …` of what the turn changed (src/core/changes.ts).
   */
  changeSummary: boolean;
  /**
   * AGENTBRIDGE_MAX_FILE_MB (default 25) in bytes: the largest file of the local chat (a file an
   * agent sends there with `send_file`). Slack and Discord have their own limits (`PlatformLimits.maxFileBytes`).
   */
  maxFileBytes: number;
  /** What a message that arrives while a turn runs does: join the turn (`steer`), wait for the next (`queue`), or stop the turn and start a new one (`interrupt`). */
  busyMode: BusyMode;
  /** Who may decide approvals, questions and plans (AGENTBRIDGE_APPROVERS). */
  approvers: ApproversConfig;
  /**
   * AGENTBRIDGE_PUBLIC_URL without a trailing slash (e.g. `https://chat.example.com`): its host
   * name is served besides loopback names, and login links start with it. Undefined when unset.
   */
  publicUrl?: string;
  /** Who may use agentbridge; ids are platform-qualified (`slack:U123`). Empty lists = everyone. */
  access: AccessConfig;
  /** `/agent workdir` paths must resolve inside this directory (default: the workdir). */
  workspacesRoot: string;
  /** How long running turns may finish on SIGTERM/SIGINT/restart before they are stopped (ms). */
  shutdownGraceMs: number;
  /** A cron run missed (agentbridge down) by less than this (ms) still runs once after start; older ones are skipped. */
  cronGraceMs: number;
  /** How `/agent restart` starts the new process: spawn it, exit for a supervisor, or auto (exit when pid 1). */
  restartMode: 'auto' | 'spawn' | 'exit';
  /** Each runner's `*_BIN` setting (e.g. CLAUDE_BIN), by agent name; absent = its command on PATH. */
  bins: Readonly<Record<AgentName, string | undefined>>;
  logLevel: string;
  /**
   * The agent processes' environment: the full environment minus agentbridge's own variables,
   * platform credentials and `AGENTBRIDGE_AGENT_ENV_DENY` (src/runners/agent-env.ts).
   */
  agentEnv: NodeJS.ProcessEnv;
}

/** AGENTBRIDGE_BUSY_MODE. */
export type BusyMode = 'steer' | 'queue' | 'interrupt';

/** AGENTBRIDGE_APPROVERS, parsed: the requester, the admins, and these platform-qualified user ids. */
export interface ApproversConfig {
  requester: boolean;
  admins: boolean;
  users: string[];
}

export interface AccessConfig {
  /** Platform-qualified user ids of admins (they may also use every admin command). */
  admins: string[];
  /** Platform-qualified user ids allowed to talk to the agent; empty = everyone. Admins are always allowed. */
  allowedUsers: string[];
  /** Platform-qualified channel ids where agentbridge works; empty = every channel it is in. */
  allowedChannels: string[];
}
