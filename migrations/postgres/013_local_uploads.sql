-- 013_local_uploads: files people upload in the local web chat (POST /api/local/files,
-- src/platforms/local/uploads.ts) and the files a user's message carries.
-- PostgreSQL translation of ../sqlite/013_local_uploads.sql.
--
-- local_uploads: one row per upload. `owner` is the logged-in user's name, NULL for an anonymous
-- page (login not required); only that owner can send it. `message_id` is the local message it
-- was sent with (NULL until sent; an upload is sent once). `size` in bytes, times in ms since the
-- epoch. The bytes are in `<dataDir>/uploads/<id>`. Written only by src/store/repos/local-uploads.ts.
CREATE TABLE local_uploads (
  id         TEXT COLLATE "C" PRIMARY KEY,
  owner      TEXT COLLATE "C",
  name       TEXT COLLATE "C" NOT NULL,
  type       TEXT COLLATE "C" NOT NULL,
  size       BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  message_id TEXT COLLATE "C"
);
CREATE INDEX local_uploads_unsent ON local_uploads(created_at) WHERE message_id IS NULL;

-- The files a user's message carries: JSON array of `{id, name, size, type}` (upload ids of
-- local_uploads), or NULL for none. Written only by src/store/repos/local-messages.ts.
ALTER TABLE local_messages ADD COLUMN files_json TEXT COLLATE "C";
