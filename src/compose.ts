/**
 * The composition root of agentbridge's core: {@link createCore} builds, in this order, the
 * store health (probe: `store.probeWrite`, on both backends), the WAL checkpointer (SQLite only), the outbox, the one outbound path on it (turn answers,
 * command replies, refusals, restart, interruption and scheduler notices; the caller hands
 * `outbound` to the MCP routes), the inbox, the bridges, the command service (access control
 * and chat commands), the router's pipeline (access → commands → inbox → bridge), the scheduler
 * (subscribed to the bridges' `turnEnded` event), the agents' MCP tool access and the metrics
 * hooks. It is used by src/app.ts (the service), test/helpers/core.ts (in-process tests) and
 * bench/bridge-bench.ts; their differences are `deps`: the runners (src/runners/registry.ts),
 * the platform adapters (src/platforms/registry.ts `createAdapters`), the clock, the logger,
 * which optional parts run.
 *
 * What stays with the caller: the owner lock and opening the store, the HTTP server and its
 * routes (/healthz, /metrics, MCP), creating and starting the platform adapters.
 */
import { conversationWorkdir } from './conversation/worktrees.js';
import { WaitLine } from './conversation/wait-line.js';
import { BusyNotices, retireBusyNotices } from './conversation/busy-notice.js';
import PQueue from 'p-queue';
import type { Config } from './core/config.js';
import type { AgentName } from './core/agents.js';
import type { PlatformName } from './core/messages.js';
import { AccessPolicy } from './conversation/access.js';
import type { BridgeDeps } from './conversation/bridge.js';
import { Bridges, type TurnEndedListener } from './conversation/bridges.js';
import { CommandService, type CommandDeps } from './conversation/commands/index.js';
import { announceRestart } from './conversation/commands/restart.js';
import { Inbox } from './conversation/inbox.js';
import { OutboxDelivery, type AdapterLookup } from './conversation/outbox.js';
import { Outbound } from './conversation/outbound.js';
import { OutgoingFiles } from './store/outgoing-files.js';
import { recoverInbox } from './conversation/recovery.js';
import { Router } from './conversation/router.js';
import { Interactions } from './conversation/interactions.js';
import { LiveSessions } from './conversation/live-sessions.js';
import { ChangeSummaries } from './conversation/git-changes.js';
import { agentLabel } from './runners/registry.js';
import { apiErrorKind, type Metrics } from './http/metrics.js';
import type { Logger } from './logger.js';
import type { Runner } from './runners/types.js';
import { Scheduler } from './scheduler/scheduler.js';
import { startCheckpointer } from './store/checkpointer.js';
import { StoreHealth } from './store/health.js';
import type { AppStore } from './store/open.js';
import { ToolAccess, ToolTokens } from './tools/index.js';

/** The configuration the core reads (a full {@link Config} fits). */
export type CoreConfig = Pick<
  Config,
  | 'dataDir'
  | 'model'
  | 'workdir'
  | 'permissionMode'
  | 'maxConcurrentTurns'
  | 'turnTimeoutMs'
  | 'idleEvictMs'
  | 'access'
  | 'workspacesRoot'
  | 'shutdownGraceMs'
  | 'cronGraceMs'
  | 'agentEnv'
> &
  Partial<Pick<Config, 'sessionIdleMs' | 'maxLiveSessions' | 'approvalTimeoutMs' | 'busyMode' | 'approvers' | 'changeSummary' | 'maxFileBytes'>>;

