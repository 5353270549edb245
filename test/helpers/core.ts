/**
 * The core wired in-process for unit tests by the service's own composition root (`createCore`,
 * src/compose.ts): a real store (a SQLite temp file, or the store given: PostgreSQL in the tests
 * that run on both backends, test/helpers/backends.ts `testDatabase`), the recording adapter, manual runners — the
 * outbox, inbox, bridges, command service, router and scheduler as in src/app.ts, without
 * platforms, HTTP or processes. Options cover what individual tests vary.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { createCore, type CoreConfig, type CoreDeps } from '../../src/compose.js';
import type { Bridges, TurnEndedListener } from '../../src/conversation/bridges.js';
import type { CommandService } from '../../src/conversation/commands/index.js';
import type { Inbox } from '../../src/conversation/inbox.js';
import type { OutboxDelivery, OutboxOptions } from '../../src/conversation/outbox.js';
import type { Outbound } from '../../src/conversation/outbound.js';
import type { Router } from '../../src/conversation/router.js';
import type { AgentName } from '../../src/core/agents.js';
import type { TurnOutcome } from '../../src/core/turn.js';
import type { Runner } from '../../src/runners/types.js';
import type { Interactions } from '../../src/conversation/interactions.js';
import type { LiveSessions } from '../../src/conversation/live-sessions.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import type { StoreHealth } from '../../src/store/health.js';
import type { AppStore } from '../../src/store/open.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';
import { ManualRunner, RecordingAdapter } from './fakes.js';

export interface CoreOptions {
  /** Database file; default a new temp directory's `agentbridge.db`. Ignored with {@link store}. */
  dbPath?: string;
  /** An open store to wire the core on (SQLite or PostgreSQL); `close()` closes it. Default: SQLite at {@link dbPath}. */
  store?: AppStore;
  /** Turn slots (AGENTBRIDGE_MAX_CONCURRENT_TURNS); default 4. */
  concurrency?: number;
  /** Outbox retry delays, ms; default [20]. */
  retryDelaysMs?: number[];
  /** Default silent. */
  logger?: Logger;
  /** Runners for codex/gemini (claude is always `runner`); default: `runner` for all three. */
  runners?: Partial<Record<Exclude<AgentName, 'claude'>, Runner>>;
  /** Subscribed to the bridges' `turnEnded` event (first). */
  onTurnEnd?: (conversationId: string, outcome: TurnOutcome, ms: number, info: Parameters<TurnEndedListener>[0]['info']) => void;
  onDeliveryError?: OutboxOptions['onDeliveryError'];
  /** ms; default 60,000. */
  idleEvictMs?: number;
  /** Leave the router in its start-up recovery phase (for recovery tests); default false. */
  recovering?: boolean;
  /**
   * Wire a {@link StoreHealth} (probe: the store's probe write) into the inbox, bridges, commands
   * and outbox, as src/app.ts does; probe and retry backoff 20 ms doubling to 200 ms. Default false.
   */
  health?: boolean;
  /**
   * Configuration the commands read (access lists, workspaces root, shutdown grace, default
   * workdir), or a function of the core's directory giving it; defaults: everyone allowed, the
   * directory, 0, the directory.
   */
  config?: TestConfig | ((dir: string) => TestConfig);
  /** `/agent agent` choices; default claude. */
  availableAgents?: AgentName[];
  /** Fake cron and scheduled-message services for commands; default the core's scheduler's. */
  commandServices?: CoreDeps['commandServices'];
  /** `/agent restart` hook. */
  onRestartRequested?: () => void;
  /** The claude runner; default a {@link ManualRunner} (then `runner` is it). */
  claudeRunner?: Runner;
  /** Cluster mode's core options (src/compose.ts `CoreDeps.cluster`); the test runs the worker itself. */
  cluster?: CoreDeps['cluster'];
}

type TestConfig = Partial<
  Pick<
    CoreConfig,
    | 'access'
    | 'workspacesRoot'
    | 'shutdownGraceMs'
    | 'workdir'
    | 'approvalTimeoutMs'
    | 'busyMode'
    | 'approvers'
    | 'maxLiveSessions'
    | 'sessionIdleMs'
    | 'turnTimeoutMs'
    | 'changeSummary'
    | 'maxFileBytes'
  >
>;

