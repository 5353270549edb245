/**
 * An in-memory {@link ScheduledMessagesService} for tests of the MCP tools (the real one lives in
 * src/scheduler/messages.ts). Validation follows the contract: exactly one of delaySeconds, at,
 * every, else a rejection with ScheduleError. Every method is async, like the real one.
 */
import type { ScheduledMessage } from '../../src/core/schedule.js';
import { ScheduleError, type ScheduledMessagesService, type ScheduleMessageInput } from '../../src/scheduler/types.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export class MemoryScheduledMessages implements ScheduledMessagesService {
  readonly items: ScheduledMessage[] = [];
  private n = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async add(conversationId: string, input: ScheduleMessageInput): Promise<ScheduledMessage> {
    const given = [input.delaySeconds, input.at, input.every].filter((v) => v !== undefined).length;
    if (given !== 1) throw new ScheduleError('give exactly one of a delay, a time or an interval');
    let dueAt: number;
    let everyMs: number | null = null;
    if (input.delaySeconds !== undefined) {
      if (!(input.delaySeconds > 0)) throw new ScheduleError('the delay must be positive');
      dueAt = this.now() + input.delaySeconds * 1000;
    } else if (input.at !== undefined) {
      dueAt = Date.parse(input.at);
      if (!Number.isFinite(dueAt)) throw new ScheduleError(`not a time: ${input.at}`);
    } else {
      const m = /^(?:every\s+)?(\d+)([smhd])$/.exec(input.every!.trim());
      if (!m) throw new ScheduleError(`not an interval: ${input.every}`);
      everyMs = Number(m[1]) * UNITS[m[2]!]!;
      dueAt = this.now() + everyMs;
    }
    const item: ScheduledMessage = {
      id: `sm-${++this.n}`,
      conversationId,
      text: input.text,
      dueAt,
      everyMs,
      createdBy: input.createdBy,
      createdAt: this.now(),
    };
    this.items.push(item);
    return item;
  }

  async list(conversationId: string): Promise<ScheduledMessage[]> {
    return this.items.filter((m) => m.conversationId === conversationId);
  }

  async cancel(conversationId: string, id: string): Promise<boolean> {
    const i = this.items.findIndex((m) => m.id === id && m.conversationId === conversationId);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  async reset(conversationId: string): Promise<number> {
    const before = this.items.length;
    for (let i = this.items.length - 1; i >= 0; i--) if (this.items[i]!.conversationId === conversationId) this.items.splice(i, 1);
    return before - this.items.length;
  }
}
