/**
 * Test harness of the scheduler unit tests: a file-backed store, a Scheduler on vitest's fake
 * clock whose `submit` records every message and writes it to the inbox (src/conversation/inbox.ts) like `router.accept`,
 * a recording `notify`, captured log lines, and `finishTurn` to end a turn as the bridge would.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { vi } from 'vitest';
import { postedMessageKey } from '../../src/core/ids.js';
import { Inbox } from '../../src/conversation/inbox.js';
import type { TurnOutcome } from '../../src/core/turn.js';
import type { InboundMessage, ReplyTarget } from '../../src/core/messages.js';
import { Scheduler, type SchedulerOptions } from '../../src/scheduler/scheduler.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';

export interface Harness {
  dir: string;
  dbPath: string;
  store: SqliteStore;
  /** Every message submitted by any scheduler of this harness, in order. */
  submitted: InboundMessage[];
  notices: Array<{ target: ReplyTarget; text: string; conversationId: string }>;
  logs: Array<Record<string, unknown>>;
  /** A scheduler on the harness store (not started). */
  scheduler(opts?: Partial<SchedulerOptions>): Scheduler;
  /**
   * Ends the turn of `conversationId` like the bridge: marks its unfinished inbox rows done
   * (ok) or failed, records a posted message unless `post` is false, and calls
   * `onTurnEnd` of `scheduler`. Resolves to the posted-message key once `onTurnEnd` has resolved.
   */
  finishTurn(scheduler: Scheduler, conversationId: string, outcome: TurnOutcome, post?: boolean): Promise<string | undefined>;
  /** Advances the fake clock by `ms`, running timers and settling promises. */
  advance(ms: number): Promise<void>;
  /** Stops the schedulers, then closes the store and removes the directory. */
  cleanup(): Promise<void>;
}

export function makeHarness(startAt: number): Harness {
  vi.useFakeTimers({ now: startAt });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-sched-'));
  const dbPath = path.join(dir, 'agentbridge.db');
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const store = openStore({ dbPath, logger });
  const submitted: InboundMessage[] = [];
  const notices: Harness['notices'] = [];
  const schedulers: Scheduler[] = [];
  const inbox = new Inbox(store);
  let posts = 0;

  return {
    dir,
    dbPath,
    store,
    submitted,
    notices,
    logs,
    scheduler(opts = {}) {
      const s = new Scheduler({
        store,
        logger,
        ensureConversation: async (init) => inbox.ensureConversation(init),
        submit: async (m) => {
          submitted.push(m);
          return (await inbox.accept(m)) ? 'accepted' : 'duplicate';
        },
        notify: async (target, text, conversationId) => void notices.push({ target, text, conversationId }),
        ...opts,
      });
      schedulers.push(s);
      return s;
    },
    async finishTurn(scheduler, conversationId, outcome, post = true) {
      const keys = (await store.inbox.unfinished()).filter((r) => r.conversationId === conversationId).map((r) => r.eventKey);
      if (outcome === 'ok') await inbox.finish(keys, 'done');
      else if (outcome !== 'interrupted' && outcome !== 'undeliverable') await inbox.finish(keys, 'failed');
      let key: string | undefined;
      if (post) {
        const conv = (await store.conversations.get(conversationId))!;
        const ref = `m${++posts}`;
        key = postedMessageKey(conv.platform, conv.channel, ref);
        await store.postedMessages.record({ key, conversationId, sessionEntryId: null, platformMessageRef: ref, assistantText: 'answer', kind: 'answer' });
      }
      await scheduler.onTurnEnd(conversationId, outcome);
      return key;
    },
    async advance(ms) {
      await vi.advanceTimersByTimeAsync(ms);
    },
    async cleanup() {
      // Not awaited: a test may abandon a scheduler whose tick never ends (a process "dying" inside submit).
      for (const s of schedulers) void s.stop();
      vi.useRealTimers();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