export interface Core<S extends AppStore = SqliteStore> {
  dir: string;
  store: S;
  adapter: RecordingAdapter;
  runner: ManualRunner;
  outbox: OutboxDelivery;
  /** The one outbound path on {@link outbox}. */
  outbound: Outbound;
  inbox: Inbox;
  /** The inbound pipeline: access → commands → inbox → bridge. */
  router: Router;
  bridges: Bridges;
  commands: CommandService;
  /** Built, not started. */
  scheduler: Scheduler;
  /** The store health, when `health` was asked for. */
  health?: StoreHealth;
  /** Approvals, questions and plans (`onAction` is what adapters call). */
  interactions: Interactions;
  /** Live agent sessions. */
  sessions: LiveSessions;
  /** Runs the core's start (outbox, recovery, scheduler, sweeps). */
  start(): Promise<void>;
  /** Shuts the bridges and outbox down and closes the store (idempotent). The temp dir stays: see `removeDir`. */
  close(): Promise<void>;
  /** Removes the temp directory (only when this core created it). */
  removeDir(): void;
}

/** Wires the core with src/compose.ts's createCore; see {@link CoreOptions} for the defaults. */
export function startCore(opts?: CoreOptions & { store?: undefined }): Core;
export function startCore<S extends AppStore>(opts: CoreOptions & { store: S }): Core<S>;
export function startCore(opts: CoreOptions = {}): Core<AppStore> {
  const dir = opts.dbPath ? path.dirname(opts.dbPath) : fs.mkdtempSync(path.join(os.tmpdir(), 'core-test-'));
  const logger = opts.logger ?? pino({ level: 'silent' });
  const store = opts.store ?? openStore({ dbPath: opts.dbPath ?? path.join(dir, 'agentbridge.db'), logger });
  const adapter = new RecordingAdapter();
  const runner = new ManualRunner('claude');
  const storageRetry = { initialMs: 20, maxMs: 200 };
  const config: CoreConfig = {
    dataDir: dir,
    workdir: dir,
    permissionMode: 'edit',
    maxConcurrentTurns: opts.concurrency ?? 4,
    turnTimeoutMs: 60_000,
    idleEvictMs: opts.idleEvictMs ?? 60_000,
    access: { admins: [], allowedUsers: [], allowedChannels: [] },
    workspacesRoot: dir,
    shutdownGraceMs: 0,
    cronGraceMs: 10 * 60_000,
    agentEnv: {},
    ...(typeof opts.config === 'function' ? opts.config(dir) : opts.config),
  };
  const core = createCore(config, {
    store,
    logger,
    runners: { claude: opts.claudeRunner ?? runner, codex: opts.runners?.codex ?? runner, gemini: opts.runners?.gemini ?? runner },
    adapters: () => adapter,
    platforms: ['local', 'slack', 'discord'],
    defaultAgent: 'claude',
    availableAgents: opts.availableAgents ?? ['claude'],
    health: opts.health ? { initialDelayMs: storageRetry.initialMs, maxDelayMs: storageRetry.maxMs } : false,
    storageRetry,
    outboxRetryDelaysMs: opts.retryDelaysMs ?? [20],
    onDeliveryError: opts.onDeliveryError,
    onTurnEnd: opts.onTurnEnd && ((e) => opts.onTurnEnd!(e.conversationId, e.outcome, e.ms, e.info)),
    onRestartRequested: opts.onRestartRequested,
    commandServices: opts.commandServices,
    ...(opts.cluster ? { cluster: opts.cluster } : {}),
  });
  if (!opts.recovering) core.router.recovered();
  let closed = false;
  return {
    dir,
    store,
    adapter,
    runner,
    outbox: core.outbox,
    outbound: core.outbound,
    inbox: core.inbox,
    router: core.router,
    bridges: core.bridges,
    commands: core.commands,
    scheduler: core.scheduler,
    health: core.health,
    interactions: core.interactions,
    sessions: core.sessions,
    start: () => core.start(),
    async close() {
      if (closed) return;
      closed = true;
      core.health?.stop();
      await core.shutdown();
      await core.close();
      await store.close();
    },
    removeDir() {
      if (!opts.dbPath) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A pino logger at `level` whose JSON lines are parsed into `lines` (for asserting on logs). */
export function collectingLogger(level = 'debug'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  );
  return { logger, lines };
}
