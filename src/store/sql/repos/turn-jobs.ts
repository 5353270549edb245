/**
 * Wake-up jobs of cluster mode (docs/ARCHITECTURE.md §10): `wake(conversationId)` enqueues a job
 * for the conversation in the caller's transaction, so an inbox row and its job commit together.
 * The sender (pg-boss `send` through `fromKysely`, src/cluster/queue.ts) is attached to the store's
 * {@link TurnJobsHolder} once the queue is running; without one (one instance, SQLite) `wake` does
 * nothing.
 */
import type { Sql, SqlContext } from '../kysely.js';
import type { TurnJobsRepo } from '../../types.js';

/** Enqueues one wake-up job for `conversationId` on `q` (the store or the open transaction). */
export type TurnJobSender = (q: Sql, conversationId: string) => Promise<void>;

/** Where a store finds its job sender; shared by the store and every transaction of it. */
export interface TurnJobsHolder {
  send?: TurnJobSender;
}

/** The repository bound to `ctx` (the store or a transaction). */
export function createTurnJobsRepo({ q }: SqlContext, holder: TurnJobsHolder): TurnJobsRepo {
  return {
    async wake(conversationId) {
      await holder.send?.(q, conversationId);
    },
  };
}
