-- 009_local_message_actions: the buttons of a local chat bot message (an approval, question or
-- plan card; src/core/interactions.ts CardAction). A JSON array `[{id, label, style?}]`, or NULL
-- when the message has none (every row stored before this migration). Written only by
-- src/store/repos/local-messages.ts. PostgreSQL translation of ../sqlite/009_local_message_actions.sql.
ALTER TABLE local_messages ADD COLUMN actions_json TEXT COLLATE "C";
