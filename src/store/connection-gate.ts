/**
 * One SQLite connection shared by every caller, with transactions that span `await`s: while a
 * transaction holds the connection, calls of other callers wait for it to end (they would
 * otherwise run inside it), and calls of the transaction itself go through its own `tx` store.
 * better-sqlite3 runs each statement synchronously, so a call with the connection free runs at
 * once, in the order of the calls.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Db } from './db.js';
import { StoreMisuseError } from './types.js';
import type { RunOnConnection } from './sync-repo.js';

/** A transaction that holds the connection. */
interface Holder {
  /** Resolves when the transaction has ended (committed or rolled back). */
  ended: Promise<void>;
  open: boolean;
}

/** The gate of one connection (see the file comment). */
export class ConnectionGate {
  private holder: Holder | undefined;
  private readonly context = new AsyncLocalStorage<Holder>();

  constructor(private readonly db: Db) {}

  /**
   * For the outer store: runs `call` when no transaction holds the connection (at once when
   * none does). Rejects with `StoreMisuseError` when called from inside a running transaction's
   * async context (that call must use the transaction's `tx`).
   */
  readonly run: RunOnConnection = async (call) => {
    const inside = this.context.getStore();
    if (inside?.open) throw new StoreMisuseError('a store call inside a transaction must use the transaction’s tx, not the outer store');
    while (this.holder) await this.holder.ended;
    return call();
  };

  /** For a transaction's `tx` store: runs `call` while `holder` is open; rejects once it has ended. */
  runIn(holder: Holder): RunOnConnection {
    return async (call) => {
      if (!holder.open) throw new StoreMisuseError('the transaction has already ended');
      return call();
    };
  }

  /** The open transaction of the caller's async context, if any (nested `transaction` calls join it). */
  current(): Holder | undefined {
    const inside = this.context.getStore();
    return inside?.open ? inside : undefined;
  }

  /**
   * Waits until the connection is free, then `BEGIN IMMEDIATE` (the write lock is taken at once,
   * so the transaction never fails later with SQLITE_BUSY on its first write), runs `fn` with the
   * holder, `COMMIT` when it resolves and `ROLLBACK` when it rejects.
   */
  async transaction<T>(fn: (holder: Holder) => Promise<T>): Promise<T> {
    if (this.current()) throw new StoreMisuseError('a transaction inside a transaction must use the outer transaction’s tx');
    while (this.holder) await this.holder.ended;
    let end!: () => void;
    const holder: Holder = { ended: new Promise<void>((r) => (end = r)), open: true };
    this.holder = holder;
    try {
      this.db.exec('BEGIN IMMEDIATE');
      let result: T;
      try {
        result = await this.context.run(holder, () => fn(holder));
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
      try {
        this.db.exec('COMMIT');
      } catch (err) {
        // A failed COMMIT (SQLITE_FULL, SQLITE_IOERR) can leave the transaction open.
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
      return result;
    } finally {
      holder.open = false;
      this.holder = undefined;
      end();
    }
  }
}
