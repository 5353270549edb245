/**
 * The `delivery_leases` table (migration 014, cluster mode): at most one instance delivers a
 * conversation's outbox rows at a time. A lease is a row (conversation, holder, expiry); taking it
 * succeeds when there is none, it lapsed, or the taker already holds it (then it is extended).
 */
import { sql } from 'kysely';
import { all, run, type SqlContext } from '../kysely.js';
import type { DeliveryLeasesRepo } from '../../types.js';

/** Creates the repository. Times in ms since the epoch. */
export function createDeliveryLeasesRepo({ q }: SqlContext): DeliveryLeasesRepo {
  return {
    async take(conversationId, holder, ttlMs, now = Date.now()) {
      const rows = await all(
        q,
        sql<{ holder: string }>`INSERT INTO delivery_leases (conversation_id, holder, expires_at) VALUES (${conversationId}, ${holder}, ${now + ttlMs})
                                ON CONFLICT (conversation_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                                WHERE delivery_leases.holder = excluded.holder OR delivery_leases.expires_at < ${now}
                                RETURNING holder`,
      );
      return rows.length === 1;
    },
    async release(conversationId, holder) {
      await run(q, sql`DELETE FROM delivery_leases WHERE conversation_id = ${conversationId} AND holder = ${holder}`);
    },
  };
}
