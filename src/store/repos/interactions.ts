/** The `interactions` table: approvals, questions and plans a running agent asked, and their outcome (migration 008). */
import type { InteractionDecision, InteractionRequest } from '../../core/interactions.js';
import type { SyncRepo } from '../sync-repo.js';
import type { Db } from '../db.js';
import type { InteractionRow, InteractionsRepo, InteractionState } from '../types.js';

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

/** Creates the repository (statements prepared once). `finish` only changes a `pending` row: the first decision wins. */
export function createInteractionsRepo(db: Db): SyncRepo<InteractionsRepo> {
  const insert = db.prepare<[Record<string, string | number | null>], InteractionSql>(
    `INSERT INTO interactions (id, conversation_id, kind, request_json, requester_id, requester_name, created_at, expires_at)
     VALUES (@id, @conversationId, @kind, @request, @requesterId, @requesterName, @now, @expiresAt)
     RETURNING *`,
  );
  const get = db.prepare<[string], InteractionSql>('SELECT * FROM interactions WHERE id = ?');
  const setCard = db.prepare<[number, string]>('UPDATE interactions SET outbox_id = ? WHERE id = ?');
  const setAwaiting = db.prepare<[number, string]>("UPDATE interactions SET awaiting_text = ? WHERE id = ? AND state = 'pending'");
  const finish = db.prepare<[string, string | null, string | null, string | null, number, string]>(
    `UPDATE interactions SET state = ?, decision_json = ?, decided_by_id = ?, decided_by_name = ?, decided_at = ?, awaiting_text = 0
     WHERE id = ? AND state = 'pending'`,
  );
  const pendingAll = db.prepare<[], InteractionSql>("SELECT * FROM interactions WHERE state = 'pending' ORDER BY created_at, id");
  const pendingOf = db.prepare<[string], InteractionSql>("SELECT * FROM interactions WHERE state = 'pending' AND conversation_id = ? ORDER BY created_at, id");
  return {
    create(r) {
      return toRow(
        insert.all({
          id: r.id,
          conversationId: r.conversationId,
          kind: r.request.kind,
          request: JSON.stringify(r.request),
          requesterId: r.requester?.id ?? null,
          requesterName: r.requester?.name ?? null,
          now: Date.now(),
          expiresAt: r.expiresAt,
        })[0]!,
      );
    },
    get(id) {
      const r = get.get(id);
      return r && toRow(r);
    },
    setCard(id, outboxId) {
      setCard.run(outboxId, id);
    },
    setAwaitingText(id, awaiting) {
      setAwaiting.run(awaiting ? 1 : 0, id);
    },
    finish(id, state, decision, by, at) {
      return finish.run(state, decision ? JSON.stringify(decision) : null, by?.id ?? null, by?.name ?? null, at, id).changes > 0;
    },
    pending(conversationId) {
      return (conversationId === undefined ? pendingAll.all() : pendingOf.all(conversationId)).map(toRow);
    },
  };
}
