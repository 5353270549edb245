/**
 * Test harness of the scheduler unit tests, on either backend: a store (SQLite: a file, so a
 * second connection can open it; PostgreSQL: a new database of the test server), a Scheduler on a
 * fake clock whose `submit` records every message and writes it to the inbox
 * (src/conversation/inbox.ts) like `router.accept`, a recording `notify`, captured log lines, and
 * `finishTurn` to end a turn as the bridge would.
 *
 * On PostgreSQL the test file shares one database, emptied for each harness (test/helpers/backends.ts,
 * `openTestStore(…, {shared: true})`).
 *
 * The clock: only `Date` is faked (vitest); the schedulers' timers are the harness's own
 * (`setTimer`/`clearTimer` options), fired by {@link Harness.advance} one at a time, each at its
 * due time, and after each one the harness waits until no store call is in flight. PostgreSQL's
 * queries are real network round trips: with faked `setTimeout` the clock would run on while a
 * tick's queries are still out (and pg's own connection timeout would fire on the fake clock).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { vi } from 'vitest';
import { postedMessageKey } from '../../src/core/ids.js';
import { Inbox } from '../../src/conversation/inbox.js';
import type { TurnOutcome } from '../../src/core/turn.js';
import type { InboundMessage, ReplyTarget } from '../../src/core/messages.js';
import { Scheduler, type SchedulerOptions } from '../../src/scheduler/scheduler.js';
import type { CronJobInput } from '../../src/scheduler/types.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import { openStore } from '../../src/store/store.js';
import type { Store } from '../../src/store/types.js';
import { openTestStore } from '../helpers/backends.js';

/** A cron job as the CLI adds it: `standup`, every hour, to local `ops`; `over` replaces any field. */
export const job = (over: Partial<CronJobInput> = {}): CronJobInput => ({
  name: 'standup',
  schedule: 'every 1h',
  target: { platform: 'local', channel: 'ops' },
  prompt: 'summarise the failed CI runs',
  createdBy: 'cli',
  ...over,
});

export interface Harness {
  backend: Backend;
  /** The store (its calls are tracked: {@link advance} waits for them). */
  store: Store;
  /**
   * A second store on the same database, as a second agentbridge process would open it (SQLite:
   * another connection to the file; PostgreSQL: another pool); tracked like {@link store}, closed
   * by {@link cleanup}.
   */
  openSecond(): Promise<Store>;
  /** Every message submitted by any scheduler of this harness, in order. */
  submitted: InboundMessage[];
  notices: Array<{ target: ReplyTarget; text: string; conversationId: string }>;
  logs: Array<Record<string, unknown>>;
  /** A scheduler on the harness store (not started), on the harness's timers. */
  scheduler(opts?: Partial<SchedulerOptions>): Scheduler;
  /**
   * Ends the turn of `conversationId` like the bridge: marks its unfinished inbox rows done
   * (ok) or failed, records a posted message unless `post` is false, and calls
   * `onTurnEnd` of `scheduler`. Resolves to the posted-message key once `onTurnEnd` has resolved.
   */
  finishTurn(scheduler: Scheduler, conversationId: string, outcome: TurnOutcome, post?: boolean): Promise<string | undefined>;
  /**
   * Advances the fake clock by `ms`: fires the schedulers' timers due by then in order of due
   * time, each at its due time, waiting after each until no store call is in flight.
   */
  advance(ms: number): Promise<void>;
  /** Stops the schedulers, then closes the stores (SQLite: removes the file). */
  cleanup(): Promise<void>;
}

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/** Keys of a store that are not repositories (connections, Kysely): handed out untracked. */
const UNTRACKED = new Set<PropertyKey>(['db', 'pool', 'sql']);

/**
 * `store` with every call that returns a promise (repository methods, `transaction`, `close`)
 * counted in `inFlight.n` until it settles.
 */
