/**
 * `stop`: ends the conversation's running turn (its agent process group is ended); queued messages
 * stay queued. In cluster mode the turn may run on another instance: when none runs here and
 * `deps.stopElsewhere` is given, the stop is sent to the other instances (docs/ARCHITECTURE.md §10).
 */
import { noArgs, reply, type Command } from './types.js';

export const stop: Command<true> = {
  name: 'stop',
  admin: false,
  needsConversation: true,
  args: '',
  summary: 'stop the running turn (messages sent meanwhile stay queued)',
  parse: noArgs,
  async run(ctx) {
    const id = ctx.place.conversationId!;
    const { router, stopElsewhere, logger } = ctx.deps;
    const queued = router.status(id).queued;
    if (router.stop(id)) {
      logger.info({ conversationId: id, by: ctx.caller.qualifiedId }, 'turn stopped by command');
      return reply(
        `⏹️ Stopping the running turn (asked by ${ctx.caller.userName}).${queued ? ` ${queued} queued message${queued === 1 ? '' : 's'} will be answered next.` : ''}`,
      );
    }
    if (!stopElsewhere) return reply('Nothing is running in this conversation.', true);
    let sent: boolean;
    try {
      sent = await stopElsewhere(id);
    } catch (err) {
      logger.warn({ err, conversationId: id }, 'stop: sending the stop to the other instances failed');
      return reply('The turn runs on another agentbridge instance, which could not be reached right now. Try again in a moment.', true);
    }
    if (!sent) return reply('Nothing is running in this conversation.', true);
    logger.info({ conversationId: id, by: ctx.caller.qualifiedId }, 'stop sent to the instance running the turn');
    return reply(
      `⏹️ Stopping the running turn: sent the stop to the instance running it (asked by ${ctx.caller.userName}). Queued messages will be answered next.`,
    );
  },
};
