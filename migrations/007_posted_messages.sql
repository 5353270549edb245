-- 007_posted_messages:
-- 1. Scheduler messages: `platform: "scheduler"` became `origin: "scheduler"` with the platform of
--    the conversation the message runs in (its reply target's). Inbox rows stored before keep
--    running: their payload is rewritten here.
UPDATE inbox
   SET payload_json = json_set(payload_json,
                               '$.platform', json_extract(payload_json, '$.replyTarget.platform'),
                               '$.origin', 'scheduler')
 WHERE json_extract(payload_json, '$.platform') = 'scheduler';
