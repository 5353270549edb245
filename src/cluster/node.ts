/**
 * One agentbridge instance of a cluster (docs/ARCHITECTURE.md §10): what src/app.ts adds to the
 * core in cluster mode, by role.
 * - every role: the turn queue's sender (pg-boss; messages accepted here enqueue their wake-up
 *   job in the inbox transaction), the database liveness watchdog, the signals (LISTEN/NOTIFY:
 *   `/agent stop` of a turn running elsewhere, the local chat's live updates, restart notices) and
 *   this instance's heartbeat row (`cluster status`);
 * - worker: {@link TurnWorker} takes wake-up jobs and runs the turns;
 * - leader: the leases (Discord gateway, scheduler, maintenance), started by the caller.
 */
import type { PgBoss } from 'pg-boss';
import type { ClusterConfig } from '../core/config.js';
import type { Logger } from '../logger.js';
import type { Router } from '../conversation/router.js';
import type { Bridges } from '../conversation/bridges.js';
import type { Outbound } from '../conversation/outbound.js';
import type { Interactions } from '../conversation/interactions.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { LiveSessions } from '../conversation/live-sessions.js';

/** The parts of the core (src/compose.ts `Core`) a cluster instance drives. */
export interface ClusterCore {
  router: Router;
  bridges: Bridges;
  outbound: Outbound;
  interactions: Interactions;
  scheduler: Pick<Scheduler, 'start' | 'stop'>;
  sessions: Pick<LiveSessions, 'get' | 'close'>;
}
import type { PostgresStore } from '../store/postgres.js';
import { DatabaseLiveness } from './liveness.js';
import { startTurnQueue } from './queue.js';
import { TurnWorker } from './worker.js';
import { LeaderLeases, type LeaseWork } from './leases.js';
import { maintenanceWork } from './maintenance.js';
import { LEASES, type LeaseName } from './constants.js';
import { ClusterSignals } from './signals.js';
import { clusterStop } from './stop.js';
import { localEventRelay } from './local-relay.js';
import { restartNotices, type StoppedNotice, type StoppingNotice } from './restart-notices.js';
import { InstanceHeartbeat } from './instances.js';
import { formatClusterStatus, gatherClusterStatus } from './status.js';
import { readLeaseHolders } from '../store/pg-lease.js';
import type { LocalEventRelay } from '../platforms/local/events.js';

export interface ClusterNodeOptions {
  cluster: ClusterConfig;
  store: PostgresStore;
  /** The store's URL (never logged). */
  url: string;
  logger: Logger;
  /** Turn slots of this worker (AGENTBRIDGE_MAX_CONCURRENT_TURNS). */
  concurrency: number;
  /** Where this instance's HTTP server is reached, for `cluster status` (set once it listens). */
  httpUrl?: () => string | undefined;
}

/** The running cluster parts of this instance. */
export interface ClusterNode {
  readonly boss: PgBoss;
  readonly liveness: DatabaseLiveness;
  readonly signals: ClusterSignals;
  /** The local chat's relay to the other instances (the local platform module takes it). */
  readonly localRelay: LocalEventRelay;
  /** `CommandDeps.stopElsewhere`: `/agent stop` of a turn this instance does not run. */
  stopElsewhere(conversationId: string): Promise<boolean>;
  /**
   * Tells the other instances this one begins a graceful stop (`restart` notice: the turns running
   * here, the grace period, whether it comes back). Never throws; gives up after 2 s (logged).
   */
  announceStopping(notice: StoppingNotice): Promise<void>;
  /** After the core's shutdown: tells the other instances which announced turns were cut (the others finished). Never throws; at most 2 s. */
  announceStopped(notice: StoppedNotice): Promise<void>;
  /** `CommandDeps.clusterStatus`: the cluster's status as Markdown for `/agent status`. */
  statusText(): Promise<string>;
  /** Present when this instance has the worker role (after {@link startWorking}). */
  worker?: TurnWorker;
  /** Present when this instance has the leader role (after {@link startWorking}). */
  leases?: LeaderLeases;
  /**
   * Starts taking wake-up jobs (worker role) and trying the leader's leases (leader role): the
   * scheduler, maintenance, and the gateways in `gateways` (Discord's). Call after `core.start()`.
   */
  startWorking(core: ClusterCore, gateways?: Partial<Record<LeaseName, LeaseWork>>): Promise<void>;
  /** Stops taking jobs (before the core's shutdown ends the running turns). */
  stopWorking(): Promise<void>;
  /** After the core's shutdown: hands the jobs still held back, stops pg-boss and the watchdog. */
  close(): Promise<void>;
}

