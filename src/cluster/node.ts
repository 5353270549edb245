/**
 * One agentbridge instance of a cluster (docs/ARCHITECTURE.md §10): what src/app.ts adds to the
 * core in cluster mode, by role.
 * - every role: the turn queue's sender (pg-boss; messages accepted here enqueue their wake-up
 *   job in the inbox transaction) and the database liveness watchdog;
 * - worker: {@link TurnWorker} takes wake-up jobs and runs the turns;
 * - leader: the leases (Discord gateway, scheduler, maintenance), started by the caller.
 */
import type { PgBoss } from 'pg-boss';
import type { ClusterConfig } from '../core/config.js';
import type { Logger } from '../logger.js';
import type { Core } from '../compose.js';
import type { PostgresStore } from '../store/postgres.js';
import { DatabaseLiveness } from './liveness.js';
import { startTurnQueue } from './queue.js';
import { TurnWorker } from './worker.js';
import { LeaderLeases, type LeaseWork } from './leases.js';
import { maintenanceWork } from './maintenance.js';
import type { LeaseName } from './constants.js';

export interface ClusterNodeOptions {
  cluster: ClusterConfig;
  store: PostgresStore;
  /** The store's URL (never logged). */
  url: string;
  logger: Logger;
  /** Turn slots of this worker (AGENTBRIDGE_MAX_CONCURRENT_TURNS). */
  concurrency: number;
}

/** The running cluster parts of this instance. */
export interface ClusterNode {
  readonly boss: PgBoss;
  readonly liveness: DatabaseLiveness;
  /** Present when this instance has the worker role (after {@link startWorking}). */
  worker?: TurnWorker;
  /** Present when this instance has the leader role (after {@link startWorking}). */
  leases?: LeaderLeases;
  /**
   * Starts taking wake-up jobs (worker role) and trying the leader's leases (leader role): the
   * scheduler, maintenance, and the gateways in `gateways` (Discord's). Call after `core.start()`.
   */
  startWorking(core: Core, gateways?: Partial<Record<LeaseName, LeaseWork>>): Promise<void>;
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
  log.info({ roles: cluster.roles }, `cluster instance ${cluster.instanceId} joined (roles: ${cluster.roles.join(', ')})`);
  const node: ClusterNode = {
    boss,
    liveness,
    async startWorking(core, gateways = {}) {
      if (cluster.roles.includes('leader')) {
        node.leases = new LeaderLeases({
          url: opts.url,
          instanceId: cluster.instanceId,
          logger: log,
          work: {
            ...gateways,
            scheduler: { start: () => core.scheduler.start(), stop: () => core.scheduler.stop() },
            maintenance: maintenanceWork({ store, logger: log }),
          },
        });
        node.leases.start();
      }
      if (!cluster.roles.includes('worker')) return;
      node.worker = new TurnWorker({
        boss,
        store,
        router: core.router,
        bridges: core.bridges,
        outbound: core.outbound,
        interactions: core.interactions,
        liveness,
        concurrency: opts.concurrency,
        heartbeatS: cluster.heartbeatS,
        logger: log,
      });
      await node.worker.start();
    },
    async stopWorking() {
      // Leases first: the scheduler must not start again while the core shuts down.
      await node.leases?.close();
      await node.worker?.stop();
    },
    async close() {
      await node.worker?.release();
      liveness.stop();
      store.jobs.send = undefined;
      await boss.stop({ graceful: false, close: true, timeout: 5_000 }).catch((err: unknown) => log.warn({ err: String(err) }, 'stopping pg-boss failed'));
    },
  };
  return node;
}
