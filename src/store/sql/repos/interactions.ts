/** The `interactions` table: approvals, questions and plans a running agent asked, and their outcome (migration 008). */
import { sql } from 'kysely';
import type { InteractionDecision, InteractionRequest } from '../../../core/interactions.js';
import { all, first, run, type SqlContext } from '../kysely.js';
import type { InteractionRow, InteractionsRepo, InteractionState } from '../../types.js';

interface InteractionSql {
  id: string;
  conversation_id: string;
  kind: string;
  request_json: string;
  requester_id: string | null;
  requester_name: string | null;
  outbox_id: number | null;
  state: string;
  awaiting_text: number;
  decision_json: string | null;
  decided_by_id: string | null;
  decided_by_name: string | null;
  decided_at: number | null;
  created_at: number;
  expires_at: number;
}

function toRow(r: InteractionSql): InteractionRow {
  return {
    id: r.id,
    conversationId: r.conversation_id,
    request: JSON.parse(r.request_json) as InteractionRequest,
    requester: r.requester_id ? { id: r.requester_id, name: r.requester_name ?? r.requester_id } : null,
    outboxId: r.outbox_id,
    state: r.state as InteractionState,
    awaitingText: r.awaiting_text === 1,
    decision: r.decision_json ? (JSON.parse(r.decision_json) as InteractionDecision) : null,
    decidedBy: r.decided_by_id ? { id: r.decided_by_id, name: r.decided_by_name ?? r.decided_by_id } : null,
    decidedAt: r.decided_at,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}

/**
 * Creates the repository. `finish` only changes a `pending` row: the first decision wins (one
 * `UPDATE … WHERE id = ? AND state = 'pending'`; under PostgreSQL's READ COMMITTED a concurrent
 * second call waits for the first's row lock, then no longer matches). `awaiting_text` is 0/1 on
 * both backends.
 */
export function createInteractionsRepo({ q }: SqlContext): InteractionsRepo {
  return {
    async create(r) {
      const row = await first(
        q,
        sql<InteractionSql>`INSERT INTO interactions (id, conversation_id, kind, request_json, requester_id, requester_name, created_at, expires_at)
            VALUES (${r.id}, ${r.conversationId}, ${r.request.kind}, ${JSON.stringify(r.request)}, ${r.requester?.id ?? null},
              ${r.requester?.name ?? null}, ${Date.now()}, ${r.expiresAt})
            RETURNING *`,
      );
      return toRow(row!);
    },
    async get(id) {
      const r = await first(q, sql<InteractionSql>`SELECT * FROM interactions WHERE id = ${id}`);
      return r && toRow(r);
    },
    async setCard(id, outboxId) {
      await run(q, sql`UPDATE interactions SET outbox_id = ${outboxId} WHERE id = ${id}`);
    },
    async setAwaitingText(id, awaiting) {
      await run(q, sql`UPDATE interactions SET awaiting_text = ${awaiting ? 1 : 0} WHERE id = ${id} AND state = 'pending'`);
    },
    async finish(id, state, decision, by, at) {
      const changed = await run(
        q,
        sql`UPDATE interactions SET state = ${state}, decision_json = ${decision ? JSON.stringify(decision) : null},
              decided_by_id = ${by?.id ?? null}, decided_by_name = ${by?.name ?? null}, decided_at = ${at}, awaiting_text = 0
            WHERE id = ${id} AND state = 'pending'`,
      );
      return changed > 0;
    },
    async pending(conversationId) {
      const rows =
        conversationId === undefined
          ? await all(q, sql<InteractionSql>`SELECT * FROM interactions WHERE state = 'pending' ORDER BY created_at, id`)
          : await all(
              q,
              sql<InteractionSql>`SELECT * FROM interactions WHERE state = 'pending' AND conversation_id = ${conversationId} ORDER BY created_at, id`,
            );
      return rows.map(toRow);
    },
  };
}
