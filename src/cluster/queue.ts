/**
 * Cluster mode's turn queue (docs/ARCHITECTURE.md §10) on pg-boss 12 in the same PostgreSQL
 * database: one wake-up job per accepted message, `singletonKey` = its conversation id, on a
 * `key_strict_fifo` queue — at most one active job per conversation across the cluster, in order
 * (pg-boss ≥ 12.11; checked on these machines through a retry and a SIGKILL, issue 15's facts). A
 * job whose worker stops heartbeating (`heartbeatSeconds`, pg-boss ≥ 12.13, minimum 10 s) is
 * retried on another worker. The job is only a wake-up: the worker reads the conversation's
 * inbox (src/cluster/worker.ts).
 *
 * The job is enqueued in the inbox's transaction (`fromKysely(trx)`, pg-boss's adapter for a
 * Kysely transaction), so a message and its job commit together: see
 * src/store/sql/repos/turn-jobs.ts, whose sender this attaches.
 */
import { PgBoss, fromKysely } from 'pg-boss';
import type { Logger } from '../logger.js';
import type { TurnJobsHolder } from '../store/sql/repos/turn-jobs.js';
import { PGBOSS_SCHEMA, TURN_QUEUE } from './constants.js';

/** What a wake-up job carries. */
export interface WakeJobData {
  conversationId: string;
}

/** Options of {@link startTurnQueue}. */
export interface TurnQueueOptions {
  /** The PostgreSQL URL (the store's; it may hold a password: never logged). */
  url: string;
  /** This instance's id: pg-boss's connections carry `application_name` `agentbridge:<id>:queue`. */
  instanceId: string;
  /** The jobs' heartbeat window, s (≥ 10): a worker silent this long loses the job to another. */
  heartbeatS: number;
  logger: Logger;
  /** Failed attempts of a job before it fails for good and blocks its conversation (default 5). */
  retryLimit?: number;
  /** pg-boss's connection pool size (default 4). */
  poolMax?: number;
}

/** How wake-up jobs are retried: 2 s doubling up to 60 s, 5 times; a job may run up to 6 h (its turns and approvals). */
const QUEUE_SETTINGS = { retryDelay: 2, retryBackoff: true, retryDelayMax: 60, expireInSeconds: 6 * 3600, deleteAfterSeconds: 24 * 3600 } as const;

/**
 * Starts pg-boss (creating its schema on first use), creates the turn queue when missing, and
 * attaches the in-transaction sender to `jobs`. Resolves to the running PgBoss (the caller stops it).
 * @throws pg's or pg-boss's error when the database cannot be reached or the schema cannot be made.
 */
export async function startTurnQueue(opts: TurnQueueOptions, jobs: TurnJobsHolder): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: opts.url,
    schema: PGBOSS_SCHEMA,
    application_name: `agentbridge:${opts.instanceId}:queue`,
    max: opts.poolMax ?? 4,
    useListenNotify: true,
    schedule: false,
  });
  // pg-boss reports background errors (a lost connection while polling) as events: logged, not thrown.
  boss.on('error', (err: unknown) => opts.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'turn queue: pg-boss error'));
  await boss.start();
  if (!(await boss.getQueue(TURN_QUEUE))) {
    await boss.createQueue(TURN_QUEUE, {
      policy: 'key_strict_fifo',
      heartbeatSeconds: opts.heartbeatS,
      retryLimit: opts.retryLimit ?? 5,
      notify: true,
      ...QUEUE_SETTINGS,
    });
  }
  jobs.send = async (q, conversationId) => {
    const data: WakeJobData = { conversationId };
    // The Kysely instance or transaction is pg-boss's database for this one send.
    await boss.send(TURN_QUEUE, data, { singletonKey: conversationId, db: fromKysely(q) });
  };
  return boss;
}
