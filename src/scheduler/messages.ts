/**
 * Scheduled messages: prompts that run later as turns of one conversation (after a delay, at a
 * time, or every interval), persisted in `store.scheduledMessages`. Every method is limited to
 * the given conversation: an id of another conversation is "not found".
 *
 * When due, a message is submitted to the router as an InboundMessage from the `scheduler`
 * platform with event key `sched:<id>:<dueAt>` (the inbox drops a second submission of the same
 * due time), then a one-shot is deleted and a recurring one moves on by its interval. Missed
 * intervals of a recurring message: the latest one runs if it is at most `graceMs` late, older
 * ones are skipped. A one-shot that is late (agentbridge was stopped) still runs once. A
 * refused submission (agentbridge shutting down, database error) is tried again 30 s later — for a
 * recurring message its interval then counts from there.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { InboundMessage, ReplyTarget } from '../core/messages.js';
import type { AcceptResult } from '../platforms/types.js';
import type { Store } from '../store/types.js';
import { formatInterval, missedRuns, parseInterval } from './schedule.js';
import type { ScheduledMessage } from '../core/schedule.js';
import { ScheduleError, type ScheduledMessagesService, type ScheduleMessageInput } from './types.js';

/** Limits of scheduled messages. Times in ms. */
export const MESSAGE_LIMITS = {
  maxTextChars: 4_000,
  perConversation: 50,
  minDelayMs: 1_000,
  minEveryMs: 60_000,
} as const;
/** A message whose submission failed is tried again after this long, ms. */
const SUBMIT_RETRY_MS = 30_000;

export interface ScheduledMessageServiceOptions {
  store: Pick<Store, 'scheduledMessages' | 'transaction'> & { conversations: Pick<Store['conversations'], 'get'> };
  now?: () => number;
  /** Called (and awaited) after every change, so a running scheduler re-arms its timer; should not reject (the change is made already). */
  onChange?: () => void | Promise<void>;
}

export interface MessageFiringDeps {
  submit: (message: InboundMessage) => Promise<AcceptResult>;
  logger: Logger;
  graceMs: number;
}

export class ScheduledMessageService implements ScheduledMessagesService {
  private readonly now: () => number;

  constructor(private readonly o: ScheduledMessageServiceOptions) {
    this.now = o.now ?? Date.now;
  }

