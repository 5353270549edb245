/** `stop`: ends the conversation's running turn (its agent process group is ended); queued messages stay queued. */
import { noArgs, reply, type Command } from './types.js';

export const stop: Command<true> = {
  name: 'stop',
  admin: false,
  needsConversation: true,
  args: '',
  summary: 'stop the running turn (messages sent meanwhile stay queued)',
  parse: noArgs,
  run(ctx) {
    const id = ctx.place.conversationId!;
    const queued = ctx.deps.router.status(id).queued;
    if (!ctx.deps.router.stop(id)) return reply('Nothing is running in this conversation.', true);
    ctx.deps.logger.info({ conversationId: id, by: ctx.caller.qualifiedId }, 'turn stopped by command');
    return reply(
      `⏹️ Stopping the running turn (asked by ${ctx.caller.userName}).${queued ? ` ${queued} queued message${queued === 1 ? '' : 's'} will be answered next.` : ''}`,
    );
  },
};
