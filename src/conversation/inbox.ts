/**
 * The inbox owner: the only module that writes inbox state and the only one that creates
 * conversation rows. Every message that becomes work passes {@link Inbox.accept} (durable before
 * the platform is acknowledged — invariant 1; a known event key is a duplicate — invariant 2);
 * a turn moves its rows with {@link Inbox.start} and {@link Inbox.finish}; start-up recovery puts
 * cut turns back with {@link Inbox.requeue}.
 *
 * Row states: `queued` → `running` (start; attempts + 1) → `done` | `failed` (finish), and
 * `running` → `queued` (requeue). A refused writer leaves no inbox row at all
 * ({@link Inbox.refuse}). While the store health says the database cannot be written, nothing is
 * taken ({@link Inbox.guard}: `StoreUnavailableError`, the adapter must not acknowledge).
 */
import type { InboundMessage, PlatformName } from '../core/messages.js';
import type { AcceptHooks } from '../platforms/types.js';
import { StoreUnavailableError, type StoreHealth } from '../store/health.js';
import type { ConversationRow, InboxRow, InboxState, Store } from '../store/types.js';
import { isRerun } from './rerun.js';

/** The store parts the inbox uses. */
export type InboxStore = Pick<Store, 'inbox' | 'conversations' | 'transaction'>;

/** What is known about a conversation when its row is created. */
export interface ConversationInit {
  id: string;
  platform: PlatformName;
  channel: string;
  thread?: string | null;
  workdir?: string | null;
}

export class Inbox {
  constructor(
    private readonly store: InboxStore,
    /** Storage faults of taking a message are reported here; while unhealthy nothing is taken. */
    private readonly health?: StoreHealth,
  ) {}

  /**
   * Runs `take` (the intake of one inbound message) unless the store is known to be unwritable.
   * @throws StoreUnavailableError at once while the store health is unhealthy (nothing runs), or
   *   when `take` failed on a storage fault (reported to the health); other errors of `take` as they are.
   */
  async guard<T>(take: () => Promise<T>): Promise<T> {
    const health = this.health;
    if (health && !health.healthy) throw new StoreUnavailableError(health.reason ?? 'storage fault');
    try {
      return await take();
    } catch (err) {
      if (health?.report(err, 'inbox')) throw new StoreUnavailableError(health.reason ?? 'storage fault');
      throw err;
    }
  }

  /**
   * Writes the message to the inbox as `queued` and makes sure its conversation exists
   * (recording the thread's seed origin the first time), in one transaction with
   * `hooks.inTransaction` (given the transaction's store); then runs `hooks.afterCommit`. Resolves
   * to false for a duplicate event key (no hook runs). Rejects with the store's error (nothing
   * written) when the transaction fails.
   */
  async accept(message: InboundMessage, hooks?: AcceptHooks): Promise<boolean> {
    const taken = await this.store.transaction(async (tx) => {
      if (!(await tx.inbox.accept(message))) return false;
      await hooks?.inTransaction?.(tx);
      const target = message.replyTarget;
      const existing = await tx.conversations.get(message.conversationId);
      const conv =
        existing ??
        (await this.ensureConversation(
          {
            id: message.conversationId,
            platform: message.platform,
            channel: target.channel,
            thread: target.thread ?? null,
            workdir: null,
          },
          tx,
        ));
      if (message.seedFrom && !conv.seededFrom && !existing) await tx.conversations.update(conv.id, { seededFrom: message.seedFrom });
      return true;
    });
    if (taken) hooks?.afterCommit?.();
    return taken;
  }

  /**
   * A message handled without an inbox row (a refused writer: nothing of it is kept): runs
   * `record` (e.g. remembering that the writer was told) with `hooks.inTransaction` in one
   * transaction — both get its store `tx`, and every store call of theirs goes through it — then
   * `hooks.afterCommit`. Resolves to what `record` resolved to; rejects (nothing written) when the
   * transaction fails.
   */
  async refuse<T>(record: (tx: Store) => Promise<T>, hooks?: AcceptHooks): Promise<T> {
    const result = await this.store.transaction(async (tx) => {
      await hooks?.inTransaction?.(tx);
      return record(tx);
    });
    hooks?.afterCommit?.();
    return result;
  }

  /**
   * Marks the rows `running` (attempts + 1), for a turn that starts on them. Resolves to true when
   * one of them was started before (a re-run after a crash or shutdown, ./rerun.ts). Call it in
   * the turn's transaction, passing its store `tx` (the read and the write must not interleave).
   */
  async start(eventKeys: string[], tx: Pick<Store, 'inbox'> = this.store): Promise<boolean> {
    const before = await Promise.all(eventKeys.map((k) => tx.inbox.get(k)));
    const rerun = isRerun(before);
    await tx.inbox.markRunning(eventKeys);
    return rerun;
  }

  /**
   * Closes the rows: `done` (answered) or `failed` (answered with an error, or dropped). Inside a
   * transaction (e.g. an outbox `alsoInTx`), pass its store `tx`.
   */
  async finish(eventKeys: string[], state: 'done' | 'failed', tx: Pick<Store, 'inbox'> = this.store): Promise<void> {
    if (state === 'done') await tx.inbox.markDone(eventKeys);
    else await tx.inbox.markFailed(eventKeys);
  }

  /**
   * Puts `running` rows back to `queued` (a turn cut by a stop or crash, run again). Inside a
   * transaction, pass its store `tx`.
   */
  async requeue(eventKeys: string[], tx: Pick<Store, 'inbox'> = this.store): Promise<void> {
    await tx.inbox.requeue(eventKeys);
  }

  /** Rows queued or running, oldest first. */
  unfinished(): Promise<InboxRow[]> {
    return this.store.inbox.unfinished();
  }

  /** Row counts by state (health, metrics). */
  countByState(): Promise<Record<InboxState, number>> {
    return this.store.inbox.countByState();
  }

  /**
   * The conversation's row, created when missing — the one place conversation rows are created
   * (messages, turns of older inbox rows, commands naming a new conversation, cron jobs, notices).
   * Inside a transaction, pass its store `tx`.
   */
  ensureConversation(init: ConversationInit, tx: Pick<Store, 'conversations'> = this.store): Promise<ConversationRow> {
    return tx.conversations.ensure(init);
  }
}
