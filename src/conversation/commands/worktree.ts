/**
 * `worktree remove [confirm|force]` (admin): removes this conversation's git worktree and its
 * branch (../worktrees.ts). Without `confirm` it only says what would be removed. It refuses while
 * a turn runs, when the worktree has uncommitted changes, or when the branch has commits that are
 * on no remote branch and not in the branch point — `force` removes anyway. The conversation's
 * agent session is cleared (it was kept per directory); its next turn makes a new worktree.
 * `reset` keeps the worktree.
 */
import path from 'node:path';
import { GitError, removeWorktree } from '../worktrees.js';
import { reply, type Command } from './types.js';

type Args = { step: 'ask' | 'confirm' | 'force' };

export const worktree: Command<Args> = {
  name: 'worktree',
  admin: true,
  needsConversation: true,
  args: 'remove [confirm|force]',
  summary: "remove this conversation's git worktree and branch (asks first; `force` also drops unpushed commits and uncommitted changes)",
  parse(args) {
    const m = /^remove(?:\s+(confirm|force))?$/i.exec(args);
    if (!m) return undefined;
    return { step: (m[1]?.toLowerCase() as 'confirm' | 'force' | undefined) ?? 'ask' };
  },
  async run(ctx, args) {
    const { store, router, logger, sessions } = ctx.deps;
    const env = ctx.deps.gitEnv ?? {};
    const id = ctx.place.conversationId!;
    const row = await store.projects.worktree(id);
    if (!row) return reply('This conversation has no worktree.', true);
    if (args.step === 'ask')
      return reply(
        `This removes the worktree \`${row.path}\` and the branch \`${row.branch}\`. To go ahead: \`/agent worktree remove confirm\` (refused if it has uncommitted changes or unpushed commits; \`/agent worktree remove force\` drops them too).`,
        true,
      );
    if (router.status(id).running) return reply('A turn is running. Stop it first with `/agent stop`, or wait until it ends.', true);
    const repo = (await store.projects.get(row.project))?.path ?? path.dirname(path.dirname(row.path));
    await sessions?.close(id, 'worktree removed');
    let result;
    try {
      result = await removeWorktree(store, row, repo, env, { force: args.step === 'force' });
    } catch (err) {
      if (err instanceof GitError) return reply(`⚠️ The worktree could not be removed: ${err.message}`, true);
      throw err;
    }
    if (!result.removed) {
      const list = result.reason === 'unpushed' ? result.commits : result.files;
      const shown = list.slice(0, 10).map((l) => `- \`${l}\``);
      if (list.length > 10) shown.push(`- … and ${list.length - 10} more`);
      const what =
        result.reason === 'unpushed'
          ? `the branch \`${row.branch}\` has ${list.length} commit${list.length === 1 ? '' : 's'} that are on no remote branch`
          : `the worktree has ${list.length} uncommitted change${list.length === 1 ? '' : 's'}`;
      return reply([`⚠️ Not removed: ${what}:`, ...shown, 'Push or commit them first, or drop them with `/agent worktree remove force`.'].join('\n'));
    }
    await store.conversations.setAgentSession(id, null, null);
    logger.info(
      { conversationId: id, by: ctx.caller.qualifiedId, path: row.path, branch: row.branch, force: args.step === 'force' },
      'conversation worktree removed',
    );
    return reply(`🗑️ Removed the worktree \`${row.path}\` and the branch \`${row.branch}\`. The next message starts a new agent session in a new worktree.`);
  },
};