/**
 * Connects this instance to the cluster: pg-boss started (its schema made on first use), the
 * turn queue created when missing, the in-transaction sender attached to the store. Throws what
 * pg-boss throws when the database cannot be reached.
 */
export async function joinCluster(opts: ClusterNodeOptions): Promise<ClusterNode> {
  const { cluster, store, logger } = opts;
  const log = logger.child({ part: 'cluster', instance: cluster.instanceId });
  const boss = await startTurnQueue({ url: opts.url, instanceId: cluster.instanceId, heartbeatS: cluster.heartbeatS, logger: log }, store.jobs);
  const liveness = new DatabaseLiveness({ probe: () => store.probeWrite(), windowMs: cluster.heartbeatS * 1000, logger: log });
  liveness.start();
  const signals = new ClusterSignals({ url: opts.url, pool: store.pool, instanceId: cluster.instanceId, logger: log });
  await signals.start();
  let core: ClusterCore | undefined;
  const stopping = clusterStop(signals, { stop: (id) => core?.bridges.stop(id) ?? false }, log);
  const notices = restartNotices(signals, log);
  let heartbeat: InstanceHeartbeat | undefined;
  log.info({ roles: cluster.roles }, `cluster instance ${cluster.instanceId} joined (roles: ${cluster.roles.join(', ')})`);
  const node: ClusterNode = {
    boss,
    liveness,
    signals,
    localRelay: localEventRelay(signals, log),
    stopElsewhere: (id) => stopping.stopElsewhere(id),
    announceStopping: (notice) => notices.stopping(notice),
    announceStopped: (notice) => notices.stopped(notice),
    async statusText() {
      return formatClusterStatus(
        await gatherClusterStatus({ instances: store.clusterInstances, leaseHolders: () => readLeaseHolders(store.pool, LEASES), queue: boss }),
      );
    },
    async startWorking(started, gateways = {}) {
      core = started;
      heartbeat = new InstanceHeartbeat({
        repo: store.clusterInstances,
        instanceId: cluster.instanceId,
        roles: cluster.roles,
        ...(opts.httpUrl?.() ? { url: opts.httpUrl() } : {}),
        turnsRunning: () => started.bridges.queueStats().running,
        logger: log,
      });
      await heartbeat.start();
      if (cluster.roles.includes('leader')) {
        node.leases = new LeaderLeases({
          url: opts.url,
          instanceId: cluster.instanceId,
          logger: log,
          work: {
            ...gateways,
            scheduler: { start: () => started.scheduler.start(), stop: () => started.scheduler.stop() },
            maintenance: maintenanceWork({ store, logger: log }),
          },
        });
        node.leases.start();
      }
      if (cluster.roles.includes('worker')) {
        node.worker = new TurnWorker({
          boss,
          store,
          router: started.router,
          bridges: started.bridges,
          outbound: started.outbound,
          interactions: started.interactions,
          sessions: started.sessions,
          liveness,
          concurrency: opts.concurrency,
          heartbeatS: cluster.heartbeatS,
          logger: log,
        });
        await node.worker.start();
      }
      await notices.started(); // pages elsewhere clear this instance's stop notices
    },
    async stopWorking() {
      // Leases first: the scheduler must not start again while the core shuts down.
      await node.leases?.close();
      await node.worker?.stop();
    },
    async close() {
      await node.worker?.release();
      await heartbeat?.stop();
      stopping.dispose();
      notices.dispose();
      await signals.close();
      liveness.stop();
      store.jobs.send = undefined;
      await boss.stop({ graceful: false, close: true, timeout: 5_000 }).catch((err: unknown) => log.warn({ err: String(err) }, 'stopping pg-boss failed'));
    },
  };
  return node;
}
