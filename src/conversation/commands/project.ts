/**
 * `project [<name>|none]` (admin to change): the project this channel is bound to
 * (`agentbridge projects add`). New conversations of a bound channel run in the project — a
 * Discord channel's main conversation and its threads, a Slack channel's threads — in their own
 * git worktree when the project has `--worktrees` (../worktrees.ts). A conversation's own
 * `workdir` still wins. A conversation that already ran moves into the project at its next turn
 * (a CLI that cannot resume its session there continues from the transcript); a worktree, once
 * made, is kept.
 */
import { PROJECT_NAME } from '../../core/projects.js';
import { bindingChannel } from '../worktrees.js';
import { reply, type Command, type CommandContext } from './types.js';

type Args = { show: true } | { name: string | null };

/** The channel a command binds: the parent channel of the command's conversation, else the place's channel. */
function placeChannel(ctx: CommandContext): { platform: string; channel: string } {
  return ctx.place.conversationId ? bindingChannel(ctx.place.conversationId) : { platform: ctx.place.replyTarget.platform, channel: ctx.place.channel };
}

export const project: Command<Args> = {
  name: 'project',
  admin: false,
  needsConversation: false,
  args: '[<name>|none]',
  summary: "show this channel's project; an admin binds it to one (new conversations here run in it) or unbinds it with `none`",
  parse(args) {
    if (!args) return { show: true };
    if (args === 'none') return { name: null };
    return PROJECT_NAME.safeParse(args).success ? { name: args } : undefined;
  },
  async run(ctx, args) {
    const { store, logger } = ctx.deps;
    const { platform, channel } = placeChannel(ctx);
    if ('show' in args) {
      const current = await store.projects.binding(platform, channel);
      if (!current) return reply('📁 This channel is not bound to a project; conversations here run in the default working directory.', true);
      const p = await store.projects.get(current.project);
      return reply(
        `📁 This channel is bound to project **${current.project}**${p ? ` (\`${p.path}\`${p.worktrees ? ', a git worktree per conversation' : ''})` : ''}.`,
        true,
      );
    }
    if (!ctx.caller.admin) return reply('🔒 Only agentbridge admins can bind a channel to a project.', true);
    if (args.name === null) {
      // The binding read and its removal in one transaction: the reply names the binding removed.
      const had = await store.transaction(async (tx) => {
        const current = await tx.projects.binding(platform, channel);
        return (await tx.projects.unbind(platform, channel)) ? current : undefined;
      });
      logger.info({ platform, channel, by: ctx.caller.qualifiedId }, 'channel project unbound');
      return reply(had ? `📁 This channel is no longer bound to **${had.project}**.` : '📁 This channel was not bound to a project.');
    }
    const p = await store.projects.get(args.name);
    if (!p) {
      const names = (await store.projects.list()).map((x) => x.name);
      return reply(
        `⚠️ No project \`${args.name}\`. ${names.length ? `Projects: ${names.join(', ')}.` : 'Add one on the host: `agentbridge projects add NAME --path DIR`.'}`,
        true,
      );
    }
    await store.projects.bind({ platform, channel, project: p.name, boundBy: ctx.caller.qualifiedId });
    logger.info({ platform, channel, project: p.name, by: ctx.caller.qualifiedId }, 'channel bound to a project');
    return reply(
      `📁 This channel is now bound to project **${p.name}** (\`${p.path}\`)${p.worktrees ? '; each new conversation gets its own git worktree and branch' : ''}. New conversations here run in it.`,
    );
  },
};
