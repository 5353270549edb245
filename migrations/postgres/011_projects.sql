-- 011_projects: projects (a directory or a git clone under AGENTBRIDGE_WORKSPACES_ROOT) that
-- channels are bound to, and the git worktree each conversation of a `--worktrees` project works
-- in (docs/ARCHITECTURE.md §4). Written only by src/store/repos/projects.ts. Times: ms since the epoch.
-- PostgreSQL translation of ../sqlite/011_projects.sql.
CREATE TABLE projects (
  name       TEXT COLLATE "C" PRIMARY KEY,
  -- Absolute real path of the project's directory (a clone lives at <workspaces root>/<name>).
  path       TEXT COLLATE "C" NOT NULL,
  -- The URL it was cloned from; NULL for a --path project.
  git_url    TEXT COLLATE "C",
  -- The branch worktrees start from; NULL: not a git project, or no branch known.
  branch     TEXT COLLATE "C",
  worktrees  BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);

-- One binding per platform channel (a Discord thread and a Slack thread follow their parent channel).
CREATE TABLE channel_projects (
  platform   TEXT COLLATE "C" NOT NULL,
  channel    TEXT COLLATE "C" NOT NULL,
  project    TEXT COLLATE "C" NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
  bound_by   TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (platform, channel)
);

-- The worktree of one conversation. Not tied to the conversations table: `db prune` deletes a
-- conversation first and then cleans up its worktree (or reports it) from this row.
CREATE TABLE conversation_worktrees (
  conversation_id TEXT COLLATE "C" PRIMARY KEY,
  project         TEXT COLLATE "C" NOT NULL,
  -- Absolute path of the worktree (<project path>/.worktrees/<slug>).
  path            TEXT COLLATE "C" NOT NULL,
  -- agentbridge/<slug>
  branch          TEXT COLLATE "C" NOT NULL,
  -- The commit the branch started from (the diff base).
  base            TEXT COLLATE "C" NOT NULL,
  created_at      BIGINT NOT NULL
);
