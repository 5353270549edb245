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
import { TurnFencedError } from '../store/types.js';
import type { ConversationRow, InboxRow, InboxState, Store } from '../store/types.js';
import { isRerun } from './rerun.js';

/** The store parts the inbox uses. */
export type InboxStore = Pick<Store, 'inbox' | 'conversations' | 'transaction' | 'turnJobs'>;

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

  /** This inbox for one cluster turn attempt: its rows are started and closed only under `claim`. */
  claimed(claim: string): ClaimedInbox {
    return new ClaimedInbox(this.store, this.health, claim);
  }

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
   * `hooks.inTransaction` (given the transaction's store) and, in cluster mode, the conversation's
   * wake-up job (`turnJobs.wake`; not for a command, `wake: false`, which is answered where it was
   * taken); then runs `hooks.afterCommit`. Resolves to false for a duplicate event key (no hook
   * runs). Rejects with the store's error (nothing written) when the transaction fails.
   */
  async accept(message: InboundMessage, hooks?: AcceptHooks, opts: { wake?: boolean } = {}): Promise<boolean> {
    const taken = await this.store.transaction(async (tx) => {
      if (!(await tx.inbox.accept(message))) return false;
      if (opts.wake !== false) await tx.turnJobs.wake(message.conversationId);
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
   * With `claim` (cluster mode: the turn attempt's fencing token) the rows must be `queued` or
   * already running under that claim.
   * @throws TurnFencedError with `claim` when a row is running under another attempt's claim (this attempt lost the conversation).
   */
  async start(eventKeys: string[], tx: Pick<Store, 'inbox'> = this.store, claim?: string): Promise<boolean> {
    const before = await Promise.all(eventKeys.map((k) => tx.inbox.get(k)));
    const rerun = isRerun(before);
    const n = await tx.inbox.markRunning(eventKeys, claim);
    if (claim !== undefined && n < eventKeys.length) throw new TurnFencedError(claim, 'start');
    return rerun;
  }

  /**
   * Closes the rows: `done` (answered) or `failed` (answered with an error, or dropped). Inside a
   * transaction (e.g. an outbox `alsoInTx`), pass its store `tx`. With `claim` (cluster mode) only
   * rows still carrying it are closed.
   * @throws TurnFencedError with `claim` when a row no longer carries it (another worker took the
   *   conversation over): the caller's transaction — with the answer in the outbox — rolls back.
   */
  async finish(eventKeys: string[], state: 'done' | 'failed', tx: Pick<Store, 'inbox'> = this.store, claim?: string): Promise<void> {
    const n = state === 'done' ? await tx.inbox.markDone(eventKeys, claim) : await tx.inbox.markFailed(eventKeys, claim);
    if (claim !== undefined && n < eventKeys.length) throw new TurnFencedError(claim, 'finish');
  }

  /**
   * Puts `running` rows back to `queued` (a turn cut by a stop or crash, run again). Inside a
   * transaction, pass its store `tx`.
   */
  async requeue(eventKeys: string[], tx: Pick<Store, 'inbox'> = this.store): Promise<void> {
    await tx.inbox.requeue(eventKeys);
  }

  /** Cluster mode: enqueues a wake-up job for the conversation (outside any transaction); nothing on one instance. */
  wake(conversationId: string): Promise<void> {
    return this.store.turnJobs.wake(conversationId);
  }

  /** A conversation's rows queued or running, oldest first. */
  unfinishedFor(conversationId: string): Promise<InboxRow[]> {
    return this.store.inbox.unfinishedFor(conversationId);
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

/**
 * The inbox as one turn attempt of cluster mode sees it: {@link Inbox.start} and
 * {@link Inbox.finish} carry the attempt's claim (fencing token), so a turn that lost its
 * conversation to another worker cannot start or commit (`TurnFencedError`).
 */
export class ClaimedInbox extends Inbox {
  constructor(
    store: InboxStore,
    health: StoreHealth | undefined,
    /** `<job id>:<attempt>` of the wake-up job the turn runs under. */
    readonly claim: string,
  ) {
    super(store, health);
  }

  override start(eventKeys: string[], tx?: Pick<Store, 'inbox'>): Promise<boolean> {
    return super.start(eventKeys, tx, this.claim);
  }

  override finish(eventKeys: string[], state: 'done' | 'failed', tx?: Pick<Store, 'inbox'>): Promise<void> {
    return super.finish(eventKeys, state, tx, this.claim);
  }
}
