-- 007_posted_messages:
-- 1. Scheduler messages: `platform: "scheduler"` became `origin: "scheduler"` with the platform of
--    the conversation the message runs in (its reply target's). Inbox rows stored before keep
--    running: their payload is rewritten here.
UPDATE inbox
   SET payload_json = json_set(payload_json,
                               '$.platform', json_extract(payload_json, '$.replyTarget.platform'),
                               '$.origin', 'scheduler')
 WHERE json_extract(payload_json, '$.platform') = 'scheduler';

-- 2. "Response checkpoints" are the posted messages: every message the bot posted, keyed by
--    platform, channel and message id (thread seeding, recovery). Data is kept.
ALTER TABLE response_checkpoints RENAME TO posted_messages;
DROP INDEX response_checkpoints_conversation;
DROP INDEX response_checkpoints_entry;
CREATE INDEX posted_messages_conversation ON posted_messages(conversation_id, created_at);
CREATE INDEX posted_messages_entry ON posted_messages(session_entry_id);

-- 3. What each posted message is: `progress` (a turn's "⏳ Working…" message, edited in place),
--    `answer` (a turn's answer, linked to its transcript entry) or `notice` (everything else:
--    command replies, restart and interruption notices, the agent's post_message). Recovery finds
--    progress messages by this kind. Rows stored before: `answer` when linked to an entry, else
--    `progress` when the text is still the progress view's (it starts with "⏳"), else `notice`.
ALTER TABLE posted_messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'notice' CHECK (kind IN ('progress', 'answer', 'notice'));
UPDATE posted_messages
   SET kind = CASE
                WHEN session_entry_id IS NOT NULL THEN 'answer'
                WHEN substr(assistant_text, 1, 1) = '⏳' THEN 'progress'
                ELSE 'notice'
              END;
