/**
 * Restart notices across instances (docs/ARCHITECTURE.md §10 "Cluster mode — signals"): an
 * instance that begins a graceful stop (SIGTERM, or `/agent restart`) tells the others which
 * conversations' turns run on it; once those turns ended, which of them it cut (another worker
 * runs them again); and once it has (re)joined, that it is back. The instances that
 * hold those conversations' clients show it: the local web chat pages connected to another
 * instance get "♻️ instance node-1, which runs this turn, is restarting…" as the thread's status
 * (src/cluster/local-relay.ts, src/platforms/local/peer-restart.ts). Slack and Discord hold their
 * own clients: a turn cut by the stop is announced there by the worker that runs it again
 * (`INTERRUPTED_NOTICE`, through the outbox). Every instance logs the notices it receives.
 *
 * Notices are best effort: a stopping instance that cannot reach the database within
 * `timeoutMs` stops anyway (logged); the durable notices (the outbox's) do not depend on them.
 */
import type { Logger } from '../logger.js';
import { restartSignals, type ClusterSignals } from './signals.js';

/** What a stopping instance says: whether it comes back, its grace period, the conversations whose turns run on it. */
export interface StoppingNotice {
  /** True for `/agent restart` (the instance comes back), false for a shutdown. */
  again: boolean;
  /** How long the running turns get to finish, ms (AGENTBRIDGE_SHUTDOWN_GRACE_S × 1000). */
  graceMs: number;
  /** Conversation ids of the turns running on this instance. */
  turns: readonly string[];
}

/** What a stopped instance says once its turns have ended: the ones it cut (run again elsewhere); the others finished. */
export interface StoppedNotice {
  /** As in {@link StoppingNotice}. */
  again: boolean;
  /** Conversation ids of the announced turns that were cut (ended by the stop, not finished). */
  cut: readonly string[];
}

/** The restart notices of one instance. */
export interface RestartNotices {
  /** Sends the `stopping` notice (several signals for many turns). Resolves when sent or after the timeout; never throws (failures logged). */
  stopping(notice: StoppingNotice): Promise<void>;
  /** Sends the `stopped` notice (after the turns ended). Resolves when sent or after the timeout; never throws (failures logged). */
  stopped(notice: StoppedNotice): Promise<void>;
  /** Sends the `started` notice. Resolves when sent or after the timeout; never throws (failures logged). */
  started(): Promise<void>;
  /** Stops logging other instances' notices. */
  dispose(): void;
}

/** Default bound on sending a notice, ms: a stop must not wait long for an unreachable database. */
const NOTICE_TIMEOUT_MS = 2_000;

/**
 * The restart notices of the instance behind `signals`.
 * @param timeoutMs how long sending one notice may take before it is given up (logged), ms
 */
export function restartNotices(signals: Pick<ClusterSignals, 'publish' | 'on' | 'instanceId'>, logger: Logger, timeoutMs = NOTICE_TIMEOUT_MS): RestartNotices {
  const dispose = signals.on('restart', (s, from) => {
    if (s.phase === 'started') logger.info({ from }, `cluster: instance ${from} started`);
    else if (s.phase === 'stopped') logger.info({ from, cut: s.turns?.length ?? 0 }, `cluster: instance ${from} stopped`);
    else logger.info({ from, turns: s.turns?.length ?? 0, graceS: s.graceS }, `cluster: instance ${from} is ${s.again ? 'restarting' : 'shutting down'}`);
  });
  const bounded = async (what: string, send: () => Promise<void>): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    try {
      const r = await Promise.race([send().then(() => 'sent' as const), timedOut]);
      if (r === 'timeout')
        logger.warn({ what, timeoutMs }, 'cluster: a restart notice was not sent in time; the other instances learn of it from the outbox notices only');
    } catch (err) {
      logger.warn({ err, what }, 'cluster: a restart notice could not be sent; the other instances learn of it from the outbox notices only');
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    stopping: (notice) =>
      bounded('stopping', async () => {
        for (const s of restartSignals(signals.instanceId, 'stopping', notice.again, notice.graceMs / 1000, notice.turns)) await signals.publish(s);
      }),
    stopped: (notice) =>
      bounded('stopped', async () => {
        for (const s of restartSignals(signals.instanceId, 'stopped', notice.again, 0, notice.cut)) await signals.publish(s);
      }),
    started: () => bounded('started', () => signals.publish({ kind: 'restart', phase: 'started' })),
    dispose,
  };
}
