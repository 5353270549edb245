/**
 * Wires agentbridge together and runs it: owner lock → session store → agents → HTTP server →
 * platform adapters → outbox and inbox recovery. `stop()` shuts down in reverse order; turns cut
 * by the shutdown are left for retry (and announced) after the next start.
 */
import fs from 'node:fs';
import path from 'node:path';
import PQueue from 'p-queue';
import type { Config } from './core/config.js';
import { AccessPolicy } from './conversation/access.js';
import { CommandService } from './conversation/commands/index.js';
import { announceRestart } from './conversation/commands/restart.js';
import { OutboxDelivery } from './conversation/outbox.js';
import { Outbound } from './conversation/outbound.js';
import { recoverInbox } from './conversation/recovery.js';
import { Router } from './conversation/router.js';
import type { TurnOutcome } from './core/turn.js';
import { apiErrorKind, createMetrics, registerMetricsRoute, type Metrics } from './http/metrics.js';
import { HostAllowList, isLoopbackBind } from './http/hosts.js';
import { createHttpServer } from './http/server.js';
import type { Logger } from './logger.js';
import { createAdapters, hostCheckExemptPaths, isPlatformEnabled } from './platforms/registry.js';
import type { PlatformName } from './core/messages.js';
import type { AdapterContext, PlatformAdapter } from './platforms/types.js';
import { createRunners, probeAll, resolveDefaultAgent } from './runners/index.js';
import { reapOrphans, trackAgentProcesses } from './runners/orphans.js';
import type { AgentName } from './core/agents.js';
import { ensurePrivateDir } from './store/files.js';
import { StoreHealth } from './store/health.js';
import { acquireOwnerLock } from './store/lock.js';
import { startCheckpointer } from './store/checkpointer.js';
import { openStore } from './store/store.js';
import { Scheduler } from './scheduler/scheduler.js';
import { ToolAccess, ToolTokens, mcpEndpointUrl, registerMcpRoutes } from './tools/index.js';
import type { Store } from './store/types.js';

export interface RunningApp {
  /** Base URL of the HTTP server, e.g. `http://127.0.0.1:8080`. */
  url: string;
  store: Store;
  router: Router;
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
      'Add one first: `agentbridge users add NAME --admin` (it prints a login link), or bind 127.0.0.1, or turn the local chat off (AGENTBRIDGE_LOCAL_CHAT=off).',
  );
}

/**
 * Starts agentbridge.
 * @throws StoreLockedError when another agentbridge owns the data directory; StartRefusedError
 *   (exit 2) for a local chat on a non-loopback address without any local user;
 *   SchemaTooNewError when the database is newer than this code; errors from binding the port.
 */