/** What the core is built from besides the configuration; tests and the bench substitute these. */
export interface CoreDeps {
  /** The open store, SQLite or PostgreSQL (the caller took the owner lock, opened it, and closes it after {@link Core.close}). */
  store: AppStore;
  logger: Logger;
  /** One runner per agent. */
  runners: Record<AgentName, Runner>;
  /** The platform adapter of a platform (undefined when it does not run here). */
  adapters: AdapterLookup;
  /** Platforms that run here: cron targets on others are refused. */
  platforms: readonly PlatformName[];
  /** Agent of conversations that chose none; undefined when no agent is usable. */
  defaultAgent?: AgentName;
  /** Agents installed and logged in on this host (`/agent agent`). */
  availableAgents: AgentName[];
  /**
   * Store health (storage faults make it unhealthy until a probe write succeeds): probe delays
   * in ms (default 500 doubling to 5,000); `false` for none (bare unit tests, the bench).
   */
  health?: { initialDelayMs?: number; maxDelayMs?: number } | false;
  /** Backoff of storage-fault retries of turns and outbox deliveries, ms (default 500 → 5,000). */
  storageRetry?: { initialMs: number; maxMs: number };
  /** Outbox delivery retry delays, ms (default 1 s, 5 s, 15 s, 60 s, 5 min). */
  outboxRetryDelaysMs?: number[];
  /** WAL checkpoints in a worker thread (src/store/checkpointer.ts), SQLite only (ignored on PostgreSQL); default false. */
  walCheckpointer?: boolean;
  /** The MCP endpoint URL once the HTTP server listens; absent: turns run without agentbridge's tools. */
  mcpUrl?: () => string;
  /** Prometheus metrics to feed (turns, API errors, cron runs, queue sizes). */
  metrics?: Metrics;
  /** A delivery attempt of the outbox failed (besides metrics). */
  onDeliveryError?: (platform: PlatformName, err: unknown) => void;
  /** Subscribed to `turnEnded` after the metrics, before the scheduler (tests, AppHooks.onTurnEnd). */
  onTurnEnd?: TurnEndedListener;
  /** `/agent restart` was asked for (after the reply went out); absent: the command says it is not available. */
  onRestartRequested?: () => void;
  /** Clock of turns and the scheduler, ms since the epoch (default `Date.now`). */
  now?: () => number;
  /** Runs a turn (the bench measures around the real one). */
  turn?: BridgeDeps['turn'];
  /** Replaces the scheduler's cron and scheduled-message services in commands (tests); cluster mode's `stopElsewhere` and `clusterStatus`. */
  commandServices?: Partial<Pick<CommandDeps, 'cron' | 'scheduled' | 'stopElsewhere' | 'clusterStatus'>>;
  /**
   * Cluster mode (docs/ARCHITECTURE.md §10): messages reach the bridges only through wake-up jobs
   * (the caller runs `src/cluster/worker.ts`), outbox rows are delivered under a per-conversation
   * delivery lease held as `instanceId`, waiting approvals read decisions other instances recorded,
   * and `start()` leaves recovery to the workers and the scheduler to the leader.
   */
  cluster?: { instanceId: string; deliveryLeaseMs?: number; interactionPollMs?: number };
  /** Cluster mode without shared workspaces: agent session files saved after each turn and restored before a resume (src/cluster/session-files.ts). */
  sessionFiles?: BridgeDeps['sessionFiles'];
}

/** The wired core. */
export interface Core {
  store: AppStore;
  health?: StoreHealth;
  outbox: OutboxDelivery;
  /** The one outbound path (answers, command replies, refusals, notices) on {@link outbox}. */
  outbound: Outbound;
  inbox: Inbox;
  bridges: Bridges;
  /** The inbound pipeline; `router.accept` is the sink adapters call. */
  router: Router;
  commands: CommandService;
  scheduler: Scheduler;
  /** Approvals, questions and plans; `interactions.onAction` is the adapters' `AdapterContext.onAction`. */
  interactions: Interactions;
  /** The live agent sessions (one process per active conversation). */
  sessions: LiveSessions;
  /** Per-turn MCP tokens, when `mcpUrl` was given (the caller registers the MCP routes). */
  toolTokens?: ToolTokens;
  /** Copies of files sent by agents, until their outbox rows are delivered (`send_file`). */
  outgoingFiles: OutgoingFiles;
  /**
   * Resolves once the start-up housekeeping begun by {@link createCore} is done: the copies of
   * sent files that no pending outbox row needs are deleted. Never rejects (a failure is logged).
   * Await it before anything can send files (src/app.ts: before the adapters start); {@link start}
   * awaits it too.
   */
  readonly prepared: Promise<void>;
  /** True once {@link shutdown} began. */
  readonly stopping: boolean;
  /**
   * After the adapters started: waits for {@link prepared}, delivers what is left in the outbox, reports a finished restart,
   * recovers the inbox (cut turns announced and re-run, in order), starts the scheduler (late due
   * times within the grace window run once) and the idle sweep.
   */
  start(): Promise<void>;
  /**
   * Stops taking work: the scheduler, then the bridges (running turns get `graceMs` to finish;
   * the rest are left for retry after the next start), then the outbox. Idempotent.
   */
  shutdown(graceMs?: number): Promise<void>;
  /** After {@link shutdown} and after the adapters stopped (or when starting failed): stops the scheduler's timer, the health probe and the checkpointer. The store stays open. Idempotent. */
  close(): Promise<void>;
}

