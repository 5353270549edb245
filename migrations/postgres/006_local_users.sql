-- 006_local_users: people who log in to the local web chat, and their tokens (stored hashed).
-- PostgreSQL translation of ../sqlite/006_local_users.sql.
CREATE TABLE local_users (
  name       TEXT COLLATE "C" PRIMARY KEY,
  admin      BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);

-- One row per token: `link` (one-time login link, expires), `session` (browser cookie, expires),
-- `api` (bearer token for scripts, no expiry). `hash` is the hex SHA-256 of the token; the token
-- itself is never stored.
CREATE TABLE local_user_tokens (
  hash       TEXT COLLATE "C" PRIMARY KEY,
  user_name  TEXT COLLATE "C" NOT NULL REFERENCES local_users(name) ON DELETE CASCADE,
  kind       TEXT COLLATE "C" NOT NULL CHECK (kind IN ('link', 'session', 'api')),
  created_at BIGINT NOT NULL,
  expires_at BIGINT
);
CREATE INDEX local_user_tokens_user ON local_user_tokens(user_name);
