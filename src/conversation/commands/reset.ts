/**
 * `reset`: the next turn starts a new agent session. The stored agent session id is cleared and
 * the live agent process closed; the transcript stays. The conversation's "always" approvals and
 * its own permission mode (set by an approved plan) are cleared, and its scheduled messages are
 * cancelled. Refused while a turn runs (its end would store its session id again): stop it first.
 */
import { ensureConversation, noArgs, reply, type Command } from './types.js';

export const reset: Command<true> = {
  name: 'reset',
  admin: false,
  needsConversation: true,
  args: '',
  summary: 'start a new agent session (the transcript is kept; scheduled messages are cancelled)',
  parse: noArgs,
  async run(ctx) {
    const { store, router, scheduled, logger } = ctx.deps;
    const id = ctx.place.conversationId!;
    if (router.status(id).running) return reply('A turn is running. Stop it first with `/agent stop`, then reset.', true);
    await ensureConversation(ctx);
    const rules = await store.transaction(async (tx) => {
      // Checked again here: a turn may have started while the conversation row was being stored.
      if (router.status(id).running) return undefined;
      await tx.conversations.setAgentSession(id, null, null);
      await tx.conversations.update(id, { permissionMode: null });
      return tx.approvalRules.clear(id);
    });
    if (rules === undefined) return reply('A turn is running. Stop it first with `/agent stop`, then reset.', true);
    void ctx.deps.sessions?.close(id, 'reset');
    const cancelled = (await scheduled?.reset(id)) ?? 0;
    logger.info({ conversationId: id, by: ctx.caller.qualifiedId, cancelled, rules }, 'conversation reset');
    return reply(
      `🆕 New agent session: the next message starts fresh (the transcript is kept).${rules ? ` Cleared ${rules} "always" approval${rules === 1 ? '' : 's'}.` : ''}${cancelled ? ` Cancelled ${cancelled} scheduled message${cancelled === 1 ? '' : 's'}.` : ''}`,
    );
  },
};
