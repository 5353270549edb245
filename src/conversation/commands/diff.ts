/**
 * `diff`: this conversation's changes in its git working directory — against the branch point
 * of its worktree (../worktrees.ts), else against HEAD — including uncommitted and untracked
 * files: git's `--stat` summary, then the full patch as a fenced `diff` block (chunked by the
 * outbound path; docs/ARCHITECTURE.md §8: it becomes a file once file delivery lands).
 */
import { boundProject, conversationWorkdir, GitError, workdirDiff } from '../worktrees.js';
import { noArgs, reply, type Command } from './types.js';

/** Longest run of backticks in `text`, so the fence around it can be longer. */
function fenceFor(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  return '`'.repeat(longest + 1);
}

export const diff: Command<true> = {
  name: 'diff',
  admin: false,
  needsConversation: true,
  args: '',
  summary: "this conversation's changes in its git working directory (against the worktree's branch point, else HEAD): a summary and the patch",
  parse: noArgs,
  async run(ctx) {
    const { store, defaults } = ctx.deps;
    const env = ctx.deps.gitEnv ?? {};
    const id = ctx.place.conversationId!;
    const conv = store.conversations.get(id);
    const worktree = store.projects.worktree(id);
    let dir: string;
    if (conv?.workdir) dir = conv.workdir;
    else if (worktree) dir = worktree.path;
    else if (boundProject(store, id)?.worktrees) return reply('This conversation has no worktree yet: it is made at its first turn.', true);
    else dir = conv ? await conversationWorkdir(store, conv, defaults.workdir, env) : (boundProject(store, id)?.path ?? defaults.workdir);
    let d;
    try {
      d = await workdirDiff(dir, env, !conv?.workdir && worktree ? worktree.base : undefined);
    } catch (err) {
      if (err instanceof GitError) return reply(`⚠️ No diff: \`${dir}\` is not a git working tree, or git failed (${err.message}).`, true);
      throw err;
    }
    const where =
      worktree && !conv?.workdir
        ? `branch \`${worktree.branch}\` against its branch point \`${d.base.slice(0, 12)}\``
        : `\`${dir}\` against \`${d.base.slice(0, 12)}\``;
    if (!d.stat) return reply(`📝 No changes in ${where}.`);
    const statFence = fenceFor(d.stat);
    const patchFence = fenceFor(d.patch);
    return reply(
      [
        `📝 Changes in ${where}:`,
        `${statFence}\n${d.stat}\n${statFence}`,
        `${patchFence}diff\n${d.patch}\n${patchFence}`,
        ...(d.truncated ? [`(The patch is longer than ${d.patch.length} characters and was cut here.)`] : []),
      ].join('\n'),
    );
  },
};
