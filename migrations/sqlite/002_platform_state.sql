-- 002_platform_state: small durable key-value state of platform adapters
-- (e.g. the last Discord message id seen per channel, for catch-up after a failed resume).
CREATE TABLE platform_state (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
