/**
 * The async store's transactions (src/store/sql/store.ts and sqlite-driver.ts, `Store.transaction`): commit and
 * rollback, other callers waiting while one is open, misuse of the outer store inside one, `tx`
 * after the end, nested transactions (savepoints), a failed COMMIT, and call order.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { TransactionRolledBackError } from '../../src/store/sql/sqlite-driver.js';
import { isStorageFault } from '../../src/store/health.js';
import { walCheckpoint } from '../../src/store/maintenance.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';
import { StoreMisuseError, type Store } from '../../src/store/types.js';
import { mountTmpfs } from '../helpers/tmpfs.js';

let dir: string;
let store: SqliteStore;
const logger = pino({ level: 'silent' });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-tx-'));
  store = openStore({ dbPath: path.join(dir, 'agentbridge.db'), logger });
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const conv = (id: string) => ({ id, platform: 'local' as const, channel: 'general' });

/** A promise with its resolve function. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** Lets pending promise callbacks and I/O run (the store itself needs no timer). */
const settle = () => new Promise((r) => setImmediate(r));

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(p: Promise<T>): { p: Promise<T>; settled: () => boolean } {
  let done = false;
  const q = p.finally(() => (done = true));
  return { p: q, settled: () => done };
}

describe('commit and rollback', () => {
  it('commits when the callback resolves and resolves to its value', async () => {
    const out = await store.transaction(async (tx) => {
      await tx.conversations.ensure(conv('c'));
      await tx.platformState.set('k', 'v');
      return 7;
    });
    expect(out).toBe(7);
    expect(await store.conversations.get('c')).toBeDefined();
    expect(await store.platformState.get('k')).toBe('v');
    expect(store.db.inTransaction).toBe(false);
  });

  it('rolls back every write when the callback rejects, and rejects with the same error', async () => {
    const boom = new Error('boom');
    await expect(
      store.transaction(async (tx) => {
        await tx.conversations.ensure(conv('c'));
        await tx.platformState.set('k', 'v');
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await store.conversations.get('c')).toBeUndefined();
    expect(await store.platformState.get('k')).toBeUndefined();
    expect(store.db.inTransaction).toBe(false);
    // The store goes on working.
    expect(await store.transaction(async (tx) => (await tx.conversations.ensure(conv('d'))).id)).toBe('d');
  });

  it('rolls back and rejects with the error of a failed COMMIT', async () => {
    await expect(
      store.transaction(async (tx) => {
        await tx.platformState.set('k', 'v');
        // Foreign keys checked at COMMIT: an entry of a conversation that does not exist makes it fail.
        store.db.pragma('defer_foreign_keys = ON');
        await tx.entries.append({ conversationId: 'missing', role: 'user', author: 'Ann', text: 'hi', agent: null, model: null, usage: null, costUsd: null });
      }),
    ).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
    expect(store.db.inTransaction).toBe(false);
    expect(await store.platformState.get('k')).toBeUndefined();
    expect(await store.entries.list('missing')).toEqual([]);
    await store.platformState.set('k', 'after');
    expect(await store.platformState.get('k')).toBe('after');
  });

  it('never runs calls outside a transaction SQLite rolled back on its own', async () => {
    await expect(
      store.transaction(async (tx) => {
        await tx.platformState.set('a', '1');
        store.db.exec('ROLLBACK'); // as SQLite does after e.g. SQLITE_FULL in some statements
        await expect(tx.platformState.set('b', '2')).rejects.toBeInstanceOf(TransactionRolledBackError);
      }),
    ).rejects.toBeInstanceOf(TransactionRolledBackError);
    expect(await store.platformState.get('a')).toBeUndefined();
    expect(await store.platformState.get('b')).toBeUndefined();
  });
});

describe('on a full disk (real tmpfs)', () => {
  it('a COMMIT that fails with SQLITE_FULL rolls back and rejects with it; the store works once space is free', async () => {
    const disk = mountTmpfs(4 * 1024 * 1024);
    const s = openStore({ dbPath: path.join(disk.dir, 'agentbridge.db'), logger });
    try {
      await s.platformState.set('a', 'before');
      walCheckpoint(s.db, 'TRUNCATE');
      disk.fill();
      await expect(
        s.transaction(async (tx) => {
          await tx.platformState.set('a', 'x'.repeat(200_000)); // kept in the page cache until COMMIT
          await tx.platformState.set('b', 'new');
        }),
      ).rejects.toMatchObject({ code: 'SQLITE_FULL' });
      expect(s.db.inTransaction).toBe(false);
      disk.unfill();
      expect(await s.platformState.list('')).toEqual([{ key: 'a', value: 'before' }]);
      await s.transaction(async (tx) => tx.platformState.set('b', 'after'));
      expect(await s.platformState.get('b')).toBe('after');
    } finally {
      await s.close();
      disk.unmount();
    }
  });

  it('after SQLite rolled a transaction back on a failed statement, no later call of it runs outside it', async () => {
    const disk = mountTmpfs(4 * 1024 * 1024);
    const s = openStore({ dbPath: path.join(disk.dir, 'agentbridge.db'), logger });
    try {
      await s.platformState.set('a', 'before');
      walCheckpoint(s.db, 'TRUNCATE');
      s.db.pragma('cache_size = 5'); // pages spill to the WAL during the transaction
      disk.fill();
      const errors: unknown[] = [];
      const failed = await s
        .transaction(async (tx) => {
          for (let i = 0; i < 20; i++) {
            try {
              await tx.platformState.set(`k${i}`, 'x'.repeat(200_000));
            } catch (err) {
              errors.push(err); // a caller that goes on after an error
            }
          }
        })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(errors[0]).toMatchObject({ code: 'SQLITE_FULL' });
      expect(errors.slice(1).every((e) => e instanceof TransactionRolledBackError)).toBe(true);
      expect(failed).toBeInstanceOf(TransactionRolledBackError);
      expect(failed).toMatchObject({ code: 'SQLITE_FULL' });
      expect(isStorageFault(failed)).toBe(true);
      disk.unfill();
      expect(await s.platformState.list('')).toEqual([{ key: 'a', value: 'before' }]);
    } finally {
      await s.close();
      disk.unmount();
    }
  });
});

describe('other callers', () => {
  it('wait while a transaction is open and see its committed rows', async () => {
    const hold = gate();
    const inside = gate();
    const order: string[] = [];
    const txDone = store.transaction(async (tx) => {
      await tx.conversations.ensure(conv('c'));
      inside.open();
      await hold.promise;
      await tx.conversations.update('c', { model: 'm1' });
      order.push('tx end');
    });
    await inside.promise;
    const read = track(
      store.conversations.get('c').then((row) => {
        order.push('outer read');
        return row;
      }),
    );
    await settle();
    expect(read.settled()).toBe(false); // still waiting: the transaction holds the connection
    hold.open();
    await txDone;
    expect(await read.p).toMatchObject({ id: 'c', model: 'm1' });
    expect(order).toEqual(['tx end', 'outer read']);
  });

  it('see nothing of a transaction that rolled back', async () => {
    const hold = gate();
    const txDone = store.transaction(async (tx) => {
      await tx.conversations.ensure(conv('c'));
      await hold.promise;
      throw new Error('no');
    });
    await settle();
    const read = store.conversations.get('c');
    hold.open();
    await expect(txDone).rejects.toThrow('no');
    expect(await read).toBeUndefined();
  });

  it('a second transaction waits for the first', async () => {
    const hold = gate();
    const order: string[] = [];
    const first = store.transaction(async (tx) => {
      await tx.platformState.set('k', '1');
      await hold.promise;
      order.push('first');
    });
    const second = store.transaction(async (tx) => {
      order.push(`second sees ${await tx.platformState.get('k')}`);
      await tx.platformState.set('k', '2');
    });
    await settle();
    expect(order).toEqual([]);
    hold.open();
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second sees 1']);
    expect(await store.platformState.get('k')).toBe('2');
  });

  it('close waits for an open transaction to commit', async () => {
    const hold = gate();
    const txDone = store.transaction(async (tx) => {
      await tx.platformState.set('k', 'v');
      await hold.promise;
    });
    await settle();
    const closed = track(store.close());
    await settle();
    expect(closed.settled()).toBe(false);
    hold.open();
    await txDone;
    await closed.p;
    expect(store.db.open).toBe(false);
    store = openStore({ dbPath: path.join(dir, 'agentbridge.db'), logger });
    expect(await store.platformState.get('k')).toBe('v');
  });
});

describe('misuse', () => {
  it('an outer-store call inside the callback rejects with StoreMisuseError (no deadlock, nothing written)', async () => {
    const out = await store.transaction(async (tx) => {
      await tx.conversations.ensure(conv('c'));
      await expect(store.platformState.set('k', 'outer')).rejects.toBeInstanceOf(StoreMisuseError);
      await expect(store.conversations.get('c')).rejects.toBeInstanceOf(StoreMisuseError);
      await expect(store.transaction(async () => 1)).rejects.toBeInstanceOf(StoreMisuseError);
      await expect(store.close()).rejects.toBeInstanceOf(StoreMisuseError);
      // Also from a helper called with the wrong store, deeper in the callback's async context.
      const helper = async (s: Store) => {
        await new Promise((r) => setTimeout(r, 1));
        return s.platformState.get('k');
      };
      await expect(helper(store)).rejects.toBeInstanceOf(StoreMisuseError);
      expect(await helper(tx)).toBeUndefined();
      return 'done';
    });
    expect(out).toBe('done');
    expect(await store.conversations.get('c')).toBeDefined();
    expect(await store.platformState.get('k')).toBeUndefined();
    expect(store.db.open).toBe(true);
  });

  it('a tx used after its transaction ended rejects with StoreMisuseError', async () => {
    let leaked: Store | undefined;
    await store.transaction(async (tx) => {
      leaked = tx;
      await tx.platformState.set('k', 'in');
    });
    await expect(leaked!.platformState.set('k', 'late')).rejects.toBeInstanceOf(StoreMisuseError);
    await expect(leaked!.platformState.get('k')).rejects.toBeInstanceOf(StoreMisuseError);
    await expect(leaked!.transaction(async () => 1)).rejects.toBeInstanceOf(StoreMisuseError);
    expect(await store.platformState.get('k')).toBe('in');
  });

  it('a tx call still running when the callback returned without awaiting it runs inside the transaction', async () => {
    await store.transaction(async (tx) => {
      void tx.platformState.set('k', 'unawaited');
      return Promise.resolve();
    });
    expect(await store.platformState.get('k')).toBe('unawaited');
  });

  it('after the transaction, the outer store works again from the same async context', async () => {
    let later: Promise<string | undefined> | undefined;
    await store.transaction(async (tx) => {
      await tx.platformState.set('k', 'v');
      // Started inside, runs after the commit: not a misuse.
      later = new Promise((r) => setTimeout(r, 5)).then(() => store.platformState.get('k'));
    });
    expect(await later).toBe('v');
  });
});

describe('nested tx.transaction', () => {
  it('joins the transaction with the same tx: one commit, the outer rows visible inside', async () => {
    const seen = await store.transaction(async (tx) => {
      await tx.platformState.set('outer', '1');
      return tx.transaction(async (inner) => {
        expect(inner).toBe(tx);
        await inner.platformState.set('inner', '2');
        return inner.platformState.get('outer');
      });
    });
    expect(seen).toBe('1');
    expect(await store.platformState.get('outer')).toBe('1');
    expect(await store.platformState.get('inner')).toBe('2');
  });

  it('a rejected nested transaction undoes only its own writes; the outer one may go on and commit', async () => {
    await store.transaction(async (tx) => {
      await tx.platformState.set('outer', '1');
      await expect(
        tx.transaction(async (inner) => {
          await inner.platformState.set('inner', '2');
          await inner.platformState.set('outer', 'changed');
          throw new Error('inner failed');
        }),
      ).rejects.toThrow('inner failed');
      expect(await tx.platformState.get('inner')).toBeUndefined();
      await tx.platformState.set('after', '3');
    });
    expect(await store.platformState.get('outer')).toBe('1');
    expect(await store.platformState.get('inner')).toBeUndefined();
    expect(await store.platformState.get('after')).toBe('3');
  });

  it('everything rolls back when the outer transaction rejects after a nested one resolved', async () => {
    await expect(
      store.transaction(async (tx) => {
        await tx.transaction(async (inner) => inner.platformState.set('inner', '2'));
        throw new Error('outer failed');
      }),
    ).rejects.toThrow('outer failed');
    expect(await store.platformState.get('inner')).toBeUndefined();
  });

  it('a helper taking a Store works with the outer store and with tx (nested two deep)', async () => {
    const record = (s: Store, key: string) =>
      s.transaction(async (t) => {
        await t.platformState.set(key, 'x');
        await t.transaction(async (t2) => t2.platformState.set(`${key}.deep`, 'y'));
      });
    await record(store, 'a');
    await store.transaction(async (tx) => record(tx, 'b'));
    expect(await store.platformState.list('')).toEqual([
      { key: 'a', value: 'x' },
      { key: 'a.deep', value: 'y' },
      { key: 'b', value: 'x' },
      { key: 'b.deep', value: 'y' },
    ]);
  });

  it('nested transactions started together run one after the other; a rejected one undoes only its own writes', async () => {
    const order: string[] = [];
    await store.transaction(async (tx) => {
      const results = await Promise.allSettled([
        tx.transaction(async (t) => {
          await t.platformState.set('a', '1');
          await new Promise((r) => setTimeout(r, 5));
          order.push('a');
        }),
        tx.transaction(async (t) => {
          order.push('b starts');
          await t.platformState.set('b', '2');
          throw new Error('b failed');
        }),
        tx.transaction(async (t) => {
          order.push('c starts');
          await t.platformState.set('c', '3');
        }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    });
    expect(order).toEqual(['a', 'b starts', 'c starts']);
    expect(await store.platformState.list('')).toEqual([
      { key: 'a', value: '1' },
      { key: 'c', value: '3' },
    ]);
  });

  it('the transaction commits only after a nested transaction it did not await has ended', async () => {
    const hold = gate();
    let nested: Promise<void> | undefined;
    const outer = track(
      store.transaction(async (tx) => {
        nested = tx.transaction(async (t) => {
          await hold.promise;
          await t.platformState.set('late', 'yes');
        });
      }),
    );
    await settle();
    expect(outer.settled()).toBe(false);
    hold.open();
    await outer.p;
    await nested;
    expect(await store.platformState.get('late')).toBe('yes');
  });

  it('calls of tx from outside an open nested transaction wait until it has ended', async () => {
    const hold = gate();
    const order: string[] = [];
    await store.transaction(async (tx) => {
      const nested = tx.transaction(async (inner) => {
        await inner.platformState.set('k', 'nested');
        await hold.promise;
        order.push('nested end');
        throw new Error('undo nested');
      });
      const sibling = tx.platformState.set('other', 'sibling').then(() => order.push('sibling'));
      await settle();
      expect(order).toEqual([]);
      hold.open();
      await expect(nested).rejects.toThrow('undo nested');
      await sibling;
    });
    expect(order).toEqual(['nested end', 'sibling']);
    // The sibling's write was not part of the rolled-back savepoint.
    expect(await store.platformState.get('other')).toBe('sibling');
    expect(await store.platformState.get('k')).toBeUndefined();
  });
});

describe('order', () => {
  it('calls without a transaction run in the order they were made', async () => {
    const results = await Promise.all([
      store.platformState.set('k', '1'),
      store.platformState.get('k'),
      store.platformState.set('k', '2'),
      store.platformState.get('k'),
      store.platformState.delete('k'),
      store.platformState.get('k'),
    ]);
    expect(results).toEqual([undefined, '1', undefined, '2', undefined, undefined]);
  });

  it('calls that waited for a transaction run afterwards in the order they were made', async () => {
    const hold = gate();
    const txDone = store.transaction(async (tx) => {
      await tx.platformState.set('k', 'tx');
      await hold.promise;
    });
    await settle();
    const results = Promise.all([
      store.platformState.get('k'),
      store.platformState.set('k', 'a'),
      store.platformState.get('k'),
      store.transaction(async (tx) => tx.platformState.set('k', 'b')),
      store.platformState.get('k'),
    ]);
    hold.open();
    await txDone;
    expect(await results).toEqual(['tx', undefined, 'a', undefined, 'b']);
  });
});

describe('readonly store', () => {
  it('runs a reading transaction (plain BEGIN) and refuses writes in it', async () => {
    await store.platformState.set('k', 'v');
    const reader = openStore({ dbPath: path.join(dir, 'agentbridge.db'), logger, readonly: true });
    try {
      expect(await reader.transaction(async (tx) => tx.platformState.get('k'))).toBe('v');
      await expect(reader.transaction(async (tx) => tx.platformState.set('k', 'w'))).rejects.toThrow(/readonly/i);
      expect(await store.platformState.get('k')).toBe('v');
    } finally {
      await reader.close();
    }
  });
});
