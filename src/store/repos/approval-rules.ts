/** The `approval_rules` table: "always for this conversation" approvals (migration 008). */
import type { Db } from '../db.js';
import type { SyncRepo } from '../sync-repo.js';
import type { ApprovalRuleRow, ApprovalRulesRepo } from '../types.js';

interface RuleSql {
  conversation_id: string;
  tool: string;
  rule_key: string;
  created_by: string | null;
  created_at: number;
}

/** Creates the repository (statements prepared once). A rule with key '' covers every use of its tool. */
export function createApprovalRulesRepo(db: Db): SyncRepo<ApprovalRulesRepo> {
  const add = db.prepare<[string, string, string, string | null, number]>(
    'INSERT OR IGNORE INTO approval_rules (conversation_id, tool, rule_key, created_by, created_at) VALUES (?, ?, ?, ?, ?)',
  );
  const list = db.prepare<[string], RuleSql>('SELECT * FROM approval_rules WHERE conversation_id = ? ORDER BY created_at, tool, rule_key');
  const covers = db.prepare<[string, string, string], { n: number }>(
    "SELECT count(*) AS n FROM approval_rules WHERE conversation_id = ? AND tool = ? AND (rule_key = '' OR rule_key = ?)",
  );
  const clear = db.prepare<[string]>('DELETE FROM approval_rules WHERE conversation_id = ?');
  return {
    add(r) {
      add.run(r.conversationId, r.tool, r.ruleKey, r.createdBy, Date.now());
    },
    list(conversationId): ApprovalRuleRow[] {
      return list.all(conversationId).map((r) => ({
        conversationId: r.conversation_id,
        tool: r.tool,
        ruleKey: r.rule_key,
        createdBy: r.created_by,
        createdAt: r.created_at,
      }));
    },
    covers(conversationId, tool, ruleKey) {
      return covers.get(conversationId, tool, ruleKey ?? '')!.n > 0;
    },
    clear(conversationId) {
      return clear.run(conversationId).changes;
    },
  };
}
