-- 014_cluster: cluster mode (several agentbridge instances on one PostgreSQL database,
-- docs/ARCHITECTURE.md §10). Cluster mode needs PostgreSQL: on SQLite these tables and the column
-- exist (one schema for both stores, `db copy`) but stay empty.
--
-- inbox.claim: the fencing token of the turn attempt that marked the row `running`
-- (`<job id>:<attempt>` of its pg-boss wake-up job; NULL outside cluster mode). A turn's final
-- transaction closes its rows only while they still carry its token (src/store/sql/repos/inbox.ts).
ALTER TABLE inbox ADD COLUMN claim TEXT;

-- cluster_instances: one row per running (or recently ended) agentbridge instance, written by its
-- heartbeat (src/cluster/instances.ts). `roles` is a comma-separated list of ingress, worker,
-- leader; `turns_running` as of the last heartbeat; times in ms since the epoch. `stopped_at` is set
-- by a graceful stop; a killed instance just stops beating.
CREATE TABLE cluster_instances (
  id            TEXT PRIMARY KEY,
  host          TEXT NOT NULL,
  pid           INTEGER NOT NULL,
  roles         TEXT NOT NULL,
  url           TEXT,
  started_at    INTEGER NOT NULL,
  heartbeat_at  INTEGER NOT NULL,
  turns_running INTEGER NOT NULL DEFAULT 0,
  stopped_at    INTEGER
);

-- agent_session_files: an agent CLI's own session files, saved after each turn so that a turn on
-- another worker can resume the agent session there (src/cluster/session-files.ts). `path` is
-- relative to the root the runner declares (e.g. `projects/<cwd>/<id>.jsonl` under ~/.claude);
-- `content` the file's text (UTF-8: the CLIs' session files are JSON lines); `size` in bytes.
CREATE TABLE agent_session_files (
  conversation_id TEXT NOT NULL,
  agent           TEXT NOT NULL,
  session_id      TEXT NOT NULL,
  root            TEXT NOT NULL,
  path            TEXT NOT NULL,
  content         TEXT NOT NULL,
  size            INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (conversation_id, agent, root, path)
);

-- delivery_leases: who delivers a conversation's outbox rows right now (src/conversation/outbox.ts,
-- cluster mode): one instance at a time per conversation, so rows go out in order and once.
-- `holder` is the instance id; a lease lapses at `expires_at` (ms since the epoch) — a killed
-- instance's lease is taken over then. Written only by src/store/sql/repos/delivery-leases.ts.
CREATE TABLE delivery_leases (
  conversation_id TEXT PRIMARY KEY,
  holder          TEXT NOT NULL,
  expires_at      INTEGER NOT NULL
);
