/**
 * The leader's maintenance lease (docs/ARCHITECTURE.md §10): while held, every `everyMs`
 * (default 60 s) and once at once, conversations whose unfinished inbox rows have waited longer
 * than `staleMs` (default 5 min; at the first run after taking the lease: all of them) get a new
 * wake-up job. Every accepted message already has one (enqueued in its inbox transaction), so this
 * only matters for rows that lost theirs: accepted before cluster mode was turned on, or a job
 * deleted by hand. A spare wake-up is harmless — it waits behind the conversation's other jobs and
 * finds nothing to do. It also removes `cluster_instances` rows whose last heartbeat is a day old.
 */
import type { Logger } from '../logger.js';
import type { Store } from '../store/types.js';
import type { LeaseWork } from './leases.js';

export interface MaintenanceOptions {
  store: Pick<Store, 'inbox' | 'turnJobs' | 'clusterInstances'>;
  logger: Logger;
  everyMs?: number;
  staleMs?: number;
  now?: () => number;
}

/** Wakes every conversation with unfinished rows last touched before `before` (ms since the epoch); resolves to how many. */
export async function wakeStaleConversations(store: Pick<Store, 'inbox' | 'turnJobs'>, before: number): Promise<number> {
  const stale = await store.inbox.staleConversations(before);
  for (const id of stale) await store.turnJobs.wake(id);
  return stale.length;
}

/** The maintenance lease's work (see the file comment). */
export function maintenanceWork(opts: MaintenanceOptions): LeaseWork {
  const now = opts.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  const run = async (before: number) => {
    try {
      const woken = await wakeStaleConversations(opts.store, before);
      if (woken) opts.logger.info({ woken }, 'maintenance: woke conversations whose messages had no turn running');
      // Rows of instances gone for a day (stopped, or silent after a crash) leave `cluster status`.
      const pruned = await opts.store.clusterInstances.prune(now() - 24 * 3600_000);
      if (pruned) opts.logger.info({ pruned }, 'maintenance: removed instances gone for a day');
    } catch (err) {
      opts.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'maintenance: could not check for waiting conversations');
    }
  };
  return {
    start() {
      void run(now());
      timer = setInterval(() => void run(now() - (opts.staleMs ?? 300_000)), opts.everyMs ?? 60_000);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
