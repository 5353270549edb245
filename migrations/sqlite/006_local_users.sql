-- 006_local_users: people who log in to the local web chat, and their tokens (stored hashed).
CREATE TABLE local_users (
  name       TEXT PRIMARY KEY,
  admin      INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);

-- One row per token: `link` (one-time login link, expires), `session` (browser cookie, expires),
-- `api` (bearer token for scripts, no expiry). `hash` is the hex SHA-256 of the token; the token
-- itself is never stored.
CREATE TABLE local_user_tokens (
  hash       TEXT PRIMARY KEY,
  user_name  TEXT NOT NULL REFERENCES local_users(name) ON DELETE CASCADE,
  kind       TEXT NOT NULL CHECK (kind IN ('link', 'session', 'api')),
  created_at INTEGER NOT NULL,
  expires_at INTEGER
);
CREATE INDEX local_user_tokens_user ON local_user_tokens(user_name);