  /**
   * Schedules `input.text` in the conversation: exactly one of `delaySeconds` (≥ 1), `at` (ISO
   * 8601 with offset, in the future) or `every` (`15m`, `every 2h`; ≥ 60 s — first run one
   * interval from now).
   * Rejects with ScheduleError for an unknown conversation, empty or too long text (> 4,000), not
   *   exactly one timing, an invalid timing, or when the conversation holds 50 already.
   */
  async add(conversationId: string, input: ScheduleMessageInput): Promise<ScheduledMessage> {
    const { store } = this.o;
    const now = this.now();
    const unknown = () => new ScheduleError(`unknown conversation "${conversationId}"`);
    if (!(await store.conversations.get(conversationId))) throw unknown();
    const text = (input.text ?? '').trim();
    if (!text) throw new ScheduleError('the message text is empty');
    if (text.length > MESSAGE_LIMITS.maxTextChars) {
      throw new ScheduleError(`the message is ${text.length} characters; at most ${MESSAGE_LIMITS.maxTextChars} are allowed`);
    }
    const given = [input.delaySeconds !== undefined, input.at !== undefined, input.every !== undefined].filter(Boolean).length;
    if (given !== 1) throw new ScheduleError('give exactly one of delay_seconds, at or every');

    let dueAt: number;
    let everyMs: number | null = null;
    if (input.delaySeconds !== undefined) {
      const s = input.delaySeconds;
      if (typeof s !== 'number' || !Number.isFinite(s) || s * 1000 < MESSAGE_LIMITS.minDelayMs) {
        throw new ScheduleError(`delay_seconds must be a number ≥ 1 (got ${String(s)})`);
      }
      if (s > 366 * 86_400) throw new ScheduleError('delay_seconds must be at most one year (31,622,400)');
      dueAt = now + Math.round(s * 1000);
    } else if (input.at !== undefined) {
      const at = String(input.at).trim();
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})$/i.test(at) || Number.isNaN(Date.parse(at))) {
        throw new ScheduleError(`at must be an ISO 8601 time with an offset, e.g. 2026-12-01T09:00:00+01:00 (got "${at}")`);
      }
      dueAt = Date.parse(at);
      if (dueAt <= now) throw new ScheduleError(`at ${at} is in the past (now is ${new Date(now).toISOString()})`);
    } else {
      everyMs = parseInterval(String(input.every));
      if (everyMs < MESSAGE_LIMITS.minEveryMs) throw new ScheduleError(`every ${formatInterval(everyMs)} is too frequent: the shortest interval is 1m`);
      dueAt = now + everyMs;
    }

    // One transaction: the limit cannot be passed by adds in between, nor the conversation deleted.
    const message = await store.transaction(async (tx) => {
      if (!(await tx.conversations.get(conversationId))) throw unknown();
      if ((await tx.scheduledMessages.countForConversation(conversationId)) >= MESSAGE_LIMITS.perConversation) {
        throw new ScheduleError(`this conversation has ${MESSAGE_LIMITS.perConversation} scheduled messages already (the most allowed); cancel some first`);
      }
      return tx.scheduledMessages.insert({
        id: `m${randomBytes(5).toString('hex')}`,
        conversationId,
        text,
        dueAt,
        everyMs,
        createdBy: input.createdBy,
        createdAt: now,
      });
    });
    await this.o.onChange?.();
    return message;
  }

  /** The conversation's scheduled messages, earliest due first. */
  async list(conversationId: string): Promise<ScheduledMessage[]> {
    return this.o.store.scheduledMessages.listForConversation(conversationId);
  }

  /** Cancels one; false when `id` is not a scheduled message of this conversation. */
  async cancel(conversationId: string, id: string): Promise<boolean> {
    const removed = await this.o.store.scheduledMessages.delete(conversationId, id);
    if (removed) await this.o.onChange?.();
    return removed;
  }

  /** Cancels every scheduled message of the conversation; resolves to how many. */
  async reset(conversationId: string): Promise<number> {
    const n = await this.o.store.scheduledMessages.deleteForConversation(conversationId);
    if (n) await this.o.onChange?.();
    return n;
  }

  /**
   * Submits every message due at `now` (see the module doc). Rejects only when the due messages
   * cannot be read; a message that fails is logged and tried again 30 s later.
   */
  async fireDue(now: number, deps: MessageFiringDeps): Promise<void> {
    for (const m of await this.o.store.scheduledMessages.due(now)) {
      try {
        await this.fire(m, now, deps);
      } catch (err) {
        deps.logger.error({ err, id: m.id, conversationId: m.conversationId }, 'scheduled message: could not submit; trying again in 30 s');
        try {
          await this.o.store.scheduledMessages.reschedule(m.id, m.dueAt, now + SUBMIT_RETRY_MS);
        } catch {
          // the database is failing; the scheduler's tick backs off
        }
      }
    }
  }

  /** Submits one due message, then deletes it (one-shot) or moves it on by its interval. */
  private async fire(m: ScheduledMessage, now: number, deps: MessageFiringDeps): Promise<void> {
    const { store } = this.o;
    const conv = await store.conversations.get(m.conversationId);
    if (!conv) {
      await store.scheduledMessages.delete(m.conversationId, m.id);
      return;
    }
    let fireAt = m.dueAt;
    let next: number | null = null;
    if (m.everyMs) {
      const { latest } = missedRuns({ kind: 'every', everyMs: m.everyMs }, m.dueAt, now);
      fireAt = latest;
      next = latest + m.everyMs;
      if (now - latest > deps.graceMs) {
        await store.scheduledMessages.reschedule(m.id, m.dueAt, next);
        deps.logger.warn(
          { id: m.id, conversationId: m.conversationId, missedSince: m.dueAt },
          'scheduled message: missed intervals beyond the grace window were skipped',
        );
        return;
      }
    }
    const replyTarget: ReplyTarget = { platform: conv.platform, channel: conv.channel, ...(conv.thread ? { thread: conv.thread } : {}) };
    const message: InboundMessage = {
      platform: conv.platform,
      origin: 'scheduler',
      conversationId: m.conversationId,
      channel: conv.channel,
      ...(conv.thread ? { thread: conv.thread } : {}),
      author: { id: 'scheduler', name: 'scheduled message' },
      text: m.text,
      eventKey: `sched:${m.id}:${fireAt}`,
      replyTarget,
      receivedAt: now,
    };
    const result = await deps.submit(message); // a refusal throws: retried in 30 s (fireDue)
    deps.logger.info({ id: m.id, conversationId: m.conversationId, eventKey: message.eventKey, result }, 'scheduled message submitted');
    // Submitted before it is moved on / deleted: a crash in between resubmits the same event key (a duplicate).
    if (next === null) await store.scheduledMessages.deleteIfDue(m.id, m.dueAt);
    else await store.scheduledMessages.reschedule(m.id, m.dueAt, next);
  }
}
