-- 010_local_message_reaction: the mark on a local chat user's message (src/platforms/types.ts
-- ReactionState: working, done, failed, steered), set by LocalAdapter.react so a reload of the
-- page shows it; NULL when the core never reacted (every row stored before this migration).
-- Written only by src/store/repos/local-messages.ts. PostgreSQL translation of
-- ../sqlite/010_local_message_reaction.sql.
ALTER TABLE local_messages ADD COLUMN reaction TEXT COLLATE "C";
