-- 005_agent_session_at: the point in the conversation's agent session that agentbridge last
-- committed (Claude: the uuid of the last assistant message of the last committed turn), so a
-- turn re-run after a crash or shutdown resumes there, not where the CLI's session file ended.
ALTER TABLE conversations ADD COLUMN agent_session_at TEXT;
