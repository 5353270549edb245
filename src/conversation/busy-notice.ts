/**
 * The channel's busy notice: when several conversations of one channel wait for a turn slot at
 * once (a burst), one message in the channel says how many are waiting, within a fraction of a
 * second — before the platform's rate limits let each waiting thread get its own 👀 and
 * "⏳ Queued" message (Slack: `reactions.add` is Tier 3, about 50 a minute for the workspace, and
 * `chat.postMessage` about 1 a second per channel — Slack docs, "Rate limits"; Discord: about 5
 * messages per 5 s per channel — shared/reference/platforms.md). One post per burst, then edits
 * as the count changes (latest wins, at the adapter's edit interval, as decoration in its Web API
 * budget), and once nobody in the channel waits any more the message is retired (deleted, or
 * edited to {@link BUSY_NOTICE_DONE_TEXT} where the adapter cannot delete) through the outbox,
 * durably.
 *
 * Only for adapters whose limits name a threshold (`PlatformLimits.busyNoticeAt`: Slack and
 * Discord); the local chat shows 👀 on every message at once and gets none. The notice is posted
 * once no conversation joined for `BUSY_NOTICE_QUIET_MS` (50 ms), at most `BUSY_NOTICE_GATHER_MS`
 * (150 ms) after the threshold was reached, so a burst arriving together is counted in the first
 * post, and the post goes out before the first answers compete for the channel's post budget. Its ref is kept in the platform state (`busy-notice:<platform>:<channel>`),
 * so a restart retires a notice the last process left ({@link retireBusyNotices}).
 */
import type { ReplyTarget } from '../core/messages.js';
import type { Logger } from '../logger.js';
import type { PlatformAdapter } from '../platforms/types.js';
import { isDroppedCall } from '../platforms/budget.js';
import type { Store } from '../store/types.js';
import type { Outbound } from './outbound.js';
import { placeKey } from './outbound.js';
import { EditThrottle } from './throttle.js';

/**
 * Longest wait between the threshold being reached and the post, ms: a burst arriving together
 * is counted in the first post.
 */
export const BUSY_NOTICE_GATHER_MS = 150;

/** Least time between two count updates of a notice after the first (which goes right after the post), ms. */
export const BUSY_NOTICE_UPDATE_MS = 5_000;

/** The post goes out earlier once no conversation joined for this long, ms (the burst is over). */
export const BUSY_NOTICE_QUIET_MS = 50;

/** What the notice is edited to when it cannot be deleted. */
export const BUSY_NOTICE_DONE_TEXT = '✅ Every message that waited here has started; answers follow in their threads.';

const STATE_PREFIX = 'busy-notice:';

/** The notice's text for `waiting` conversations waiting in the channel (≥ 1). */
export function busyNoticeText(waiting: number): string {
  const what = waiting === 1 ? '1 message in this channel is' : `${waiting} messages in this channel are`;
  return `⏳ Busy: ${what} waiting for a free turn slot. Each will be answered where it was asked, in the order they came; this note goes away once all have started.`;
}

export interface BusyNoticesOptions {
  adapters: (platform: ReplyTarget['platform']) => PlatformAdapter | undefined;
  store: Pick<Store, 'platformState'>;
  outbound: Pick<Outbound, 'enqueue' | 'deliver'>;
  logger: Logger;
  /** Overrides {@link BUSY_NOTICE_GATHER_MS} (tests). */
  gatherMs?: number;
}

/** One channel's notice. */
interface Board {
  place: ReplyTarget;
  adapter: PlatformAdapter;
  waiting: Set<string>;
  timer?: NodeJS.Timeout;
  /** When the post is due at the latest (threshold reached + gather), ms since the epoch. */
  dueBy?: number;
  posting?: Promise<void>;
  ref?: string;
  throttle?: EditThrottle;
  abort: AbortController;
}

/** The busy notices of every channel (one instance per agentbridge process, shared by the bridges). */
export class BusyNotices {
  private readonly boards = new Map<string, Board>();
  /** Conversation id → its channel's key, while it waits. */
  private readonly where = new Map<string, string>();

  constructor(private readonly o: BusyNoticesOptions) {}

  /** `conversationId` (replying to `target`) waits for a slot. Never throws. */
  join(conversationId: string, target: ReplyTarget): void {
    const adapter = this.o.adapters(target.platform);
    const threshold = adapter?.limits.busyNoticeAt;
    if (!adapter || threshold === undefined || this.where.has(conversationId)) return;
    const place: ReplyTarget = { platform: target.platform, channel: target.channel };
    const key = placeKey(place);
    let board = this.boards.get(key);
    if (!board) {
      board = { place, adapter, waiting: new Set(), abort: new AbortController() };
      this.boards.set(key, board);
    }
    board.waiting.add(conversationId);
    this.where.set(conversationId, key);
    if (board.throttle) board.throttle.update(this.text(board));
    else if (!board.posting && (board.timer || board.waiting.size >= threshold)) this.schedulePost(board);
  }

