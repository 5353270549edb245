/**
 * Runs agentbridge: owner lock (the data directory's; on PostgreSQL the database's advisory lock
 * too) → store (SQLite or PostgreSQL, AGENTBRIDGE_DATABASE_URL) → agents → HTTP server → platform adapters → the core
 * (src/compose.ts: outbox, inbox, bridges, commands, scheduler, tools, metrics) → outbox and
 * inbox recovery. `stop()` shuts down in reverse order; turns cut
 * by the shutdown are left for retry (and announced) after the next start.
 */
import path from 'node:path';
import { createCore } from './compose.js';
import type { Config } from './core/config.js';
import type { AgentName } from './core/agents.js';
import type { PlatformName } from './core/messages.js';
import { describeTurnSlots } from './core/slots.js';
import type { TurnOutcome } from './core/turn.js';
import type { Bridges } from './conversation/bridges.js';
import type { Router } from './conversation/router.js';
import { currentWorkdir } from './conversation/worktrees.js';
import { createMetrics, registerMetricsRoute, type Metrics } from './http/metrics.js';
import { HostAllowList, isLoopbackBind } from './http/hosts.js';
import { createHttpServer } from './http/server.js';
import type { Logger } from './logger.js';
import { createAdapters, hostCheckExemptPaths, isPlatformEnabled, platformModule } from './platforms/registry.js';
import type { AdapterContext, PlatformAdapter } from './platforms/types.js';
import { createRunners, probeAll, resolveDefaultAgent } from './runners/index.js';
import { reapOrphans, trackAgentProcesses } from './runners/orphans.js';
import { settleProcessCleanups } from './runners/process.js';
import { ensurePrivateDir, makeDirs } from './store/files.js';
import { acquireOwner, describeDatabase, openAppStore } from './store/open.js';
import type { Store } from './store/types.js';
import { mcpEndpointUrl, registerMcpRoutes } from './tools/index.js';
import { joinCluster, type ClusterNode } from './cluster/node.js';
import { SessionFileSync } from './cluster/session-files.js';

export interface RunningApp {
  /** Base URL of the HTTP server, e.g. `http://127.0.0.1:8080`. */
  url: string;
  store: Store;
  /** The inbound pipeline (`router.accept`: the sink adapters call). */
  router: Router;
  /** The conversations' bridges (running turns, queues, `turnEnded`). */
  bridges: Bridges;
  defaultAgent?: AgentName;
  /** Prometheus metrics (also served as GET /metrics); `metrics.cronRun` is for the scheduler. */
  metrics: Metrics;
  /** Graceful stop (running turns get AGENTBRIDGE_SHUTDOWN_GRACE_S to finish); idempotent. */
  stop(): Promise<void>;
}

export interface AppHooks {
  onTurnEnd?: (id: string, outcome: TurnOutcome, ms: number) => void;
  /**
   * Called when an admin asked for `/agent restart` (after the reply went out). The owner of the
   * process stops the app and starts a new one (src/cli/start.ts); without it the command says
   * a restart is not available.
   */
  onRestartRequested?: () => void;
  /**
   * PostgreSQL: the database's owner lock was lost while running and another agentbridge holds
   * it now (`err` names it; already logged). Two owners must never run: the owner of the process
   * stops the app and exits non-zero (src/cli/start.ts).
   */
  onOwnerLost?: (err: Error) => void;
}

/** agentbridge must not start: the configuration is unsafe as it stands (exit code 2, like invalid configuration). */
export class StartRefusedError extends Error {
  override readonly name = 'StartRefusedError';
  readonly exitCode = 2;
}

/**
 * Refuses a local chat on a non-loopback address while nobody can log in: anyone who reaches the
 * port could otherwise drive the agent.
 * @throws StartRefusedError
 */
export function assertLocalLoginPossible(config: Config, localUsers: number): void {
  if (!isPlatformEnabled(config, 'local') || isLoopbackBind(config.http.host) || localUsers > 0) return;
  throw new StartRefusedError(
    `the local web chat would listen on ${config.http.host} (AGENTBRIDGE_HTTP_HOST), reachable from other machines, but no local user exists to log in. ` +
      'Add one first: `agentbridge users add NAME --admin` (it prints a login link; in Docker: `docker compose run --rm agentbridge agentbridge users add NAME --admin`), ' +
      'or bind 127.0.0.1, or turn the local chat off (AGENTBRIDGE_LOCAL_CHAT=off).',
  );
}

/**
 * How long a shutdown waits for agent process groups still being ended after their turns' final
 * events, ms: the linger (1 s), SIGTERM → SIGKILL grace (3 s) and the wait after SIGKILL (5 s), with margin.
 */
const AGENT_CLEANUP_WAIT_MS = 15_000;

/**
 * Starts agentbridge.
 * @throws DirectoryError when the data directory or the workdir cannot be created, or the data
 *   directory cannot be written; StoreLockedError when another agentbridge owns the data directory;
 *   DatabaseLockedError when another agentbridge holds the PostgreSQL database; an Error naming the
 *   redacted URL when PostgreSQL cannot be reached; StartRefusedError
 *   (exit 2) for a local chat on a non-loopback address without any local user;
 *   SchemaTooNewError when the database is newer than this code; errors from binding the port.
 */
