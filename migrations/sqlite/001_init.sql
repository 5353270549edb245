-- 001_init: the first schema of the session store.
-- Times are INTEGER ms since the epoch; *_json columns hold JSON text.
-- Migration files must not contain BEGIN/COMMIT: the runner wraps each file in a transaction.

CREATE TABLE conversations (
  id                  TEXT PRIMARY KEY,
  platform            TEXT NOT NULL,
  channel             TEXT NOT NULL,
  thread              TEXT,
  agent               TEXT,
  model               TEXT,
  agent_session_id    TEXT,
  agent_session_agent TEXT,
  workdir             TEXT,
  seeded_from         TEXT,
  created_at          INTEGER NOT NULL,
  updated_at          INTEGER NOT NULL
);
CREATE INDEX conversations_updated_at ON conversations(updated_at);

CREATE TABLE session_entries (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  role            TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
  author          TEXT,
  text            TEXT NOT NULL,
  agent           TEXT,
  model           TEXT,
  usage_json      TEXT,
  cost_usd        REAL,
  created_at      INTEGER NOT NULL
);
CREATE INDEX session_entries_conversation ON session_entries(conversation_id, id);

CREATE TABLE response_checkpoints (
  key                  TEXT PRIMARY KEY,
  conversation_id      TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  session_entry_id     INTEGER REFERENCES session_entries(id) ON DELETE SET NULL,
  platform_message_ref TEXT NOT NULL,
  assistant_text       TEXT NOT NULL,
  created_at           INTEGER NOT NULL
);
CREATE INDEX response_checkpoints_conversation ON response_checkpoints(conversation_id, created_at);
CREATE INDEX response_checkpoints_entry ON response_checkpoints(session_entry_id);

-- No foreign key: a message is accepted before its conversation row exists (invariant 1).
CREATE TABLE inbox (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  event_key       TEXT UNIQUE NOT NULL,
  conversation_id TEXT NOT NULL,
  payload_json    TEXT NOT NULL,
  state           TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  received_at     INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX inbox_state ON inbox(state, received_at, seq);
CREATE INDEX inbox_conversation ON inbox(conversation_id);

CREATE TABLE outbox (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  conversation_id  TEXT NOT NULL,
  target_json      TEXT NOT NULL,
  text             TEXT NOT NULL,
  session_entry_id INTEGER,
  state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'posted', 'failed')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  posted_ref       TEXT,
  last_error       TEXT,
  created_at       INTEGER NOT NULL
);
CREATE INDEX outbox_state ON outbox(state, created_at, id);
CREATE INDEX outbox_conversation ON outbox(conversation_id);

CREATE TABLE local_messages (
  id         TEXT PRIMARY KEY,
  channel    TEXT NOT NULL,
  thread     TEXT NOT NULL,
  "user"     TEXT NOT NULL,
  text       TEXT NOT NULL,
  bot        INTEGER NOT NULL DEFAULT 0 CHECK (bot IN (0, 1)),
  ts         INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX local_messages_thread ON local_messages(channel, thread, ts);