function tracked<S extends object>(store: S, inFlight: { n: number }): S {
  const wrap =
    (target: object, fn: (...args: unknown[]) => unknown) =>
    (...args: unknown[]): unknown => {
      const result = fn.apply(target, args);
      if (!(result instanceof Promise)) return result;
      inFlight.n++;
      return result.finally(() => inFlight.n--);
    };
  const proxy = <T extends object>(target: T, depth: number): T => {
    const cache = new Map<PropertyKey, unknown>();
    return new Proxy(target, {
      get(t, key) {
        const value: unknown = Reflect.get(t, key, t);
        if (cache.has(key)) return cache.get(key);
        let out: unknown;
        if (typeof value === 'function') out = wrap(t, value as (...args: unknown[]) => unknown);
        else if (depth === 0 && value !== null && typeof value === 'object' && !UNTRACKED.has(key)) out = proxy(value, 1);
        else return value;
        cache.set(key, out);
        return out;
      },
    });
  };
  return proxy(store, 0);
}

/** Opens an empty, migrated store of `backend` and a way to open the same database again. */
async function openHarnessStore(backend: Backend, logger: Logger): Promise<{ store: Store; again: () => Promise<Store>; remove: () => Promise<void> }> {
  if (backend === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-sched-'));
    const dbPath = path.join(dir, 'agentbridge.db');
    return {
      store: openStore({ dbPath, logger }),
      again: async () => openStore({ dbPath, logger: pino({ level: 'silent' }) }),
      remove: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  // The file's one database, emptied (openTestStore's `shared`); closing the store is all the cleanup.
  const { store, url } = await openTestStore('postgres', { shared: true });
  return {
    store,
    again: () => openPostgresStore({ url: url!, logger: pino({ level: 'silent' }) }),
    remove: async () => {},
  };
}

export async function makeHarness(startAt: number, backend: Backend = 'sqlite'): Promise<Harness> {
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const inFlight = { n: 0 };
  const opened = await openHarnessStore(backend, logger);
  vi.useFakeTimers({ now: startAt, toFake: ['Date'] });
  const store = tracked(opened.store, inFlight);
  const seconds: Store[] = [];
  const submitted: InboundMessage[] = [];
  const notices: Harness['notices'] = [];
  const schedulers: Scheduler[] = [];
  const inbox = new Inbox(store);
  const timers = new Set<FakeTimer>();
  let timerSeq = 0;
  let posts = 0;

  /** Resolves once no store call has been in flight for two turns of the (real) event loop. */
  const settle = async (): Promise<void> => {
    for (let idle = 0; idle < 2;) {
      if (inFlight.n > 0) await new Promise((r) => setTimeout(r, 1));
      else await new Promise((r) => setImmediate(r));
      idle = inFlight.n === 0 ? idle + 1 : 0;
    }
  };

  return {
    backend,
    store,
    async openSecond() {
      const s = tracked(await opened.again(), inFlight);
      seconds.push(s);
      return s;
    },
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
        setTimer: (fn, ms) => {
          const t: FakeTimer = { at: Date.now() + ms, seq: ++timerSeq, fn };
          timers.add(t);
          return t;
        },
        clearTimer: (t) => void timers.delete(t as FakeTimer),
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
      const end = Date.now() + ms;
      await settle();
      for (;;) {
        let next: FakeTimer | undefined;
        for (const t of timers) if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
        if (!next) break;
        timers.delete(next);
        if (next.at > Date.now()) vi.setSystemTime(next.at);
        next.fn();
        await settle();
      }
      vi.setSystemTime(end);
      await settle();
    },
    async cleanup() {
      // Not awaited: a test may abandon a scheduler whose tick never ends (a process "dying" inside submit).
      for (const s of schedulers) void s.stop();
      timers.clear();
      vi.useRealTimers();
      for (const s of seconds) await s.close();
      await store.close();
      await opened.remove();
    },
  };
}
