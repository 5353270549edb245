/**
 * The progress message of a conversation that waits for a turn slot: "⏳ Queued — 3 conversations
 * ahead of this one…", posted when the conversation starts waiting with no slot free, kept current
 * as the line moves, and handed to the turn when it starts (its `TurnOutput` edits the same
 * message into "⏳ Working…", then the answer replaces it). Every call is decoration in the
 * adapter's Web API budget (`platforms/budget.ts`): in a busy channel a position update waits
 * behind answers and is replaced by the next one, and a post not yet sent when the turn starts is
 * dropped. Recorded as a posted message of kind `progress`, so a restart retires it like any
 * progress message.
 */
import type { Logger } from '../logger.js';
import type { ReplyTarget } from '../core/messages.js';
import type { PlatformAdapter } from '../platforms/types.js';
import { isDroppedCall } from '../platforms/budget.js';
import type { Store } from '../store/types.js';
import { EditThrottle } from './throttle.js';
import { recordProgressMessage } from './progress-record.js';

/** Least time between two position updates of one queued message, ms. */
export const QUEUED_UPDATE_MS = 5_000;

/** The text of the queued progress message for `ahead` conversations ahead. */
export function queuedText(ahead: number): string {
  const where = ahead === 0 ? 'next in line' : `${ahead} conversation${ahead === 1 ? '' : 's'} ahead of this one`;
  return `⏳ Queued — ${where}. Every turn slot is busy; this one starts as soon as a slot is free.`;
}

export interface QueuedNoticeOptions {
  adapter: PlatformAdapter;
  target: ReplyTarget;
  conversationId: string;
  store: Pick<Store, 'postedMessages'>;
  logger: Logger;
}

export class QueuedNotice {
  private readonly abort = new AbortController();
  private posting?: Promise<void>;
  private ref?: string;
  private throttle?: EditThrottle;
  private latest = '';

  constructor(private readonly o: QueuedNoticeOptions) {}

  /** Shows `ahead`: the first call posts the message, later ones edit it (throttled). Never throws. */
  show(ahead: number): void {
    if (this.abort.signal.aborted) return;
    this.latest = this.o.adapter.neutraliseMentions(queuedText(ahead));
    if (this.throttle) this.throttle.update(this.latest);
    else this.posting ??= this.post();
  }

  private async post(): Promise<void> {
    const { adapter, target, conversationId, store, logger } = this.o;
    const text = this.latest;
    const decoration = { signal: this.abort.signal };
    try {
      this.ref = (await adapter.post(target, text, { decoration })).ref;
    } catch (err) {
      if (!isDroppedCall(err)) logger.warn({ err: String(err), conversationId }, 'could not post the queued message');
      return;
    }
    const ref = this.ref;
    await recordProgressMessage(store, logger, { target, conversationId, ref, text });
    if (this.abort.signal.aborted) return;
    this.throttle = new EditThrottle({
      minIntervalMs: Math.max(QUEUED_UPDATE_MS, adapter.limits.minEditIntervalMs),
      initialText: text,
      send: (t) => adapter.edit(target, ref, t, { decoration }),
      onError: (err) => {
        if (!isDroppedCall(err)) logger.warn({ err: String(err), conversationId }, 'queued message update failed');
      },
    });
    this.throttle.update(this.latest); // the line may have moved while it was posted
  }

  /**
   * The turn starts: drops updates not yet sent, waits for a call already on the wire, and
   * returns the message's ref (undefined when it was never posted). Never throws.
   */
  async settle(): Promise<string | undefined> {
    this.abort.abort();
    await this.posting;
    await this.throttle?.close();
    return this.ref;
  }
}
