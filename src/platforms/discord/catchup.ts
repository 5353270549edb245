/**
 * Catch-up after a Gateway session was lost (or agentbridge was down): per-channel cursors
 * ("last message id seen"), where to start when a channel has none, and paging through the
 * history oldest first. No discord.js here; the adapter passes a page fetcher.
 *
 * Discord facts encoded:
 * - A new Gateway session (READY again, not RESUMED) does not replay what was said while
 *   disconnected; `GET /channels/{id}/messages?after=<id>&limit=100` returns up to 100
 *   messages right after `<id>`, newest first, so pages are sorted here and the next page
 *   starts after the largest id seen.
 * - Message ids are snowflakes: bigger = later (compared as BigInt; they exceed 2^53). The
 *   creation time is `(id >> 22) + 1420070400000` ms.
 * - A thread started on a message has that message's id, so its messages all have larger ids:
 *   `after=<threadId>` lists a whole thread.
 */

/** Durable key-value state (AdapterContext.state); both reject on a store error. */
export interface StateStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

/** Cursors as read at one moment (channel id → last message id seen), for {@link catchUpStart}. */
export interface CursorSnapshot {
  get(channelId: string): string | undefined;
}

/** Discord's epoch (2015-01-01T00:00:00Z), ms. */
const DISCORD_EPOCH = 1_420_070_400_000n;

/** `discord:cursor:<channelId>`: the id of the last message seen in a channel (or thread). */
export function cursorKey(channelId: string): string {
  return `discord:cursor:${channelId}`;
}

/** True when snowflake `a` is later than `b`. */
export function isLater(a: string, b: string): boolean {
  return BigInt(a) > BigInt(b);
}

/** The creation time of a snowflake, ms since the Unix epoch. */
export function snowflakeTime(id: string): number {
  return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
}

/**
 * Per-channel cursors over {@link StateStore}; they only move forward. `advance` reads, then
 * writes: callers run the advances of one channel one after another (the Discord inbound queue
 * does), so no other advance interleaves.
 */
export class Cursors {
  constructor(private readonly state: StateStore) {}

  get(channelId: string): Promise<string | undefined> {
    return this.state.get(cursorKey(channelId));
  }

  /** The cursors of `channelIds` as they are now. */
  async snapshot(channelIds: Iterable<string>): Promise<CursorSnapshot> {
    const seen = new Map<string, string | undefined>();
    for (const id of new Set(channelIds)) seen.set(id, await this.get(id));
    return { get: (id) => seen.get(id) };
  }

  /** Moves the cursor of `channelId` to `messageId` when that is later (or there is none); resolves once stored. */
  async advance(channelId: string, messageId: string): Promise<void> {
    const current = await this.get(channelId);
    if (current === undefined || isLater(messageId, current)) await this.state.set(cursorKey(channelId), messageId);
  }
}

/** What catch-up knows about a channel it may read. */
export interface CatchUpChannel {
  id: string;
  /** For threads: the parent channel. */
  parentId?: string;
  /** Id of the newest message Discord reports for the channel (`last_message_id`), if any. */
  lastMessageId?: string | null;
  /** Thread creation time (ms), when Discord reports it (`thread_metadata.create_timestamp`). */
  createdTimestamp?: number | null;
}

/**
 * Where catch-up of `channel` starts: the id to fetch `after`, or undefined to only set a
 * baseline (nothing is fetched; the cursor becomes the channel's newest message).
 *
 * - A channel with a cursor: after the cursor.
 * - A thread without one, created after (or in the same ms as) the last message seen in its
 *   parent (a thread opened while we were away), or any thread without one seen during a later
 *   session of this process (it had no message we saw): the whole thread (`after` = thread id).
 *   Pass the cursors as they were before this catch-up round began (catching up the parent
 *   moves its cursor).
 * - Otherwise (first sight of a channel, e.g. a newly configured chat channel): no catch-up —
 *   old history is not answered.
 * @param laterSession true after the process's first Gateway session
 */
export function catchUpStart(channel: CatchUpChannel, cursors: CursorSnapshot, laterSession: boolean): string | undefined {
  const cursor = cursors.get(channel.id);
  if (cursor !== undefined) return cursor;
  if (channel.parentId === undefined) return undefined;
  if (laterSession) return channel.id;
  const parentCursor = cursors.get(channel.parentId);
  if (parentCursor !== undefined && channel.createdTimestamp && channel.createdTimestamp >= snowflakeTime(parentCursor)) return channel.id;
  return undefined;
}

/** Fetches up to `limit` messages right after `after`, in any order. */
export type FetchPage<M extends { id: string }> = (after: string, limit: number) => Promise<M[]>;

/**
 * Every message after `after`, oldest first, a page of `pageSize` (≤ 100) at a time; stops at
 * a short page.
 */
export async function* messagesAfter<M extends { id: string }>(fetchPage: FetchPage<M>, after: string, pageSize = 100): AsyncGenerator<M> {
  let from = after;
  for (;;) {
    const page = (await fetchPage(from, pageSize)).filter((m) => isLater(m.id, from));
    page.sort((a, b) => (isLater(a.id, b.id) ? 1 : isLater(b.id, a.id) ? -1 : 0));
    for (const m of page) yield m;
    if (page.length < pageSize) return;
    from = page[page.length - 1]!.id;
  }
}
