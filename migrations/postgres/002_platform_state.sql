-- 002_platform_state: small durable key-value state of platform adapters
-- (e.g. the last Discord message id seen per channel, for catch-up after a failed resume).
-- PostgreSQL translation of ../sqlite/002_platform_state.sql.
CREATE TABLE platform_state (
  key        TEXT COLLATE "C" PRIMARY KEY,
  value      TEXT COLLATE "C" NOT NULL,
  updated_at BIGINT NOT NULL
);
