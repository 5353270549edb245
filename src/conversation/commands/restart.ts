/**
 * `restart` (admin): a graceful restart. The request (conversation, reply target, who asked) is
 * recorded in the store's platform state; agentbridge then stops like on SIGTERM (running turns
 * get AGENTBRIDGE_SHUTDOWN_GRACE_S to finish, the rest are re-run after the start) and a new
 * process starts (see src/cli/start.ts). Once up, the new process posts
 * "✅ agentbridge restarted (requested by …)" where it was asked ({@link announceRestart}) and
 * clears the record.
 *
 * Cluster mode (docs/ARCHITECTURE.md §10): the instance that got the command restarts; the others
 * keep working. Its request is kept under its own key ({@link restartKey}), so only that instance
 * announces its return (the process started again keeps the instance id: src/cli/start.ts), and
 * two instances restarting at once keep both requests.
 */
import type { Logger } from '../../logger.js';
import type { Store } from '../../store/types.js';
import { placeKey, type Outbound } from '../outbound.js';
import { noArgs, reply, type Command, type RestartRequest } from './types.js';

/** Platform-state key of the pending restart request (JSON {@link RestartRequest}; '' = none). */
export const RESTART_KEY = 'agentbridge:restart';

/** The platform-state key of the pending restart request: {@link RESTART_KEY}, in cluster mode `agentbridge:restart:<instance id>`. Pure. */
export function restartKey(instanceId?: string): string {
  return instanceId === undefined ? RESTART_KEY : `${RESTART_KEY}:${instanceId}`;
}

/** What is restarting, for messages: "agentbridge", in cluster mode "agentbridge instance <id>". Pure. */
function whatRestarts(instanceId?: string): string {
  return instanceId === undefined ? 'agentbridge' : `agentbridge instance ${instanceId}`;
}

export const restart: Command<true> = {
  name: 'restart',
  admin: true,
  needsConversation: false,
  args: '',
  summary: 'restart agentbridge gracefully (running turns may finish) and report back here',
  parse: noArgs,
  async run(ctx) {
    const { restart: doRestart, stopping, store, logger, shutdownGraceMs, instanceId } = ctx.deps;
    if (!doRestart) return reply('This agentbridge cannot restart itself (it is not running as `agentbridge start`).', true);
    if (stopping?.()) return reply('agentbridge is already shutting down or restarting.', true);
    const request: RestartRequest = {
      ...(instanceId !== undefined ? { instanceId } : {}),
      ...(ctx.place.conversationId ? { conversationId: ctx.place.conversationId } : {}),
      replyTarget: ctx.place.replyTarget,
      requestedBy: ctx.caller.userName,
      requestedById: ctx.caller.qualifiedId,
      at: (ctx.deps.now ?? Date.now)(),
    };
    await store.platformState.set(restartKey(instanceId), JSON.stringify(request));
    logger.info({ by: ctx.caller.qualifiedId, conversationId: request.conversationId }, 'restart requested');
    const grace = Math.round(shutdownGraceMs / 1000);
    const others = instanceId !== undefined ? ' The other instances keep working meanwhile.' : '';
    return reply(
      `♻️ Restarting ${whatRestarts(instanceId)}${grace ? ` (running turns get up to ${grace} s to finish)` : ''}. I'll post here when I'm back.${others}`,
      false,
      doRestart,
    );
  },
};

/** The pending restart request (of instance `instanceId` in cluster mode), if any. */
export async function pendingRestart(store: Pick<Store, 'platformState'>, instanceId?: string): Promise<RestartRequest | undefined> {
  const raw = await store.platformState.get(restartKey(instanceId));
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
 * Cluster mode (`instanceId` given): only this instance's own request ({@link restartKey}).
 */
export async function announceRestart(deps: {
  store: Pick<Store, 'platformState'>;
  outbound: Pick<Outbound, 'say'>;
  logger: Logger;
  instanceId?: string;
}): Promise<boolean> {
  const { store, outbound, logger, instanceId } = deps;
  const key = restartKey(instanceId);
  const raw = await store.platformState.get(key);
  if (!raw) return false;
  const req = await pendingRestart(store, instanceId);
  if (!req) {
    await store.platformState.set(key, '');
    return false;
  }
  const text = `✅ ${whatRestarts(instanceId)} restarted (requested by ${req.requestedBy}).`;
  const to = { conversationId: req.conversationId ?? placeKey(req.replyTarget), replyTarget: req.replyTarget };
  await outbound.say(to, text, { alsoInTx: (tx) => tx.platformState.set(key, '') });
  logger.info({ requestedBy: req.requestedById, conversationId: req.conversationId, askedAt: req.at }, 'restart announced');
  return true;
}