export async function startApp(config: Config, logger: Logger, hooks: AppHooks = {}): Promise<RunningApp> {
  ensurePrivateDir(config.dataDir, logger); // 0700: transcripts and secrets are this user's only
  fs.mkdirSync(config.workdir, { recursive: true });
  const lock = acquireOwnerLock(config.dataDir);
  const cleanups: Array<() => void | Promise<void>> = [() => lock.release()];
  try {
    const store = openStore({ dbPath: config.dbPath, logger });
    cleanups.unshift(() => store.close());
    // Storage faults (e.g. a full disk) reported by the inbox, turns and the outbox make the store
    // unhealthy until a probe write succeeds; /healthz says so meanwhile.
    const health = new StoreHealth({ probe: () => store.probeWrite(), logger });
    cleanups.unshift(() => health.stop());
    const checkpointer = startCheckpointer(store, logger);
    cleanups.unshift(() => checkpointer.stop());
    const agentsDir = path.join(config.dataDir, 'agents');
    reapOrphans(agentsDir, logger);
    trackAgentProcesses(agentsDir);

    const runners = createRunners(config);
    const probes = await probeAll(runners, config.agentEnv);
    const defaultAgent = resolveDefaultAgent(config.agent, probes);
    for (const p of probes) logger.info({ agent: p.agent, installed: p.installed, version: p.version, authenticated: p.authenticated }, 'agent probe');
    if (!defaultAgent) logger.warn('no agent CLI is installed and authenticated; messages will be answered with instructions (see `agentbridge doctor`)');
    else logger.info({ agent: defaultAgent, model: config.model }, 'default agent');

    assertLocalLoginPossible(config, store.localUsers.count());
    const http = createHttpServer({ host: config.http.host, port: config.http.port, logger, hosts: new HostAllowList(config.publicUrl, hostCheckExemptPaths()) });
    const adapters = new Map<PlatformName, PlatformAdapter>();
    for (const a of await createAdapters({ config, http, logger, localMessages: store.localMessages, localUsers: store.localUsers })) adapters.set(a.name, a);

    const slots = new PQueue({ concurrency: config.maxConcurrentTurns });
    const metrics = createMetrics();
    const outbox = new OutboxDelivery({ store, adapters: (p) => adapters.get(p), logger, health, onDeliveryError: (p, err) => metrics.apiError(p, apiErrorKind(err)) });
    // Agent tools over MCP: per-turn tokens (secret in <dataDir>/mcp-secret); the routes are
    // registered once the scheduler exists; the URL is known once the server listens.
    const toolTokens = ToolTokens.open(config.dataDir);
    let mcpUrl = '';
    const tools = new ToolAccess({ tokens: toolTokens, url: () => mcpUrl });
    // The scheduler is constructed after the router (it submits through it); the router reports turn ends to it.
    let scheduler: Scheduler | undefined;
    const router = new Router(
      {
        store,
        runners,
        adapters: (p) => adapters.get(p),
        outbox,
        slots,
        defaults: { agent: defaultAgent, model: config.model, workdir: config.workdir, permissionMode: config.permissionMode, turnTimeoutMs: config.turnTimeoutMs },
        env: config.agentEnv,
        logger,
        tools,
        health,
        onTurnEnd: (id, outcome, ms, info) => {
          metrics.turnEnded(info.platform, info.agent, outcome, ms);
          hooks.onTurnEnd?.(id, outcome, ms);
          scheduler?.onTurnEnd(id, outcome);
        },
      },
      { idleEvictMs: config.idleEvictMs },
    );
    // Cron jobs and scheduled messages enter through router.accept like any message.
    scheduler = new Scheduler({
      store,
      submit: router.accept,
      notify: async (target, text, conversationId) => {
        store.conversations.ensure({ id: conversationId, platform: target.platform, channel: target.channel, thread: target.thread ?? null });
        await new Outbound(outbox).say({ conversationId, replyTarget: target }, text);
      },
      logger,
      platforms: [...adapters.keys()],
      onRunEnd: (run) => metrics.cronRun(run.status),
      graceMs: config.cronGraceMs,
    });
    const cronScheduler = scheduler;
    cleanups.unshift(() => cronScheduler.stop());
    registerMcpRoutes(http, { tokens: toolTokens, outbox, scheduled: scheduler.messages, logger });

    // Commands and access control: every new message passes the command service first.
    let stopping: Promise<void> | undefined;
    const availableAgents = probes.filter((p) => p.installed && p.authenticated !== false).map((p) => p.agent);
    if (defaultAgent && !availableAgents.includes(defaultAgent)) availableAgents.push(defaultAgent);
    const commands = new CommandService({
      deps: {
        store,
        router,
        defaults: { agent: defaultAgent, model: config.model, workdir: config.workdir },
        availableAgents,
        workspacesRoot: config.workspacesRoot,
        shutdownGraceMs: config.shutdownGraceMs,
        cron: scheduler.cron,
        scheduled: scheduler.messages,
        restart: hooks.onRestartRequested,
        stopping: () => stopping !== undefined || router.stopping,
        logger: logger.child({ part: 'commands' }),
      },
      // Local users added with `agentbridge users add NAME --admin` are admins too (they log in).
      access: new AccessPolicy(config.access, logger.child({ part: 'access' }), (id) => id.startsWith('local:') && store.localUsers.get(id.slice('local:'.length))?.admin === true),
      outbox,
      health,
    });
    router.setGate(commands);
    metrics.observe({ queue: () => router.queueStats(), inboxBacklog: () => ((c) => c.queued + c.running)(store.inbox.countByState()) });
    registerMetricsRoute(http, metrics);

    let ready = false;
    const startedAt = Date.now();
    // 200 when ready and the database can be written; 503 with `reason` while starting, stopping,
    // or while a storage fault lasts (e.g. "SQLITE_FULL: database or disk is full").
    http.route('GET', '/healthz', (_req, res) => {
      let counts: { inbox: ReturnType<Store['inbox']['countByState']> | null; outboxPending: number | null } = { inbox: null, outboxPending: null };
      try {
        counts = { inbox: store.inbox.countByState(), outboxPending: outbox.pendingCount() };
      } catch (err) {
        health.report(err, 'healthz');
      }
      const ok = ready && health.healthy;
      const reason = !health.healthy ? `the database cannot be written: ${health.reason}` : !ready ? (stopping ? 'shutting down' : 'starting') : undefined;
      const body = { ok, ...(reason ? { reason } : {}), agent: defaultAgent ?? null, platforms: [...adapters.keys()], uptimeS: Math.round((Date.now() - startedAt) / 1000), ...counts };
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    const { url } = await http.listen();
    mcpUrl = mcpEndpointUrl(url);
    cleanups.unshift(() => http.close());

    for (const adapter of adapters.values()) {
      const context: AdapterContext = {
        hasConversation: (id: string) => store.conversations.get(id) !== undefined,
        isBotMessage: (key: string) => store.postedMessages.get(key) !== undefined,
        state: store.platformState,
        runCommand: (req) => commands.runCommand(req),
        reportApiError: (kind) => metrics.apiError(adapter.name, kind),
      };
      metrics.platformStarted(adapter.name);
      await adapter.start((message, hooks) => (metrics.inboundEvent(adapter.name), router.accept(message, hooks)), context);
      cleanups.unshift(() => adapter.stop());
    }
    await outbox.deliverAll();
    await announceRestart({ store, outbox, logger });
    await recoverInbox(store, router, outbox, logger);
    await cronScheduler.start(); // after recovery: late due times within the grace window run once
    router.startSweeping();
    ready = true;
    logger.info({ url, platforms: [...adapters.keys()] }, 'agentbridge is ready');

    const stop = () =>
      (stopping ??= (async () => {
        ready = false;
        const running = router.queueStats().running;
        logger.info(
          { running, graceS: config.shutdownGraceMs / 1000 },
          'shutting down: no new turns; running turns may finish within the grace period, the rest are retried after the next start; new messages are kept for then',
        );
        await cronScheduler.stop(); // nothing new is submitted while the router shuts down
        await router.shutdown(config.shutdownGraceMs);
        await outbox.stop();
        for (const c of cleanups) await c();
        logger.info('stopped');
      })());
    return { url, store, router, defaultAgent, metrics, stop };
  } catch (err) {
    for (const c of cleanups) await c();
    throw err;
  }
}