/** Builds the core; see the module comment. Throws what opening the tool secret throws (`mcpUrl` given). */
export function createCore(config: CoreConfig, deps: CoreDeps): Core {
  const { store, logger, adapters } = deps;
  const health =
    deps.health === false
      ? undefined
      : new StoreHealth({
          probe: () => store.probeWrite(),
          logger,
          initialDelayMs: deps.health?.initialDelayMs,
          maxDelayMs: deps.health?.maxDelayMs,
          // /healthz's reason names the database (redacted) on PostgreSQL.
          database: store.backend === 'postgres' ? `PostgreSQL at ${store.redactedUrl}` : undefined,
        });
  const checkpointer = deps.walCheckpointer && store.backend === 'sqlite' ? startCheckpointer(store, logger) : undefined;
  const metrics = deps.metrics;
  const outgoingFiles = new OutgoingFiles(config.dataDir);
  // Copies no pending outbox row needs (delivered rows whose delete failed, rows removed by `db prune`),
  // deleted before anything can make new ones (`prepared`).
  const prepared = (async () => {
    try {
      const keep = new Set((await store.outbox.pending()).flatMap((r) => (r.target.file ? [r.target.file.id] : [])));
      const removed = outgoingFiles.prune(keep);
      if (removed) logger.info({ removed }, 'outgoing file copies no pending row needs were deleted');
    } catch (err) {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not prune outgoing file copies');
    }
  })();
  const outbox = new OutboxDelivery({
    store,
    files: outgoingFiles,
    adapters,
    logger,
    health,
    retryDelaysMs: deps.outboxRetryDelaysMs,
    storageRetry: deps.storageRetry,
    ...(deps.cluster ? { lease: { holder: deps.cluster.instanceId, ttlMs: deps.cluster.deliveryLeaseMs ?? 30_000 } } : {}),
    onDeliveryError: (p, err) => {
      metrics?.apiError(p, apiErrorKind(err));
      deps.onDeliveryError?.(p, err);
    },
  });
  // Everything agentbridge posts goes through this one outbound path (rendered, chunked, outbox).
  const outbound = new Outbound(outbox);
  const inbox = new Inbox(store, health);
  const busyNotices = new BusyNotices({ adapters, store, outbound, logger: logger.child({ part: 'busy-notice' }) });

  // Agent tools over MCP: per-turn tokens (secret in <dataDir>/mcp-secret); the URL is known once the server listens.
  const mcpUrl = deps.mcpUrl;
  const toolTokens = mcpUrl ? ToolTokens.open(config.dataDir) : undefined;
  const tools = toolTokens && mcpUrl ? new ToolAccess({ tokens: toolTokens, url: mcpUrl }) : undefined;

  const interactions = new Interactions({
    store,
    outbound,
    logger: logger.child({ part: 'interactions' }),
    approvers: config.approvers ?? { requester: true, admins: true, users: [] },
    admins: config.access.admins,
    timeoutMs: config.approvalTimeoutMs ?? 900_000,
    agentLabel,
    ...(deps.defaultAgent ? { defaultAgent: deps.defaultAgent } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.cluster ? { pollMs: deps.cluster.interactionPollMs ?? 1_000 } : {}),
  });
  const sessions = new LiveSessions({
    idleMs: config.sessionIdleMs ?? 600_000,
    max: config.maxLiveSessions ?? 2 * config.maxConcurrentTurns,
    logger: logger.child({ part: 'sessions' }),
  });

  const bridges = new Bridges(
    {
      store,
      inbox,
      sessions,
      interactions,
      busyMode: config.busyMode ?? 'steer',
      runners: deps.runners,
      adapters,
      outbound,
      slots: new PQueue({ concurrency: config.maxConcurrentTurns }),
      waitLine: new WaitLine(),
      busyNotices,
      defaults: {
        agent: deps.defaultAgent,
        model: config.model,
        workdir: config.workdir,
        permissionMode: config.permissionMode,
        turnTimeoutMs: config.turnTimeoutMs,
      },
      env: config.agentEnv,
      resolveWorkdir: (conv) => conversationWorkdir(store, conv, config.workdir, config.agentEnv),
      // Absent from the config (tests, the bench): off.
      changes: config.changeSummary ? new ChangeSummaries({ env: config.agentEnv, logger: logger.child({ part: 'changes' }) }) : undefined,
      maxFileBytes: config.maxFileBytes,
      logger,
      tools,
      health,
      storageRetry: deps.storageRetry,
      turn: deps.turn,
      now: deps.now,
      ...(deps.sessionFiles ? { sessionFiles: deps.sessionFiles } : {}),
    },
    { idleEvictMs: config.idleEvictMs, external: deps.cluster !== undefined },
  );
  // Subscribed in this order, as before the event existed: metrics, the caller's hook, then the scheduler (below).
  if (metrics) bridges.on('turnEnded', (e) => metrics.turnEnded(e.info.platform, e.info.agent, e.outcome, e.ms));
  if (deps.onTurnEnd) bridges.on('turnEnded', deps.onTurnEnd);

  let stopping: Promise<void> | undefined;
  // Cron jobs and scheduled messages enter the same path — inbox, then bridge — as messages of
  // origin `scheduler`: set up by an allowed user or an admin, they pass no access control and are
  // never commands, so their pipeline has neither stage.
  const schedulerIntake = new Router({ inbox, bridges, logger });
  const scheduler = new Scheduler({
    store,
    ensureConversation: (init) => inbox.ensureConversation(init),
    submit: schedulerIntake.accept,
    notify: async (target, text, conversationId) => {
      await inbox.ensureConversation({ id: conversationId, platform: target.platform, channel: target.channel, thread: target.thread ?? null });
      await outbound.say({ conversationId, replyTarget: target }, text);
    },
    turnEnded: bridges,
    logger,
    platforms: deps.platforms,
    onRunEnd: (run) => metrics?.cronRun(run.status),
    graceMs: config.cronGraceMs,
    ...(deps.now ? { now: deps.now } : {}),
    // Cluster mode: cron runs and scheduled messages may be added on other instances; the leader looks every 5 s.
    ...(deps.cluster ? { maxSleepMs: 5_000 } : {}),
  });

  const commands = new CommandService({
    deps: {
      store,
      inbox,
      router: bridges,
      defaults: { agent: deps.defaultAgent, model: config.model, workdir: config.workdir, permissionMode: config.permissionMode },
      sessions,
      availableAgents: deps.availableAgents,
      workspacesRoot: config.workspacesRoot,
      gitEnv: config.agentEnv,
      // `diff`'s patch goes out like `send_file`'s files: a copy in the data directory, an outbox file row.
      files: {
        copies: outgoingFiles,
        maxBytes: (p) => {
          const adapter = adapters(p);
          return adapter?.postFile ? adapter.limits.maxFileBytes : undefined;
        },
      },
      shutdownGraceMs: config.shutdownGraceMs,
      cron: scheduler.cron,
      scheduled: scheduler.messages,
      ...deps.commandServices,
      restart: deps.onRestartRequested,
      ...(deps.cluster ? { instanceId: deps.cluster.instanceId } : {}),
      stopping: () => stopping !== undefined || bridges.stopping,
      logger: logger.child({ part: 'commands' }),
    },
    // Local users added with `agentbridge users add NAME --admin` are admins too (they log in).
    access: new AccessPolicy(
      config.access,
      logger.child({ part: 'access' }),
      async (id) => id.startsWith('local:') && (await store.localUsers.get(id.slice('local:'.length)))?.admin === true,
    ),
    inbox,
    outbound,
    health,
  });
  // Commands see the bridges (stop, status), never the router: nothing calls back into the pipeline.
  const router = new Router({ inbox, bridges, access: commands, commands, answers: interactions.answerStage, logger });
  metrics?.observe({
    queue: () => bridges.queueStats(),
    inboxBacklog: async () => ((c) => c.queued + c.running)(await inbox.countByState()),
    liveSessions: () => sessions.size,
    pendingInteractions: async () => (await store.interactions.pending()).length,
  });

  let closed: Promise<void> | undefined;
  return {
    store,
    health,
    outbox,
    outbound,
    inbox,
    bridges,
    router,
    commands,
    scheduler,
    interactions,
    sessions,
    toolTokens,
    outgoingFiles,
    prepared,
    get stopping() {
      return stopping !== undefined;
    },
    async start() {
      await prepared;
      if (deps.cluster) {
        // Cluster mode: other instances are running. Pending outbox rows go out under their
        // delivery leases; cut turns, open approvals and stale notices of a conversation are
        // recovered by the worker that takes its next job; the leader runs the scheduler.
        await outbox.deliverAll();
        await announceRestart({ store, outbound, logger, instanceId: deps.cluster.instanceId });
        router.recovered();
        bridges.startSweeping();
        return;
      }
      await interactions.expireStale(); // left open by a process that ended: cards edited, turns re-run by recovery
      await outbox.deliverAll();
      await announceRestart({ store, outbound, logger });
      await retireBusyNotices({ store, outbound, logger }); // before the inbox: waiting conversations may post new ones
      await recoverInbox(store, router, outbound, logger);
      await scheduler.start(); // after recovery: late due times within the grace window run once
      bridges.startSweeping();
    },
    shutdown(graceMs = 0) {
      return (stopping ??= (async () => {
        await scheduler.stop(); // nothing new is submitted while the bridges shut down
        await bridges.shutdown(graceMs);
        await sessions.stop();
        await outbox.stop();
      })());
    },
    close() {
      return (closed ??= (async () => {
        await scheduler.stop();
        await sessions.stop();
        health?.stop();
        await checkpointer?.stop();
      })());
    },
  };
}
