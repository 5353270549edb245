-- 014_cluster: cluster mode (several agentbridge instances on one PostgreSQL database,
-- docs/ARCHITECTURE.md §10). PostgreSQL translation of ../sqlite/014_cluster.sql (on SQLite the
-- tables exist but stay empty: cluster mode needs PostgreSQL).
--
-- inbox.claim: the fencing token of the turn attempt that marked the row `running`
-- (`<job id>:<attempt>` of its pg-boss wake-up job; NULL outside cluster mode). A turn's final
-- transaction closes its rows only while they still carry its token (src/store/sql/repos/inbox.ts).
ALTER TABLE inbox ADD COLUMN claim TEXT COLLATE "C";

-- cluster_instances: one row per running (or recently ended) agentbridge instance, written by its
-- heartbeat (src/cluster/instances.ts). `roles` is a comma-separated list of ingress, worker,
-- leader; `turns_running` as of the last heartbeat; times in ms since the epoch. `stopped_at` is set
-- by a graceful stop; a killed instance just stops beating.
CREATE TABLE cluster_instances (
  id            TEXT COLLATE "C" PRIMARY KEY,
  host          TEXT COLLATE "C" NOT NULL,
  pid           BIGINT NOT NULL,
  roles         TEXT COLLATE "C" NOT NULL,
  url           TEXT COLLATE "C",
  started_at    BIGINT NOT NULL,
  heartbeat_at  BIGINT NOT NULL,
  turns_running BIGINT NOT NULL DEFAULT 0,
  stopped_at    BIGINT
);

-- agent_session_files: an agent CLI's own session files, saved after each turn so that a turn on
-- another worker can resume the agent session there (src/cluster/session-files.ts). `path` is
-- relative to the root the runner declares (e.g. `projects/<cwd>/<id>.jsonl` under ~/.claude);
-- `content` the file's text (UTF-8: the CLIs' session files are JSON lines); `size` in bytes.
CREATE TABLE agent_session_files (
  conversation_id TEXT COLLATE "C" NOT NULL,
  agent           TEXT COLLATE "C" NOT NULL,
  session_id      TEXT COLLATE "C" NOT NULL,
  root            TEXT COLLATE "C" NOT NULL,
  path            TEXT COLLATE "C" NOT NULL,
  content         TEXT COLLATE "C" NOT NULL,
  size            BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL,
  PRIMARY KEY (conversation_id, agent, root, path)
);

-- delivery_leases: who delivers a conversation's outbox rows right now (src/conversation/outbox.ts,
-- cluster mode): one instance at a time per conversation, so rows go out in order and once.
-- `holder` is the instance id; a lease lapses at `expires_at` (ms since the epoch) — a killed
-- instance's lease is taken over then. Written only by src/store/sql/repos/delivery-leases.ts.
CREATE TABLE delivery_leases (
  conversation_id TEXT COLLATE "C" PRIMARY KEY,
  holder          TEXT COLLATE "C" NOT NULL,
  expires_at      BIGINT NOT NULL
);
