-- 012_local_message_file: a file a local chat bot message carries (an agent's send_file,
-- src/platforms/local/adapter.ts postFile): JSON `{name, size, type}` (size in bytes, type a MIME
-- type), or NULL for a message without one (every row stored before this migration). The bytes
-- are in `<dataDir>/local-files/<message id>`. Written only by src/store/repos/local-messages.ts.
ALTER TABLE local_messages ADD COLUMN file_json TEXT;
