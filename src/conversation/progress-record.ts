/**
 * Records a progress message (the turn's "⏳ Working…" or a conversation's "⏳ Queued") as a posted
 * message of kind `progress`, so the bot's own message is recognised when the platform echoes it
 * and a restart retires it (docs/ARCHITECTURE.md §1.2). Best effort: never rejects, a failure is logged.
 */
import type { Logger } from '../logger.js';
import type { ReplyTarget } from '../core/messages.js';
import { postedMessageKey } from '../core/ids.js';
import type { Store } from '../store/types.js';

export async function recordProgressMessage(
  store: Pick<Store, 'postedMessages'>,
  logger: Logger,
  at: { target: ReplyTarget; conversationId: string; ref: string; text: string },
): Promise<void> {
  try {
    await store.postedMessages.record({
      key: postedMessageKey(at.target.platform, at.target.channel, at.ref),
      conversationId: at.conversationId,
      sessionEntryId: null,
      platformMessageRef: at.ref,
      assistantText: at.text,
      kind: 'progress',
    });
  } catch (err) {
    logger.warn({ err: String(err), conversationId: at.conversationId }, 'could not record the progress message');
  }
}
