/**
 * The `projects`, `channel_projects` and `conversation_worktrees` tables (migration 011): projects
 * channels are bound to (`agentbridge projects`, `/agent project`) and the git worktree each
 * conversation of a `--worktrees` project works in (docs/ARCHITECTURE.md §4). All times are ms
 * since the epoch; `worktrees` is stored as 0/1 on both backends, names and channels are ordered
 * by bytes (the PostgreSQL columns are COLLATE "C").
 */
import { sql } from 'kysely';
import { all, first, run, type SqlContext } from '../kysely.js';
import type { ChannelBindingRow, ProjectRow, ProjectsRepo, WorktreeRow } from '../../types.js';

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

/** Creates the repository (nothing is prepared when the store opens: a CLI may open an older schema read-only). */
export function createProjectsRepo({ q }: SqlContext): ProjectsRepo {
  return {
    async add(p, now = Date.now()) {
      const added = await run(
        q,
        sql`INSERT INTO projects (name, path, git_url, branch, worktrees, created_at)
            VALUES (${p.name}, ${p.path}, ${p.gitUrl}, ${p.branch}, ${p.worktrees ? 1 : 0}, ${now})
            ON CONFLICT (name) DO NOTHING`,
      );
      return added === 1;
    },
    async get(name) {
      const r = await first(q, sql<ProjectSql>`SELECT * FROM projects WHERE name = ${name}`);
      return r && toProject(r);
    },
    async list() {
      return (await all(q, sql<ProjectSql>`SELECT * FROM projects ORDER BY name`)).map(toProject);
    },
    async remove(name) {
      return (await run(q, sql`DELETE FROM projects WHERE name = ${name}`)) === 1;
    },
    async bind(b, now = Date.now()) {
      await run(
        q,
        sql`INSERT INTO channel_projects (platform, channel, project, bound_by, created_at) VALUES (${b.platform}, ${b.channel}, ${b.project}, ${b.boundBy}, ${now})
            ON CONFLICT (platform, channel) DO UPDATE SET project = excluded.project, bound_by = excluded.bound_by, created_at = excluded.created_at`,
      );
    },
    async unbind(platform, channel) {
      return (await run(q, sql`DELETE FROM channel_projects WHERE platform = ${platform} AND channel = ${channel}`)) === 1;
    },
    async binding(platform, channel) {
      const r = await first(q, sql<BindingSql>`SELECT * FROM channel_projects WHERE platform = ${platform} AND channel = ${channel}`);
      return r && toBinding(r);
    },
    async bindingsOf(project) {
      return (await all(q, sql<BindingSql>`SELECT * FROM channel_projects WHERE project = ${project} ORDER BY platform, channel`)).map(toBinding);
    },
    async setWorktree(w, now = Date.now()) {
      await run(
        q,
        sql`INSERT INTO conversation_worktrees (conversation_id, project, path, branch, base, created_at)
            VALUES (${w.conversationId}, ${w.project}, ${w.path}, ${w.branch}, ${w.base}, ${now})
            ON CONFLICT (conversation_id) DO UPDATE SET project = excluded.project, path = excluded.path, branch = excluded.branch, base = excluded.base`,
      );
    },
    async worktree(conversationId) {
      const r = await first(q, sql<WorktreeSql>`SELECT * FROM conversation_worktrees WHERE conversation_id = ${conversationId}`);
      return r && toWorktree(r);
    },
    async worktrees() {
      return (await all(q, sql<WorktreeSql>`SELECT * FROM conversation_worktrees ORDER BY created_at, conversation_id`)).map(toWorktree);
    },
    async removeWorktree(conversationId) {
      return (await run(q, sql`DELETE FROM conversation_worktrees WHERE conversation_id = ${conversationId}`)) === 1;
    },
    async orphanWorktrees() {
      // Ties of created_at by conversation id, so both backends give the same order.
      return (
        await all(
          q,
          sql<WorktreeSql>`SELECT w.* FROM conversation_worktrees w WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = w.conversation_id)
              ORDER BY w.created_at, w.conversation_id`,
        )
      ).map(toWorktree);
    },
  };
}
