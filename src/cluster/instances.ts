/**
 * This instance's heartbeat in cluster mode (docs/ARCHITECTURE.md §10): its row of
 * `cluster_instances` (id, host, pid, roles, url, turns running) written at start and every
 * {@link HEARTBEAT_INTERVAL_MS}, marked stopped by a graceful stop. `cluster status` and
 * `/agent status` read these rows: an instance whose last beat is older than
 * {@link LIVE_WINDOW_MS} (or that stopped) is not live.
 */
import os from 'node:os';
import type { ClusterRole } from '../core/config.js';
import type { Logger } from '../logger.js';
import type { ClusterInstancesRepo } from '../store/types.js';

/** How often an instance writes its row, ms. */
export const HEARTBEAT_INTERVAL_MS = 5000;

/** An instance whose last heartbeat is older than this (3 missed beats), ms, is not live. */
export const LIVE_WINDOW_MS = 3 * HEARTBEAT_INTERVAL_MS;

/** What {@link InstanceHeartbeat} is created with. */
export interface InstanceHeartbeatOptions {
  /** The repository the row goes to (`store.clusterInstances`). */
  repo: Pick<ClusterInstancesRepo, 'beat' | 'markStopped'>;
  /** This instance's id (`config.cluster.instanceId`). */
  instanceId: string;
  roles: ClusterRole[];
  /** Where its HTTP server can be reached (e.g. `http://10.0.0.5:8787`); absent: null. */
  url?: string;
  /** Agent turns running now on this instance (read at each beat). */
  turnsRunning: () => number;
  logger: Logger;
  /** Interval between beats, ms (default {@link HEARTBEAT_INTERVAL_MS}; tests use less). */
  intervalMs?: number;
  /** Host name (default `os.hostname()`). */
  host?: string;
  /** Process id (default `process.pid`). */
  pid?: number;
  now?: () => number;
}

/**
 * Writes this instance's `cluster_instances` row: `start()` beats at once and then every
 * `intervalMs`; `stop()` stops the timer and marks the row stopped. A failed write is logged
 * (warn) and retried at the next beat; no method throws.
 */
export class InstanceHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt: number;
  private readonly now: () => number;
  /** The beat in flight, if any (stop waits for it so that `stopped` is the row's last write). */
  private inFlight: Promise<void> | undefined;
  private stopped = false;
  /** Whether the last write failed (logged once per run of failures). */
  private failing = false;

  constructor(private readonly opts: InstanceHeartbeatOptions) {
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
  }

  /** Writes the row now and then every interval; resolves after the first write (or its logged failure). */
  async start(): Promise<void> {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => void this.beat(), this.opts.intervalMs ?? HEARTBEAT_INTERVAL_MS);
    this.timer.unref();
    await this.beat();
  }

  /** One write of the row (skipped while the previous one runs, and after stop). Never rejects. */
  beat(): Promise<void> {
    if (this.stopped || this.inFlight) return this.inFlight ?? Promise.resolve();
    const o = this.opts;
    this.inFlight = (async () => {
      try {
        await o.repo.beat({
          id: o.instanceId,
          host: o.host ?? os.hostname(),
          pid: o.pid ?? process.pid,
          roles: o.roles,
          url: o.url ?? null,
          startedAt: this.startedAt,
          heartbeatAt: this.now(),
          turnsRunning: o.turnsRunning(),
        });
        if (this.failing) o.logger.info({ instance: o.instanceId }, 'cluster heartbeat written again');
        this.failing = false;
      } catch (err) {
        if (!this.failing) o.logger.warn({ err, instance: o.instanceId }, 'cluster heartbeat could not be written (retried every beat)');
        this.failing = true;
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }

  /** Stops beating and marks the row stopped (a failure is logged). Idempotent; never rejects. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
    try {
      await this.opts.repo.markStopped(this.opts.instanceId, this.now());
    } catch (err) {
      this.opts.logger.warn({ err, instance: this.opts.instanceId }, 'cluster instance could not be marked stopped');
    }
  }
}
