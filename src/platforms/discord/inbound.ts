/**
 * Inbound side of the Discord adapter: hands messages to the core one at a time, in arrival
 * order, moves the per-channel cursors, and catches up after a new Gateway session.
 *
 * - Event key `discord:<messageId>`: the inbox drops a message handed twice (live and again
 *   by catch-up), so "at least once" here means "exactly one reply" there.
 * - After a message is accepted, the cursor of its channel (`discord:cursor:<channelId>`,
 *   ./catchup.ts) moves to it — only where catch-up reads back: chat channels and the threads
 *   the bot takes part in (DMs and mention-only channels are not read back).
 * - A new Gateway session (READY: at start, or after a failed resume — not RESUMED, which
 *   replays what was missed) queues a catch-up of those places before any of its live
 *   messages: history after each cursor (`GET /channels/{id}/messages?after=`), oldest first.
 * - A message the core refuses (database error, shutting down) blocks its channel's cursor and
 *   live messages; the channel is read again from its cursor after {@link RETRY_MS}. In a place
 *   without a cursor the message itself is handed again later, a few times.
 */
import type { Client, Message } from 'discord.js';
import type { Logger } from '../../logger.js';
import type { AdapterContext, InboundSink } from '../types.js';
import { catchUpStart, Cursors, messagesAfter, type CatchUpChannel, type CursorSnapshot } from './catchup.js';
import { factsOf } from './facts.js';
import { normaliseMessage, takesPartIn, type NormalisePolicy } from './normalise.js';

/** Delays before reading again what the core could not accept (or catch-up could not fetch), ms; the last repeats. */
export const RETRY_MS = [2_000, 5_000, 15_000, 60_000];

export interface InboundOptions {
  client: Client;
  sink: InboundSink;
  context: AdapterContext;
  chatChannels: ReadonlySet<string>;
  policy: () => NormalisePolicy;
  logger: Logger;
}

export class DiscordInbound {
  private readonly cursors: Cursors;
  /** Inbound work (messages, catch-ups), strictly one after the other. */
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  /**
   * Channels whose cursor must not move (a message was not accepted, or catch-up failed): their
   * live messages wait for the retry catch-up, which reads them back in order.
   */
  private readonly blocked = new Map<string, { attempts: number; timer?: NodeJS.Timeout }>();
  /** Timers of {@link retryLater}. */
  private readonly retries = new Set<NodeJS.Timeout>();

  constructor(private readonly o: InboundOptions) {
    this.cursors = new Cursors(o.context.state);
  }

  /** A live message from the Gateway. */
  live(message: Message): void {
    void this.enqueue(() => this.handle(message, 'live'));
  }

  /**
   * A new session began (READY): queues its catch-up, which starts once `guildsLoaded`
   * resolves, ahead of the session's live messages. Resolves when the catch-up is done.
   * @param laterSession false for the process's first session
   */
  newSession(guildsLoaded: Promise<void>, laterSession: boolean): Promise<void> {
    return this.enqueue(async () => {
      await guildsLoaded;
      await this.catchUpAll(laterSession);
    });
  }

  /** No more messages are handed over; waits for the one being handed. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const b of this.blocked.values()) clearTimeout(b.timer);
    for (const t of this.retries) clearTimeout(t);
    await this.queue;
  }

  /** Queues inbound work behind everything queued before; resolves when it ran (never rejects). */
  private enqueue(task: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(task).catch((err: unknown) => this.o.logger.error({ err }, 'discord: inbound handling failed'));
    return this.queue;
  }

  /** Chat channels and the threads the bot takes part in, as catch-up sees them. */
  private async catchUpTargets(): Promise<CatchUpChannel[]> {
    const client = this.o.client;
    const out: CatchUpChannel[] = [];
    for (const id of this.o.chatChannels) {
      const c = client.channels.cache.get(id);
      out.push({ id, lastMessageId: c && 'lastMessageId' in c ? (c.lastMessageId ?? null) : undefined });
    }
    for (const c of client.channels.cache.values()) {
      if (!c.isThread() || !c.parentId || this.o.chatChannels.has(c.id)) continue;
      if (!(await takesPartIn({ guildId: c.guildId, channelId: c.id, threadParentId: c.parentId }, this.o.policy()))) continue;
      out.push({ id: c.id, parentId: c.parentId, lastMessageId: c.lastMessageId, createdTimestamp: c.createdTimestamp });
    }
    return out;
  }

  private async catchUpAll(laterSession: boolean): Promise<void> {
    const targets = await this.catchUpTargets();
    // Where each starts is decided before any cursor moves (a thread's start looks at its parent's).
    const snapshot = await this.cursors.snapshot(targets.flatMap((t) => (t.parentId ? [t.id, t.parentId] : [t.id])));
    for (const target of targets) await this.catchUp(target, laterSession, snapshot);
  }

