-- 003_scheduler: cron jobs, their run history, and scheduled messages of conversations.
-- Times are INTEGER ms since the epoch; *_json columns hold JSON text.

CREATE TABLE cron_jobs (
  id                   TEXT PRIMARY KEY,
  name                 TEXT NOT NULL UNIQUE,
  schedule_json        TEXT NOT NULL,            -- Schedule (src/scheduler/types.ts)
  schedule_text        TEXT NOT NULL,            -- as the user wrote it
  target_json          TEXT NOT NULL,            -- CronTarget
  prompt               TEXT NOT NULL,
  agent                TEXT,
  model                TEXT,
  session_mode         TEXT NOT NULL CHECK (session_mode IN ('isolated', 'persistent')),
  enabled              INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  created_by           TEXT NOT NULL,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  next_run_at          INTEGER,
  last_run_at          INTEGER,
  created_at           INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL
);
CREATE INDEX cron_jobs_due ON cron_jobs(enabled, next_run_at);

-- One row per due time and attempt: the unique key makes a second run of the same due time impossible.
CREATE TABLE cron_runs (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id          TEXT NOT NULL REFERENCES cron_jobs(id) ON DELETE CASCADE,
  scheduled_for   INTEGER NOT NULL,
  attempt         INTEGER NOT NULL DEFAULT 1,
  kind            TEXT NOT NULL DEFAULT 'schedule' CHECK (kind IN ('schedule', 'retry', 'manual')),
  status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'ok', 'failed', 'skipped')),
  due_at          INTEGER,                        -- when a queued run (retry, run-now) becomes due
  conversation_id TEXT,                           -- where the run was submitted
  event_key       TEXT,                           -- its inbox event key
  started_at      INTEGER,
  ended_at        INTEGER,
  error           TEXT,
  posted_key      TEXT,                           -- response checkpoint key of the posted message
  created_at      INTEGER NOT NULL,
  UNIQUE (job_id, scheduled_for, attempt)
);
CREATE INDEX cron_runs_job ON cron_runs(job_id, id);
CREATE INDEX cron_runs_status ON cron_runs(status, due_at);
CREATE INDEX cron_runs_conversation ON cron_runs(conversation_id, status);

-- Deleted with their conversation (a reset or `sessions delete` cancels them).
CREATE TABLE scheduled_messages (
  id              TEXT PRIMARY KEY,
  conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  text            TEXT NOT NULL,
  due_at          INTEGER NOT NULL,
  every_ms        INTEGER,
  created_by      TEXT NOT NULL,
  created_at      INTEGER NOT NULL
);
CREATE INDEX scheduled_messages_due ON scheduled_messages(due_at);
CREATE INDEX scheduled_messages_conversation ON scheduled_messages(conversation_id, due_at);
