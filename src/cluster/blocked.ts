/**
 * A blocked conversation (its wake-up job failed past its retries; docs/ARCHITECTURE.md §10):
 * `cluster retry <conversation>` runs it again, `cluster skip <conversation>` drops its unanswered
 * messages so that its later messages run. pg-boss facts: ./turn-queue.ts.
 */
import type { InboxRepo } from '../store/types.js';
import { TURN_QUEUE } from './constants.js';
import { affected, type TurnQueue } from './turn-queue.js';

/** The failed jobs of `conversationId`'s key, oldest first. */
async function failedJobs(queue: TurnQueue, conversationId: string): Promise<string[]> {
  return (await queue.findJobs(TURN_QUEUE, { key: conversationId })).filter((j) => j.state === 'failed').map((j) => j.id);
}

/** What {@link retryBlocked} did: the jobs it put back (none: the conversation was not blocked). */
export interface RetryResult {
  conversationId: string;
  jobIds: string[];
}

/**
 * Puts the conversation's failed wake-up job(s) back in the queue (pg-boss `retry`: one more
 * attempt, from now): the conversation's turn runs again, before its later messages (its key
 * stays first in line). `jobIds` is empty when it was not blocked. Rejects with pg-boss's error.
 */
export async function retryBlocked(queue: TurnQueue, conversationId: string): Promise<RetryResult> {
  const ids = await failedJobs(queue, conversationId);
  if (ids.length === 0) return { conversationId, jobIds: [] };
  const n = affected(await queue.retry(TURN_QUEUE, ids));
  // A job retried (or removed) by someone else between the read and the retry is not counted twice.
  return { conversationId, jobIds: n === ids.length ? ids : ids.slice(0, n) };
}

/** What {@link skipBlocked} did. */
export interface SkipResult {
  conversationId: string;
  /** The failed jobs removed (none: the conversation was not blocked; nothing else was changed). */
  jobIds: string[];
  /** The inbox rows closed `failed` (their event keys, oldest first): messages that will get no answer. */
  failedEventKeys: string[];
}

/**
 * Drops a blocked conversation's backlog: first its unfinished inbox rows (queued or running) are
 * closed `failed`, then its failed job(s) are deleted, so its later jobs run (and find nothing
 * left of the skipped messages). In that order: deleting first could let a later job start a turn
 * with the rows about to be closed. Not blocked (no failed job): nothing changes. Running it again
 * after a failure part-way is safe. Rejects with the store's or pg-boss's error.
 */
export async function skipBlocked(queue: TurnQueue, inbox: Pick<InboxRepo, 'failUnfinished'>, conversationId: string): Promise<SkipResult> {
  const ids = await failedJobs(queue, conversationId);
  if (ids.length === 0) return { conversationId, jobIds: [], failedEventKeys: [] };
  const failedEventKeys = await inbox.failUnfinished(conversationId);
  await queue.deleteJob(TURN_QUEUE, ids);
  return { conversationId, jobIds: ids, failedEventKeys };
}

/**
 * The notice for the conversation itself (Markdown), posted through the outbound path by the
 * caller: what an operator's retry or skip did. Undefined when nothing was done.
 */
export function blockedNotice(result: RetryResult | SkipResult): string | undefined {
  if (result.jobIds.length === 0) return undefined;
  if (!('failedEventKeys' in result)) return '↻ An operator retried this conversation after its turn failed: it runs again now.';
  const n = result.failedEventKeys.length;
  return `⏭ An operator skipped this conversation's failed turn: ${n} message${n === 1 ? '' : 's'} will get no answer — please send ${n === 1 ? 'it' : 'them'} again if still needed.`;
}