  /**
   * Hands the messages of one channel after its cursor to the core, oldest first. `cursors`: the
   * cursors as they were when the catch-up round began (default: as they are now).
   */
  private async catchUp(target: CatchUpChannel, laterSession: boolean, cursors?: CursorSnapshot): Promise<void> {
    if (this.stopped) return;
    const retry = this.blocked.get(target.id);
    this.blocked.delete(target.id); // read from the cursor now; handle() blocks again on failure
    const start = cursors ?? (await this.cursors.snapshot(target.parentId ? [target.id, target.parentId] : [target.id]));
    const after = catchUpStart(target, start, laterSession);
    if (after === undefined) {
      // First sight of this channel: start from now; older history is not answered. Unknown
      // (undefined: not in the cache) sets nothing; no message yet (null) starts from the beginning.
      if (target.lastMessageId !== undefined) await this.cursors.advance(target.id, target.lastMessageId ?? '0');
      return;
    }
    let handed = 0;
    try {
      const channel = await this.o.client.channels.fetch(target.id);
      if (!channel?.isTextBased()) return;
      const fetchPage = async (from: string, limit: number) => [...(await channel.messages.fetch({ after: from, limit, cache: false })).values()];
      for await (const message of messagesAfter(fetchPage, after)) {
        if (this.stopped) return;
        await this.handle(message, 'catch-up', retry?.attempts ?? 0);
        if (this.blocked.has(target.id)) return; // not accepted: retried later from the cursor
        handed++;
      }
      if (handed) this.o.logger.info({ channel: target.id, messages: handed }, 'discord: caught up');
    } catch (err) {
      const status = (err as { status?: number }).status;
      this.o.logger.warn({ channel: target.id, status, err: err instanceof Error ? err.message : String(err) }, 'discord: catch-up failed');
      // Gone or no access (404/403): nothing to read back. Anything else: try again later.
      if (status !== 403 && status !== 404) this.block(target.id, (retry?.attempts ?? 0) + 1);
    }
  }

  /** Normalises one message and hands it to the core; then moves its channel's cursor. */
  private async handle(message: Message, source: 'live' | 'catch-up' | 'retry', attempts = 0): Promise<void> {
    if (this.stopped || !this.o.client.user) return;
    const channelId = message.channelId;
    // A blocked channel is read again from its cursor by the retry, in order.
    if (source === 'live' && this.blocked.has(channelId)) return;
    const facts = factsOf(message, this.o.client);
    const result = await normaliseMessage(facts, this.o.policy());
    // Cursors follow only the places catch-up reads (DMs and mention-only channels are not read back).
    const tracked = async () =>
      facts.guildId !== null && (this.o.chatChannels.has(channelId) || (facts.threadParentId !== undefined && (await takesPartIn(facts, this.o.policy()))));
    if (result.ok) {
      if (result.malformedFiles)
        this.o.logger.warn({ messageId: facts.id, attachments: result.malformedFiles }, 'discord: malformed attachments left out of a message');
      try {
        const outcome = await this.o.sink(result.message);
        this.o.logger.debug(
          { eventKey: result.message.eventKey, conversationId: result.message.conversationId, outcome, source },
          'discord: message handed to the core',
        );
      } catch (err) {
        this.o.logger.warn(
          { eventKey: result.message.eventKey, err: err instanceof Error ? err.message : String(err) },
          'discord: the core did not accept a message; it will be read again',
        );
        if (await tracked()) this.block(channelId, attempts + 1);
        else this.retryLater(message, attempts + 1);
        return;
      }
    } else {
      this.o.logger.trace({ messageId: facts.id, reason: result.reason }, 'discord: message skipped');
    }
    if (!this.blocked.has(channelId) && (await tracked())) await this.cursors.advance(channelId, message.id);
  }

  /** Stops the cursor of `channelId` and schedules its catch-up (the `attempts`-th retry). */
  private block(channelId: string, attempts: number): void {
    if (this.stopped || this.blocked.get(channelId)?.timer) return;
    const entry: { attempts: number; timer?: NodeJS.Timeout } = { attempts };
    this.blocked.set(channelId, entry);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      const c = this.o.client.channels.cache.get(channelId);
      const parentId = c?.isThread() ? (c.parentId ?? undefined) : undefined;
      void this.enqueue(() => this.catchUp({ id: channelId, parentId }, true));
    }, retryDelay(attempts));
    entry.timer.unref();
  }

  /** A refused message of a place without a cursor (DM, mention elsewhere): handed again later, a few times. */
  private retryLater(message: Message, attempts: number): void {
    if (this.stopped) return;
    if (attempts > RETRY_MS.length * 2) {
      this.o.logger.error({ messageId: message.id, channel: message.channelId }, 'discord: giving up on a message the core kept refusing');
      return;
    }
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      void this.enqueue(() => this.handle(message, 'retry', attempts));
    }, retryDelay(attempts));
    timer.unref();
    this.retries.add(timer);
  }
}

/** Delay before the `attempts`-th retry (1-based), ms. */
function retryDelay(attempts: number): number {
  return RETRY_MS[Math.min(Math.max(attempts, 1), RETRY_MS.length) - 1]!;
}
