/**
 * Wires agentbridge together and runs it: owner lock → session store → agents → HTTP server →
 * platform adapters → outbox and inbox recovery. `stop()` shuts down in reverse order; turns cut
 * by the shutdown are left for retry (and announced) after the next start.
 */
import fs from 'node:fs';
import path from 'node:path';
import PQueue from 'p-queue';
import type { Config } from './config.js';
import { OutboxDelivery } from './conversation/outbox.js';
import { recoverInbox } from './conversation/recovery.js';
import { Router } from './conversation/router.js';
import type { TurnOutcome } from './conversation/turn.js';
import { createHttpServer } from './http/server.js';
import type { Logger } from './logger.js';
import { createAdapters } from './platforms/index.js';
import type { PlatformAdapter, PlatformName } from './platforms/types.js';
import { createRunners, probeAll, resolveDefaultAgent } from './runners/index.js';
import { reapOrphans, trackAgentProcesses } from './runners/orphans.js';
import type { AgentName } from './runners/types.js';
import { acquireOwnerLock } from './session/lock.js';
import { openStore } from './session/store.js';
import type { Store } from './session/types.js';

export interface RunningApp {
  /** Base URL of the HTTP server, e.g. `http://127.0.0.1:8080`. */
  url: string;
  store: Store;
  router: Router;
  defaultAgent?: AgentName;
  /** Graceful stop; idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts agentbridge.
 * @throws StoreLockedError when another agentbridge owns the data directory;
 *   SchemaTooNewError when the database is newer than this code; errors from binding the port.
 */
export async function startApp(config: Config, logger: Logger, hooks: { onTurnEnd?: (id: string, outcome: TurnOutcome, ms: number) => void } = {}): Promise<RunningApp> {
  fs.mkdirSync(config.dataDir, { recursive: true });
  fs.mkdirSync(config.workdir, { recursive: true });
  const lock = acquireOwnerLock(config.dataDir);
  const cleanups: Array<() => void | Promise<void>> = [() => lock.release()];
  try {
    const store = openStore({ dbPath: config.dbPath, logger });
    cleanups.unshift(() => store.close());
    const agentsDir = path.join(config.dataDir, 'agents');
    reapOrphans(agentsDir, logger);
    trackAgentProcesses(agentsDir);

    const runners = createRunners(config);
    const probes = await probeAll(runners, config.agentEnv);
    const defaultAgent = resolveDefaultAgent(config.agent, probes);
    for (const p of probes) logger.info({ agent: p.agent, installed: p.installed, version: p.version, authenticated: p.authenticated }, 'agent probe');
    if (!defaultAgent) logger.warn('no agent CLI is installed and authenticated; messages will be answered with instructions (see `agentbridge doctor`)');
    else logger.info({ agent: defaultAgent, model: config.model }, 'default agent');

    const http = createHttpServer({ host: config.http.host, port: config.http.port, logger });
    const adapters = new Map<PlatformName, PlatformAdapter>();
    for (const a of await createAdapters(config, { http, logger, localMessages: store.localMessages })) adapters.set(a.name, a);

    const slots = new PQueue({ concurrency: config.maxConcurrentTurns });
    const outbox = new OutboxDelivery({ store, adapters: (p) => adapters.get(p), logger });
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
        onTurnEnd: hooks.onTurnEnd,
      },
      { idleEvictMs: config.idleEvictMs },
    );

    let ready = false;
    const startedAt = Date.now();
    http.route('GET', '/healthz', (_req, res) => {
      const body = { ok: ready, agent: defaultAgent ?? null, platforms: [...adapters.keys()], uptimeS: Math.round((Date.now() - startedAt) / 1000), inbox: store.inbox.countByState(), outboxPending: outbox.pendingCount() };
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    const { url } = await http.listen();
    cleanups.unshift(() => http.close());

    const context = {
      hasConversation: (id: string) => store.conversations.get(id) !== undefined,
      isBotMessage: (key: string) => store.checkpoints.get(key) !== undefined,
      state: store.platformState,
    };
    for (const adapter of adapters.values()) {
      await adapter.start(router.accept, context);
      cleanups.unshift(() => adapter.stop());
    }
    await outbox.deliverAll();
    await recoverInbox(store, router, outbox, logger);
    router.startSweeping();
    ready = true;
    logger.info({ url, platforms: [...adapters.keys()] }, 'agentbridge is ready');

    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        ready = false;
        logger.info('shutting down: running turns are stopped and will be retried after the next start');
        await router.shutdown();
        await outbox.stop();
        for (const c of cleanups) await c();
        logger.info('stopped');
      })());
    return { url, store, router, defaultAgent, stop };
  } catch (err) {
    for (const c of cleanups) await c();
    throw err;
  }
}