  /**
   * Schedules the first post: {@link BUSY_NOTICE_QUIET_MS} after the latest conversation joined,
   * but no later than {@link BUSY_NOTICE_GATHER_MS} after the threshold was reached.
   */
  private schedulePost(board: Board): void {
    const now = Date.now();
    board.dueBy ??= now + (this.o.gatherMs ?? BUSY_NOTICE_GATHER_MS);
    if (board.timer) clearTimeout(board.timer);
    board.timer = setTimeout(
      () => {
        board.timer = undefined;
        if (board.waiting.size > 0) board.posting = this.post(board);
      },
      Math.max(0, Math.min(BUSY_NOTICE_QUIET_MS, board.dueBy - now)),
    );
    board.timer.unref?.();
  }

  /** `conversationId` stopped waiting (its turn starts). Never throws. */
  leave(conversationId: string): void {
    const key = this.where.get(conversationId);
    if (key === undefined) return;
    this.where.delete(conversationId);
    const board = this.boards.get(key);
    if (!board) return;
    board.waiting.delete(conversationId);
    if (board.waiting.size > 0) {
      board.throttle?.update(this.text(board));
      return;
    }
    // Nobody waits in this channel any more: the next burst starts a new notice.
    this.boards.delete(key);
    if (board.timer) clearTimeout(board.timer);
    board.abort.abort();
    void this.retire(board).catch((err: unknown) => this.o.logger.warn({ err: String(err), channel: board.place.channel }, 'could not retire the busy notice'));
  }

  private text(board: Board): string {
    return board.adapter.neutraliseMentions(busyNoticeText(board.waiting.size));
  }

  private async post(board: Board): Promise<void> {
    const { logger, store } = this.o;
    const text = this.text(board);
    try {
      board.ref = (await board.adapter.post(board.place, text)).ref;
    } catch (err) {
      logger.warn({ err: String(err), channel: board.place.channel }, 'could not post the busy notice');
      return;
    }
    const ref = board.ref;
    try {
      await store.platformState.set(stateKey(board.place), JSON.stringify({ ref, place: board.place }));
    } catch (err) {
      logger.warn({ err: String(err), channel: board.place.channel }, 'could not record the busy notice');
    }
    if (board.abort.signal.aborted) return;
    const decoration = { signal: board.abort.signal };
    board.throttle = new EditThrottle({
      minIntervalMs: Math.max(BUSY_NOTICE_UPDATE_MS, board.adapter.limits.minEditIntervalMs),
      initialText: text,
      // No `lastSentAt`: conversations that joined while the post was on its way are counted by an
      // edit right after it (then at most one edit per BUSY_NOTICE_UPDATE_MS).
      send: (t) => board.adapter.edit(board.place, ref, t, { decoration }),
      onError: (err) => {
        if (!isDroppedCall(err)) logger.warn({ err: String(err), channel: board.place.channel }, 'busy notice update failed');
      },
    });
    board.throttle.update(this.text(board)); // the count may have moved while it was posted
  }

  /** Retires a channel's notice once its post settled (nothing to do when it was never posted). */
  private async retire(board: Board): Promise<void> {
    await board.posting;
    await board.throttle?.close();
    if (!board.ref) return;
    await retireNotice(this.o, board.place, board.ref);
  }
}

function stateKey(place: ReplyTarget): string {
  return `${STATE_PREFIX}${place.platform}:${place.channel}`;
}

/**
 * Enqueues the retire row of a notice and forgets its state in one transaction, then delivers it
 * (in the background). Never rejects: a failure is logged.
 */
async function retireNotice(o: Pick<BusyNoticesOptions, 'store' | 'outbound' | 'logger'>, place: ReplyTarget, ref: string): Promise<void> {
  const to = { conversationId: placeKey(place), replyTarget: place };
  try {
    await o.outbound.enqueue(to, BUSY_NOTICE_DONE_TEXT, { retireRef: ref, alsoInTx: (tx) => tx.platformState.delete(stateKey(place)) });
    void o.outbound
      .deliver(to.conversationId)
      .catch((err: unknown) => o.logger.warn({ err: String(err), channel: place.channel }, 'could not deliver the busy notice retirement'));
  } catch (err) {
    o.logger.warn({ err: String(err), channel: place.channel }, 'could not retire the busy notice');
  }
}

/**
 * Start-up: retires every busy notice the last process left (it stopped while conversations
 * waited; they are queued again and get notices of their own if they still wait). Call before
 * the inbox is recovered (await it). Resolves to how many were retired.
 * @throws the store's error when the states cannot be read (or an unreadable one cannot be forgotten)
 */
export async function retireBusyNotices(o: Pick<BusyNoticesOptions, 'store' | 'outbound' | 'logger'>): Promise<number> {
  let n = 0;
  for (const { key, value } of await o.store.platformState.list(STATE_PREFIX)) {
    let parsed: { ref?: unknown; place?: Partial<ReplyTarget> } | undefined;
    try {
      parsed = JSON.parse(value) as typeof parsed;
    } catch {
      parsed = undefined;
    }
    const place = parsed?.place;
    if (typeof parsed?.ref !== 'string' || !place || typeof place.platform !== 'string' || typeof place.channel !== 'string') {
      o.logger.warn({ key }, 'busy notice state unreadable; forgotten');
      await o.store.platformState.delete(key);
      continue;
    }
    await retireNotice(o, { platform: place.platform, channel: place.channel }, parsed.ref);
    n++;
  }
  return n;
}
