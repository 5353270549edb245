/**
 * The `projects`, `channel_projects` and `conversation_worktrees` tables (migration 011): projects
 * channels are bound to (`agentbridge projects`, `/agent project`) and the git worktree each
 * conversation of a `--worktrees` project works in (docs/ARCHITECTURE.md §4). All times are ms
 * since the epoch.
 */
import type { Db } from '../db.js';
import type { SyncRepo } from '../sync-repo.js';

/** A project: a directory under the workspaces root, maybe a git clone. */
export interface ProjectRow {
  /** A slug (src/core/projects.ts `PROJECT_NAME`). */
  name: string;
  /** Absolute real path of the project's directory. */
  path: string;
  /** Where it was cloned from; null for a `--path` project. */
  gitUrl: string | null;
  /** The branch worktrees start from; null when not a git project. */
  branch: string | null;
  /** Each conversation gets its own git worktree. */
  worktrees: boolean;
  createdAt: number;
}

/** A platform channel bound to a project. */
export interface ChannelBindingRow {
  platform: string;
  /** Platform channel id (for a thread: its parent channel). */
  channel: string;
  project: string;
  /** Platform-qualified id of the admin who bound it. */
  boundBy: string;
  createdAt: number;
}

/** A conversation's git worktree. */
export interface WorktreeRow {
  conversationId: string;
  project: string;
  /** Absolute path of the worktree. */
  path: string;
  /** `agentbridge/<slug>`. */
  branch: string;
  /** The commit the branch started from (the diff base). */
  base: string;
  createdAt: number;
}

export interface ProjectsRepo {
  /** Adds a project; false (nothing changed) when the name is taken. */
  add(p: Omit<ProjectRow, 'createdAt'>, now?: number): Promise<boolean>;
  get(name: string): Promise<ProjectRow | undefined>;
  /** Every project by name. */
  list(): Promise<ProjectRow[]>;
  /** Removes a project and its channel bindings (not its worktree rows); false when unknown. */
  remove(name: string): Promise<boolean>;
  /** Binds a channel (replacing its binding). @throws SqliteError SQLITE_CONSTRAINT_FOREIGNKEY for an unknown project. */
  bind(b: Omit<ChannelBindingRow, 'createdAt'>, now?: number): Promise<void>;
  /** Unbinds a channel; false when it was not bound. */
  unbind(platform: string, channel: string): Promise<boolean>;
  binding(platform: string, channel: string): Promise<ChannelBindingRow | undefined>;
  /** Channels bound to `project`. */
  bindingsOf(project: string): Promise<ChannelBindingRow[]>;
  /** Records a conversation's worktree (replacing an earlier row of that conversation). */
  setWorktree(w: Omit<WorktreeRow, 'createdAt'>, now?: number): Promise<void>;
  worktree(conversationId: string): Promise<WorktreeRow | undefined>;
  /** Every worktree row, oldest first. */
  worktrees(): Promise<WorktreeRow[]>;
  /** Forgets a conversation's worktree row; false when there was none. */
  removeWorktree(conversationId: string): Promise<boolean>;
  /** Worktree rows whose conversation no longer exists (after `db prune`). */
  orphanWorktrees(): Promise<WorktreeRow[]>;
}

interface ProjectSql {
  name: string;
  path: string;
  git_url: string | null;
  branch: string | null;
  worktrees: number;
  created_at: number;
}
interface BindingSql {
  platform: string;
  channel: string;
  project: string;
  bound_by: string;
  created_at: number;
}
interface WorktreeSql {
  conversation_id: string;
  project: string;
  path: string;
  branch: string;
  base: string;
  created_at: number;
}

const toProject = (r: ProjectSql): ProjectRow => ({
  name: r.name,
  path: r.path,
  gitUrl: r.git_url,
  branch: r.branch,
  worktrees: r.worktrees === 1,
  createdAt: r.created_at,
});
const toBinding = (r: BindingSql): ChannelBindingRow => ({
  platform: r.platform,
  channel: r.channel,
  project: r.project,
  boundBy: r.bound_by,
  createdAt: r.created_at,
});
const toWorktree = (r: WorktreeSql): WorktreeRow => ({
  conversationId: r.conversation_id,
  project: r.project,
  path: r.path,
  branch: r.branch,
  base: r.base,
  createdAt: r.created_at,
});

