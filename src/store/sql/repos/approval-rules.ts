/** The `approval_rules` table: "always for this conversation" approvals (migration 008). */
import { sql } from 'kysely';
import { all, first, run, type SqlContext } from '../kysely.js';
import type { ApprovalRuleRow, ApprovalRulesRepo } from '../../types.js';

interface RuleSql {
  conversation_id: string;
  tool: string;
  rule_key: string;
  created_by: string | null;
  created_at: number;
}

/**
 * Creates the repository. A rule with key '' covers every use of its tool. `add` of a known rule
 * keeps the first (`ON CONFLICT DO NOTHING`); `list` orders by `createdAt`, then tool and key
 * (byte order on both backends).
 */
export function createApprovalRulesRepo({ q }: SqlContext): ApprovalRulesRepo {
  return {
    async add(r) {
      await run(
        q,
        sql`INSERT INTO approval_rules (conversation_id, tool, rule_key, created_by, created_at)
            VALUES (${r.conversationId}, ${r.tool}, ${r.ruleKey}, ${r.createdBy}, ${Date.now()})
            ON CONFLICT (conversation_id, tool, rule_key) DO NOTHING`,
      );
    },
    async list(conversationId): Promise<ApprovalRuleRow[]> {
      const rows = await all(q, sql<RuleSql>`SELECT * FROM approval_rules WHERE conversation_id = ${conversationId} ORDER BY created_at, tool, rule_key`);
      return rows.map((r) => ({
        conversationId: r.conversation_id,
        tool: r.tool,
        ruleKey: r.rule_key,
        createdBy: r.created_by,
        createdAt: r.created_at,
      }));
    },
    async covers(conversationId, tool, ruleKey) {
      const r = await first(
        q,
        sql<{ n: number }>`SELECT COUNT(*) AS n FROM approval_rules
                           WHERE conversation_id = ${conversationId} AND tool = ${tool} AND (rule_key = '' OR rule_key = ${ruleKey ?? ''})`,
      );
      return r!.n > 0;
    },
    clear: (conversationId) => run(q, sql`DELETE FROM approval_rules WHERE conversation_id = ${conversationId}`),
  };
}
