/**
 * Start-up recovery (invariants 1 and 2): messages accepted but not answered before the last
 * stop are queued again in their original order; conversations whose turn was running when the
 * process stopped are first told that the turn was interrupted and is being retried. Answers
 * still in the outbox are delivered by `OutboxDelivery.deliverAll` (./outbox.ts).
 */
import type { Logger } from '../logger.js';
import type { InboxRow, Store } from '../store/types.js';
import type { Inbox } from './inbox.js';
import type { Outbound } from './outbound.js';
import type { Router } from './router.js';

/** The notice posted in a conversation whose turn was cut by a stop or crash. */
export const INTERRUPTED_NOTICE = '🔄 agentbridge restarted while working on your message. Nothing is lost: it is being answered again now.';

/** What an interrupted turn's progress message is edited to. */
export const STALE_PROGRESS_TEXT = '⏹️ Interrupted by a restart; the answer follows below.';

/**
 * What a conversation's "⏳ Queued" message (posted by the last process while it waited for a turn
 * slot) is edited to when the adapter cannot delete it; the turn posts a new progress message.
 */
export const REQUEUED_PROGRESS_TEXT = '⏹️ agentbridge restarted while this message waited for a turn slot; the answer follows below.';

/**
 * Progress messages of a conversation that never became an answer: posted messages still of kind
 * `progress` (one edited into the answer, or into a notice, was recorded again with that kind).
 */
async function staleProgressRefs(store: Pick<Store, 'postedMessages'>, conversationId: string): Promise<string[]> {
  return (await store.postedMessages.listForConversation(conversationId, 'progress')).map((c) => c.platformMessageRef);
}

export interface RecoveryReport {
  /** Messages queued again. */
  requeued: number;
  /** Conversations told that their turn was interrupted. */
  interrupted: string[];
}

/**
 * Re-queues unfinished inbox messages (including any accepted during recovery), then switches
 * the router to queue new messages directly. Returns what it did.
 */
export async function recoverInbox(
  store: Pick<Store, 'postedMessages'>,
  router: Router,
  outbound: Pick<Outbound, 'say' | 'enqueue' | 'deliver'>,
  logger: Logger,
): Promise<RecoveryReport> {
  const { inbox } = router;
  const rows = await inbox.unfinished();
  const interrupted = new Map<string, (typeof rows)[number]>();
  for (const row of rows) if (row.state === 'running') interrupted.set(row.conversationId, row);

  for (const [conversationId, row] of interrupted) {
    const running = rows.filter((r) => r.conversationId === conversationId && r.state === 'running').map((r) => r.eventKey);
    await announceCut(inbox, outbound, conversationId, row, running);
  }
  // A conversation that only waited for a slot has no cut turn, but may have a "⏳ Queued" message
  // from the last process: its turn posts a new progress message, so retire the old one (durably).
  const waiting = new Map<string, (typeof rows)[number]>();
  for (const row of rows) if (!interrupted.has(row.conversationId) && !waiting.has(row.conversationId)) waiting.set(row.conversationId, row);
  for (const [conversationId, row] of waiting) await retireQueuedNotice(store, outbound, logger, conversationId, row);
  // Messages accepted while the notices were delivered are in the inbox too: read again.
  // (A message taken after this read and before `recovered()` is held by the bridges and queued
  // then: see Bridges.admit.) Every prompt is queued in this tick, so they join turns together.
  const all = await inbox.unfinished();
  await Promise.all(all.map((row) => router.resume(row.message)));
  router.recovered();
  if (all.length) logger.info({ requeued: all.length, interrupted: [...interrupted.keys()] }, 'recovered unfinished messages');
  return { requeued: all.length, interrupted: [...interrupted.keys()] };
}

/** Tells the conversation its turn was cut and puts the turn's rows (`running`) back to `queued`, with its stale progress messages edited, in one transaction. */
async function announceCut(inbox: Inbox, outbound: Pick<Outbound, 'say' | 'enqueue'>, conversationId: string, row: InboxRow, running: string[]): Promise<void> {
  const to = { conversationId, replyTarget: row.message.replyTarget };
  await outbound.say(to, INTERRUPTED_NOTICE, {
    alsoInTx: async (tx) => {
      await inbox.requeue(running, tx);
      // The cut turn's progress message would say "Working…" forever: mark it as interrupted.
      for (const ref of await staleProgressRefs(tx, conversationId)) await outbound.enqueue(to, STALE_PROGRESS_TEXT, { editRef: ref, tx });
    },
  });
}

/** Retires (deletes, else edits) the "⏳ Queued" messages a conversation that only waited for a slot still has; delivered in the background. */
async function retireQueuedNotice(
  store: Pick<Store, 'postedMessages'>,
  outbound: Pick<Outbound, 'enqueue' | 'deliver'>,
  logger: Logger,
  conversationId: string,
  row: InboxRow,
): Promise<void> {
  const refs = await staleProgressRefs(store, conversationId);
  if (refs.length === 0) return;
  const to = { conversationId, replyTarget: row.message.replyTarget };
  for (const ref of refs) await outbound.enqueue(to, REQUEUED_PROGRESS_TEXT, { retireRef: ref });
  void outbound.deliver(conversationId).catch((err: unknown) => logger.error({ err, conversationId }, 'delivering a queued message retirement failed'));
}

/**
 * Cluster mode (src/cluster/worker.ts): the recovery of one conversation, run by the worker that
 * took its wake-up job before it runs anything. Rows left `running` belong to an attempt that
 * ended (its instance died or lost its job): the conversation is told and they are queued again,
 * as after a restart; a "⏳ Queued" message left by another instance is retired. Resolves to the
 * conversation's unfinished rows afterwards, oldest first (all `queued`).
 */
export async function recoverConversation(
  store: Pick<Store, 'postedMessages'>,
  inbox: Inbox,
  outbound: Pick<Outbound, 'say' | 'enqueue' | 'deliver'>,
  logger: Logger,
  conversationId: string,
): Promise<InboxRow[]> {
  const rows = await inbox.unfinishedFor(conversationId);
  const running = rows.filter((r) => r.state === 'running');
  if (running.length > 0) {
    await announceCut(
      inbox,
      outbound,
      conversationId,
      running[0]!,
      running.map((r) => r.eventKey),
    );
    logger.info({ conversationId, requeued: running.length }, 'cluster: a cut turn of this conversation is run again');
    return inbox.unfinishedFor(conversationId);
  }
  if (rows.length > 0) await retireQueuedNotice(store, outbound, logger, conversationId, rows[0]!);
  return rows;
}