/** Creates the repository on `db` (statements prepared on first use: a CLI may open an older schema read-only). */
export function createProjectsRepo(db: Db): SyncRepo<ProjectsRepo> {
  let s: ReturnType<typeof prepare> | undefined;
  const prepare = () => ({
    add: db.prepare(
      `INSERT OR IGNORE INTO projects (name, path, git_url, branch, worktrees, created_at) VALUES (@name, @path, @gitUrl, @branch, @worktrees, @now)`,
    ),
    get: db.prepare<[string], ProjectSql>('SELECT * FROM projects WHERE name = ?'),
    list: db.prepare<[], ProjectSql>('SELECT * FROM projects ORDER BY name'),
    remove: db.prepare<[string]>('DELETE FROM projects WHERE name = ?'),
    bind: db.prepare(
      `INSERT INTO channel_projects (platform, channel, project, bound_by, created_at) VALUES (@platform, @channel, @project, @boundBy, @now)
       ON CONFLICT (platform, channel) DO UPDATE SET project = excluded.project, bound_by = excluded.bound_by, created_at = excluded.created_at`,
    ),
    unbind: db.prepare<[string, string]>('DELETE FROM channel_projects WHERE platform = ? AND channel = ?'),
    binding: db.prepare<[string, string], BindingSql>('SELECT * FROM channel_projects WHERE platform = ? AND channel = ?'),
    bindingsOf: db.prepare<[string], BindingSql>('SELECT * FROM channel_projects WHERE project = ? ORDER BY platform, channel'),
    setWorktree: db.prepare(
      `INSERT INTO conversation_worktrees (conversation_id, project, path, branch, base, created_at) VALUES (@conversationId, @project, @path, @branch, @base, @now)
       ON CONFLICT (conversation_id) DO UPDATE SET project = excluded.project, path = excluded.path, branch = excluded.branch, base = excluded.base`,
    ),
    worktree: db.prepare<[string], WorktreeSql>('SELECT * FROM conversation_worktrees WHERE conversation_id = ?'),
    worktrees: db.prepare<[], WorktreeSql>('SELECT * FROM conversation_worktrees ORDER BY created_at, conversation_id'),
    removeWorktree: db.prepare<[string]>('DELETE FROM conversation_worktrees WHERE conversation_id = ?'),
    orphans: db.prepare<[], WorktreeSql>(
      `SELECT w.* FROM conversation_worktrees w WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = w.conversation_id) ORDER BY w.created_at`,
    ),
  });
  const st = () => (s ??= prepare());
  return {
    add(p, now = Date.now()) {
      return st().add.run({ name: p.name, path: p.path, gitUrl: p.gitUrl, branch: p.branch, worktrees: p.worktrees ? 1 : 0, now }).changes === 1;
    },
    get(name) {
      const r = st().get.get(name);
      return r && toProject(r);
    },
    list() {
      return st().list.all().map(toProject);
    },
    remove(name) {
      return st().remove.run(name).changes === 1;
    },
    bind(b, now = Date.now()) {
      st().bind.run({ ...b, now });
    },
    unbind(platform, channel) {
      return st().unbind.run(platform, channel).changes === 1;
    },
    binding(platform, channel) {
      const r = st().binding.get(platform, channel);
      return r && toBinding(r);
    },
    bindingsOf(project) {
      return st().bindingsOf.all(project).map(toBinding);
    },
    setWorktree(w, now = Date.now()) {
      st().setWorktree.run({ ...w, now });
    },
    worktree(conversationId) {
      const r = st().worktree.get(conversationId);
      return r && toWorktree(r);
    },
    worktrees() {
      return st().worktrees.all().map(toWorktree);
    },
    removeWorktree(conversationId) {
      return st().removeWorktree.run(conversationId).changes === 1;
    },
    orphanWorktrees() {
      return st().orphans.all().map(toWorktree);
    },
  };
}