export async function startApp(config: Config, logger: Logger, hooks: AppHooks = {}): Promise<RunningApp> {
  // Fail fast, before anything else, when the data directory or the workdir is unusable (DirectoryError).
  ensurePrivateDir(config.dataDir, logger); // 0700: transcripts and secrets are this user's only; checked writable
  makeDirs(config.workdir);
  const cluster = config.cluster;
  const owner = await acquireOwner(config, logger, { onLost: (err) => hooks.onOwnerLost?.(err), ...(cluster ? { cluster } : {}) });
  const cleanups: Array<() => void | Promise<void>> = [() => owner.release()];
  try {
    const store = await openAppStore({ database: config.database, logger });
    cleanups.unshift(() => store.close());
    logger.info({ database: describeDatabase(config.database) }, `session store: ${describeDatabase(config.database)}`);
    // Cluster mode (PostgreSQL only, checked by loadConfig): the turn queue's sender is attached
    // before any message can be accepted, so every inbox row commits with its wake-up job.
    let node: ClusterNode | undefined;
    let httpUrl: string | undefined = undefined;
    if (cluster && store.backend === 'postgres' && config.database.backend === 'postgres') {
      node = await joinCluster({ cluster, store, url: config.database.url, logger, concurrency: config.maxConcurrentTurns, httpUrl: () => httpUrl });
      const joined = node;
      cleanups.unshift(() => joined.close());
    }
    const agentsDir = path.join(config.dataDir, 'agents');
    reapOrphans(agentsDir, logger);
    trackAgentProcesses(agentsDir);

    const runners = createRunners(config);
    const probes = await probeAll(runners, config.agentEnv);
    const defaultAgent = resolveDefaultAgent(config.agent, probes);
    for (const p of probes)
      logger.info({ agent: p.agent, installed: p.installed, version: p.version, versionError: p.versionError, authenticated: p.authenticated }, 'agent probe');
    if (!defaultAgent) logger.warn('no agent CLI is installed and authenticated; messages will be answered with instructions (see `agentbridge doctor`)');
    else logger.info({ agent: defaultAgent, model: config.model }, 'default agent');
    logger.info(
      { turnSlots: config.maxConcurrentTurns, from: config.maxConcurrentTurnsSource, liveSessions: config.maxLiveSessions },
      describeTurnSlots(config.maxConcurrentTurns, config.maxConcurrentTurnsSource ?? 'configured'),
    );

    assertLocalLoginPossible(config, await store.localUsers.count());
    const http = createHttpServer({
      host: config.http.host,
      port: config.http.port,
      logger,
      hosts: new HostAllowList(config.publicUrl, hostCheckExemptPaths()),
    });
    const adapters = new Map<PlatformName, PlatformAdapter>();
    const platformDeps = {
      config,
      http,
      logger,
      localMessages: store.localMessages,
      localUsers: store.localUsers,
      localUploads: store.localUploads,
      ...(node ? { localRelay: node.localRelay } : {}),
    };
    for (const a of await createAdapters(platformDeps)) adapters.set(a.name, a);

    const metrics = createMetrics({ instance: config.cluster?.instanceId });
    // Agent tools over MCP: the URL is known once the server listens.
    let mcpUrl = '';
    /** `/agent restart` was asked for: the stop that follows is a restart (cluster restart notice). */
    let restartRequested = false;
    const availableAgents = probes.filter((p) => p.installed && p.authenticated !== false).map((p) => p.agent);
    if (defaultAgent && !availableAgents.includes(defaultAgent)) availableAgents.push(defaultAgent);
    const core = createCore(config, {
      store,
      logger,
      runners,
      adapters: (p) => adapters.get(p),
      platforms: [...adapters.keys()],
      defaultAgent,
      availableAgents,
      // Storage faults (e.g. a full disk) reported by the inbox, turns and the outbox make the store
      // unhealthy until a probe write succeeds; /healthz says so meanwhile.
      health: {},
      walCheckpointer: true,
      mcpUrl: () => mcpUrl,
      metrics,
      onTurnEnd: hooks.onTurnEnd && ((e) => hooks.onTurnEnd!(e.conversationId, e.outcome, e.ms)),
      onRestartRequested:
        hooks.onRestartRequested &&
        (() => {
          restartRequested = true;
          hooks.onRestartRequested!();
        }),
      ...(cluster ? { cluster: { instanceId: cluster.instanceId } } : {}),
      // Agent session files follow a conversation to whichever worker runs its next turn (unless every worker shares the workspaces and agent homes).
      ...(node && !cluster?.workspacesShared ? { sessionFiles: new SessionFileSync({ store, runners, logger: logger.child({ part: 'session-files' }) }) } : {}),
      ...(node ? { commandServices: { stopElsewhere: (id: string) => node.stopElsewhere(id), clusterStatus: () => node.statusText() } } : {}),
    });
    cleanups.unshift(() => core.close());
    await core.prepared; // stale copies of sent files deleted before anything can send new ones
    const { router, commands, outbox, health, scheduler } = core;
    registerMcpRoutes(http, {
      tokens: core.toolTokens!,
      outbound: core.outbound,
      scheduled: scheduler.messages,
      logger,
      files: core.outgoingFiles,
      workdirOf: (id) => currentWorkdir(store, id, config.workdir),
      // A platform not running now still gets its files later (the outbox keeps the row): its module's limit.
      maxFileBytes: (p) => (adapters.get(p) ?? platformModule(p))?.limits.maxFileBytes,
    });
    registerMetricsRoute(http, metrics);

    let ready = false;
    const startedAt = Date.now();
    // 200 when ready and the database can be written; 503 with `reason` while starting, stopping,
    // or while a storage fault lasts (e.g. "SQLITE_FULL: database or disk is full").
    http.route('GET', '/healthz', async (_req, res) => {
      let counts: { inbox: Awaited<ReturnType<Store['inbox']['countByState']>> | null; outboxPending: number | null } = { inbox: null, outboxPending: null };
      try {
        counts = { inbox: await core.inbox.countByState(), outboxPending: await outbox.pendingCount() };
      } catch (err) {
        health!.report(err, 'healthz');
      }
      const ok = ready && health!.healthy;
      const reason = !health!.healthy
        ? `the database cannot be written: ${health!.reason}`
        : !ready
          ? core.stopping
            ? 'shutting down'
            : 'starting'
          : undefined;
      const body = {
        ok,
        ...(reason ? { reason } : {}),
        ...(cluster ? { instance: cluster.instanceId, roles: cluster.roles } : {}),
        agent: defaultAgent ?? null,
        platforms: [...adapters.keys()],
        uptimeS: Math.round((Date.now() - startedAt) / 1000),
        ...counts,
      };
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    const { url } = await http.listen();
    httpUrl = url;
    mcpUrl = mcpEndpointUrl(url);
    cleanups.unshift(() => http.close());

    for (const adapter of adapters.values()) {
      const context: AdapterContext = {
        hasConversation: async (id: string) => (await store.conversations.get(id)) !== undefined,
        isBotMessage: async (key: string) => (await store.postedMessages.get(key)) !== undefined,
        state: store.platformState,
        runCommand: (req) => commands.runCommand(req),
        onAction: (req) => core.interactions.onAction(req),
        reportApiError: (kind) => metrics.apiError(adapter.name, kind),
        // A cluster instance without the ingress role only posts.
        inbound: !cluster || cluster.roles.includes('ingress'),
      };
      metrics.platformStarted(adapter.name);
      // Cluster mode: a leader-only gateway (Discord's) is started by whichever instance holds its lease.
      await adapter.start(
        (message, hooks) => (metrics.inboundEvent(adapter.name), router.accept(message, hooks)),
        context,
        cluster ? { gateway: false } : undefined,
      );
      cleanups.unshift(() => adapter.stop());
    }
    await core.start(); // outbox, restart report, inbox recovery, scheduler, idle sweep
    // Cluster: wake-up jobs (worker) and the leases (leader: Discord gateway, scheduler, maintenance) from now on.
    const discordGateway = adapters.get('discord')?.gateway;
    await node?.startWorking(core, discordGateway ? { 'discord-gateway': discordGateway } : {});
    ready = true;
    logger.info({ url, platforms: [...adapters.keys()] }, 'agentbridge is ready');

    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        ready = false;
        const running = core.bridges.queueStats().running;
        logger.info(
          { running, graceS: config.shutdownGraceMs / 1000 },
          'shutting down: no new turns; running turns may finish within the grace period, the rest are retried after the next start; new messages are kept for then',
        );
        // Cluster: the other instances' pages show the turns running here as restarting, then as
        // finished or cut (best effort, at most 2 s each).
        const announced = core.bridges
          .active()
          .filter((b) => b.running)
          .map((b) => b.conversationId);
        const finished = new Set<string>();
        const offTurns = core.bridges.on('turnEnded', (e) => void (e.outcome !== 'interrupted' && finished.add(e.conversationId)));
        await node?.announceStopping({ again: restartRequested, graceMs: config.shutdownGraceMs, turns: announced });
        await node?.stopWorking(); // cluster: no new wake-up jobs; the held ones are handed back after the bridges' shutdown
        await core.shutdown(config.shutdownGraceMs); // scheduler, then the bridges (grace), then the outbox
        offTurns();
        await node?.announceStopped({ again: restartRequested, cut: announced.filter((id) => !finished.has(id)) });
        // Agent processes that outlived their turn's final event are being ended in the background
        // (runners/process.ts): no agent process may outlive agentbridge.
        if (!(await settleProcessCleanups(AGENT_CLEANUP_WAIT_MS))) logger.warn('some agent processes were still ending at shutdown; the next start ends them');
        for (const c of cleanups) await c();
        logger.info('stopped');
      })());
    return { url, store, router, bridges: core.bridges, defaultAgent, metrics, stop };
  } catch (err) {
    for (const c of cleanups) await c();
    throw err;
  }
}
