/**
 * `restart` (admin): a graceful restart. The request (conversation, reply target, who asked) is
 * recorded in the store's platform state; agentbridge then stops like on SIGTERM (running turns
 * get AGENTBRIDGE_SHUTDOWN_GRACE_S to finish, the rest are re-run after the start) and a new
 * process starts (see src/cli/start.ts). Once up, the new process posts
 * "✅ agentbridge restarted (requested by …)" where it was asked ({@link announceRestart}) and
 * clears the record.
 */
import type { Logger } from '../../logger.js';
import type { PlatformName } from '../../core/messages.js';
import type { PlatformAdapter } from '../../platforms/types.js';
import type { Store } from '../../store/types.js';
import type { OutboxDelivery } from '../outbox.js';
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
  run(ctx) {
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
    store.platformState.set(RESTART_KEY, JSON.stringify(request));
    logger.info({ by: ctx.caller.qualifiedId, conversationId: request.conversationId }, 'restart requested');
    const grace = Math.round(shutdownGraceMs / 1000);
    return reply(`♻️ Restarting agentbridge${grace ? ` (running turns get up to ${grace} s to finish)` : ''}. I'll post here when I'm back.`, false, doRestart);
  },
};

/** The pending restart request, if any. */
export function pendingRestart(store: Store): RestartRequest | undefined {
  const raw = store.platformState.get(RESTART_KEY);
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as RestartRequest;
  } catch {
    return undefined;
  }
}

/**
 * After a start: posts "✅ agentbridge restarted (requested by …)" where the restart was asked and
 * clears the record. Through the outbox (durable, in one transaction with clearing the record)
 * when the conversation is known, else straight through the adapter.
 */
export async function announceRestart(deps: { store: Store; outbox: OutboxDelivery; adapters: (p: PlatformName) => PlatformAdapter | undefined; logger: Logger }): Promise<boolean> {
  const { store, outbox, adapters, logger } = deps;
  const raw = store.platformState.get(RESTART_KEY);
  if (!raw) return false;
  const req = pendingRestart(store);
  if (!req) {
    store.platformState.set(RESTART_KEY, '');
    return false;
  }
  const text = `✅ agentbridge restarted (requested by ${req.requestedBy}).`;
  const adapter = adapters(req.replyTarget.platform);
  if (req.conversationId && store.conversations.get(req.conversationId)) {
    outbox.enqueue(req.conversationId, req.replyTarget, [adapter?.neutraliseMentions ? adapter.neutraliseMentions(text) : text], null, () => store.platformState.set(RESTART_KEY, ''));
    await outbox.deliver(req.conversationId);
  } else {
    store.platformState.set(RESTART_KEY, '');
    try {
      if (!adapter) throw new Error(`platform ${req.replyTarget.platform} is not running`);
      await adapter.post(req.replyTarget, adapter.neutraliseMentions ? adapter.neutraliseMentions(text) : text);
    } catch (err) {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not post the restart notice');
    }
  }
  logger.info({ requestedBy: req.requestedById, conversationId: req.conversationId, askedAt: req.at }, 'restart announced');
  return true;
}
