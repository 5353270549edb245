-- 008_interactions: interactive agent sessions (issue 11).
-- 1. What a running agent asked the people in a conversation (a tool approval, a question, a
--    plan) and what was decided. The first decision wins: it is an UPDATE ... WHERE state =
--    'pending'. `outbox_id` is the card's outbox row (its posted message id is that row's
--    posted_ref). Pending rows left by a process that ended are expired at the next start.
CREATE TABLE interactions (
  id              TEXT PRIMARY KEY,
  conversation_id TEXT NOT NULL,
  kind            TEXT NOT NULL CHECK (kind IN ('approval', 'question', 'plan')),
  request_json    TEXT NOT NULL,
  requester_id    TEXT,
  requester_name  TEXT,
  outbox_id       INTEGER,
  state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'decided', 'timed_out', 'expired', 'cancelled')),
  awaiting_text   INTEGER NOT NULL DEFAULT 0,
  decision_json   TEXT,
  decided_by_id   TEXT,
  decided_by_name TEXT,
  decided_at      INTEGER,
  created_at      INTEGER NOT NULL,
  expires_at      INTEGER NOT NULL
);
CREATE INDEX interactions_conversation ON interactions(conversation_id, state);
CREATE INDEX interactions_pending ON interactions(state) WHERE state = 'pending';

-- 2. "Always for this conversation": a tool (and its command prefix or path; '' = any use of
--    the tool) that runs without asking in that conversation until `reset`.
CREATE TABLE approval_rules (
  conversation_id TEXT NOT NULL,
  tool            TEXT NOT NULL,
  rule_key        TEXT NOT NULL DEFAULT '',
  created_by      TEXT,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (conversation_id, tool, rule_key)
);

-- 3. A conversation's own permission mode (approving a plan switches it to `edit`); NULL = the
--    configured default (AGENTBRIDGE_PERMISSION_MODE).
ALTER TABLE conversations ADD COLUMN permission_mode TEXT;
