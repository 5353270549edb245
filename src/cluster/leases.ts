/**
 * The leader role of cluster mode (docs/ARCHITECTURE.md §10): each lease (`LEASES` of
 * ./constants.ts) is held by at most one instance at a time — a PostgreSQL advisory lock on a
 * dedicated connection (src/store/pg-lease.ts). {@link LeaderLeases} tries every lease it does
 * not hold about once a second (jittered), starts that lease's work when it gets it, and stops the
 * work at once when the lease is lost (the connection failed, a keep-alive went unanswered), before
 * it tries again (after three retry intervals, so a healthy instance takes it first). A lease whose work fails to start is given back and tried again later, so
 * another instance can take it.
 *
 * Takeover after a holder died: PostgreSQL frees the lock when the holder's backend notices the
 * closed socket (on loopback at once after a SIGKILL); the next attempt of another instance, at
 * most {@link LEASE_RETRY_MS} × 1.25 later, takes it.
 */
import type { Logger } from '../logger.js';
import { tryLease as defaultTryLease, type HeldLease, type TryLeaseOptions } from '../store/pg-lease.js';
import type { LeaseName } from './constants.js';

/** Interval between attempts to take a lease not held, ms (each jittered by ±25 %). */
export const LEASE_RETRY_MS = 1_000;
/** After a lease's work failed to start, the next attempt waits this long, ms. */
const START_FAILED_BACKOFF_MS = 5_000;
/**
 * After losing a lease (its connection failed or a keep-alive went unanswered) the instance waits
 * this many retry intervals before trying for it again, so that another instance, trying every
 * interval (± 25 %), takes it over first; with no other instance it is taken back after that.
 */
const LOST_BACKOFF_RETRIES = 3;

/** The work a lease guards. Both may be async; a rejection is logged. `stop` must be safe while `start` is still running. */
export interface LeaseWork {
  /** Begins the work (the lease was just taken). A rejection gives the lease back (tried again after a back-off). */
  start(): Promise<void> | void;
  /** Ends the work at once (the lease was lost, or the service shuts down). */
  stop(): Promise<void> | void;
}

export interface LeaderLeasesOptions {
  /** `postgres://…` of the cluster's database. */
  url: string;
  /** This instance's id (its lease connections' `application_name` is `agentbridge:<id>`). */
  instanceId: string;
  /** The leases to hold and their work; leases left out are not tried. */
  work: Partial<Record<LeaseName, LeaseWork>>;
  logger: Logger;
  /** Interval between attempts, ms (default {@link LEASE_RETRY_MS}). */
  retryMs?: number;
  /** Keep-alive settings of the held leases (tests). */
  leaseOptions?: TryLeaseOptions;
  /** Replaces {@link defaultTryLease} (tests). */
  tryLease?: typeof defaultTryLease;
}

/** Holds what it can of the configured leases until {@link close}. */
export class LeaderLeases {
  private readonly held_ = new Map<LeaseName, HeldLease>();
  private readonly loops: Promise<void>[] = [];
  private closed = false;
  private readonly closing: Promise<'closed'>;
  private resolveClosing!: () => void;
  private readonly log: Logger;
  private started = false;
  private closingDone?: Promise<void>;

  constructor(private readonly o: LeaderLeasesOptions) {
    this.closing = new Promise((resolve) => (this.resolveClosing = () => resolve('closed')));
    this.log = o.logger.child({ component: 'leases', instanceId: o.instanceId });
  }

  /** Starts trying the leases (returns at once). Idempotent. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    for (const [name, work] of Object.entries(this.o.work) as Array<[LeaseName, LeaseWork]>) this.loops.push(this.loop(name, work));
  }

  /** The leases held right now. */
  held(): LeaseName[] {
    return [...this.held_.keys()];
  }

  /**
   * Graceful shutdown: stops trying, stops the work of every held lease, then releases it (so the
   * next holder starts only after this one stopped). Idempotent; never rejects.
   */
  close(): Promise<void> {
    this.closingDone ??= (async () => {
      this.closed = true;
      this.resolveClosing();
      await Promise.all(this.loops);
    })();
    return this.closingDone;
  }

  /** Tries `name` until closed; holds it while it can. */
  private async loop(name: LeaseName, work: LeaseWork): Promise<void> {
    const tryLease = this.o.tryLease ?? defaultTryLease;
    let failures = 0;
    while (!this.closed) {
      let lease: HeldLease | undefined;
      try {
        lease = await tryLease(this.o.url, name, this.o.instanceId, this.o.leaseOptions);
        failures = 0;
      } catch (err) {
        // the database is unreachable: say so once per outage, not every second
        if (failures++ === 0) this.log.warn({ err, lease: name }, `lease ${name}: cannot reach the database; trying again`);
      }
      let backoff = 0;
      if (lease) backoff = await this.hold(name, work, lease);
      if (this.closed) break;
      await this.sleep(Math.max(backoff, jitter(this.o.retryMs ?? LEASE_RETRY_MS)));
    }
  }

  /** Runs `work` while `lease` is held; resolves (with a back-off before the next attempt, ms) when it is lost or closed. */
  private async hold(name: LeaseName, work: LeaseWork, lease: HeldLease): Promise<number> {
    if (this.closed) {
      await lease.release();
      return 0;
    }
    this.held_.set(name, lease);
    this.log.info({ lease: name, serverPid: lease.serverPid }, `lease ${name}: acquired; starting its work`);
    let startError: unknown;
    const starting = (async () => {
      try {
        await work.start();
      } catch (err) {
        startError = err;
      }
    })();
    const first = await Promise.race([starting.then(() => 'started' as const), lease.lost, this.closing]);
    let why: Error | 'closed' | undefined;
    if (first === 'started') {
      if (startError !== undefined) {
        this.log.error({ err: startError, lease: name }, `lease ${name}: its work failed to start; giving the lease back`);
        await this.safeStop(name, work);
        this.held_.delete(name);
        await lease.release();
        return START_FAILED_BACKOFF_MS;
      }
      why = await Promise.race([lease.lost, this.closing]);
    } else why = first;
    this.held_.delete(name);
    if (why === 'closed') {
      await this.safeStop(name, work);
      await starting;
      await lease.release();
      this.log.info({ lease: name }, `lease ${name}: released (shutting down)`);
      return 0;
    }
    this.log.warn({ err: why, lease: name }, `lease ${name}: lost; stopping its work`);
    await this.safeStop(name, work);
    await starting;
    await lease.release();
    // Its connection failed: another instance (trying every retry interval) should take over first.
    return LOST_BACKOFF_RETRIES * (this.o.retryMs ?? LEASE_RETRY_MS);
  }

  private async safeStop(name: LeaseName, work: LeaseWork): Promise<void> {
    try {
      await work.stop();
    } catch (err) {
      this.log.error({ err, lease: name }, `lease ${name}: stopping its work failed`);
    }
  }

  private sleep(ms: number): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, ms))), this.closing]).finally(() => clearTimeout(timer));
  }
}

/** `ms` ± 25 %. */
function jitter(ms: number): number {
  return Math.round(ms * (0.75 + Math.random() * 0.5));
}
