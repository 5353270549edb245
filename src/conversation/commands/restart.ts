/**
 * `restart` (admin): a graceful restart. The request (conversation, reply target, who asked) is
 * recorded in the store's platform state; agentbridge then stops like on SIGTERM (running turns
 * get AGENTBRIDGE_SHUTDOWN_GRACE_S to finish, the rest are re-run after the start) and a new
 * process starts (see src/cli/start.ts). Once up, the new process posts
 * "✅ agentbridge restarted (requested by …)" where it was asked ({@link announceRestart}) and
 * clears the record.
 */
import type { Logger } from '../../logger.js';
import type { Store } from '../../store/types.js';
import { placeKey, type Outbound } from '../outbound.js';
import { noArgs, reply, type Command, type RestartRequest } from './types.js';

/** Platform-state key of the pending restart request (JSON {@link RestartRequest}; '' = none). */
export const RESTART_KEY = 'agentbridge:restart';

export const restart: Command<true> = {
  name: 'restart',
  admin: true,
  needsConversation: false,
  args: '',
  summary: 'restart agentbridge gracefully (running turns may finish) and report back here',
  parse: noArgs,
  async run(ctx) {
    const { restart: doRestart, stopping, store, logger, shutdownGraceMs } = ctx.deps;
    if (!doRestart) return reply('This agentbridge cannot restart itself (it is not running as `agentbridge start`).', true);
    if (stopping?.()) return reply('agentbridge is already shutting down or restarting.', true);
    const request: RestartRequest = {
      ...(ctx.place.conversationId ? { conversationId: ctx.place.conversationId } : {}),
      replyTarget: ctx.place.replyTarget,
      requestedBy: ctx.caller.userName,
      requestedById: ctx.caller.qualifiedId,
      at: (ctx.deps.now ?? Date.now)(),
    };
    await store.platformState.set(RESTART_KEY, JSON.stringify(request));
    logger.info({ by: ctx.caller.qualifiedId, conversationId: request.conversationId }, 'restart requested');
    const grace = Math.round(shutdownGraceMs / 1000);
    return reply(`♻️ Restarting agentbridge${grace ? ` (running turns get up to ${grace} s to finish)` : ''}. I'll post here when I'm back.`, false, doRestart);
  },
};

/** The pending restart request, if any. */
export async function pendingRestart(store: Pick<Store, 'platformState'>): Promise<RestartRequest | undefined> {
  const raw = await store.platformState.get(RESTART_KEY);
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as RestartRequest;
  } catch {
    return undefined;
  }
}

/**
 * After a start: posts "✅ agentbridge restarted (requested by …)" where the restart was asked,
 * through the outbound path: one outbox row written in one transaction with clearing the
 * record (durable: a crash before it is posted posts it after the next start), then delivered.
 * In the conversation it was asked in, else (a slash command in a channel) in that channel
 * ({@link placeKey}). Returns whether a restart was announced.
 */
export async function announceRestart(deps: { store: Pick<Store, 'platformState'>; outbound: Pick<Outbound, 'say'>; logger: Logger }): Promise<boolean> {
  const { store, outbound, logger } = deps;
  const raw = await store.platformState.get(RESTART_KEY);
  if (!raw) return false;
  const req = await pendingRestart(store);
  if (!req) {
    await store.platformState.set(RESTART_KEY, '');
    return false;
  }
  const text = `✅ agentbridge restarted (requested by ${req.requestedBy}).`;
  const to = { conversationId: req.conversationId ?? placeKey(req.replyTarget), replyTarget: req.replyTarget };
  await outbound.say(to, text, { alsoInTx: (tx) => tx.platformState.set(RESTART_KEY, '') });
  logger.info({ requestedBy: req.requestedById, conversationId: req.conversationId, askedAt: req.at }, 'restart announced');
  return true;
}
