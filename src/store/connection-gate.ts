/**
 * One SQLite connection shared by every caller, with transactions that span `await`s.
 *
 * better-sqlite3 runs each statement synchronously, so a call runs at once when the connection is
 * free for the caller — in the order of the calls. While a transaction holds the connection:
 * - calls of other callers (the outer store) wait until it has ended, then run in the order they
 *   were made (they would otherwise run inside it);
 * - calls of the transaction go through its own `tx` store ({@link ConnectionGate.runIn});
 * - a call of the outer store from inside the transaction's async context is refused with
 *   `StoreMisuseError` (it would wait for its own transaction forever, or escape it);
 * - a transaction of `tx` ({@link ConnectionGate.nested}) joins it as a SAVEPOINT, as
 *   better-sqlite3's nested transactions did: when it rejects, its own writes are rolled back and
 *   the error goes to the caller, who may go on with the outer transaction. While it is open,
 *   calls of the transaction from outside its async context wait until it has ended.
 *
 * A transaction ends after every call made inside it (and every nested transaction started in it)
 * has run: then `COMMIT` (or `RELEASE` of its savepoint) when its callback resolved, `ROLLBACK`
 * (or `ROLLBACK TO`) when it rejected. A failed `COMMIT` rolls back and rejects with its error.
 * When SQLite itself rolled the transaction back after an error of a statement (it may, e.g. on
 * SQLITE_FULL or SQLITE_IOERR), later calls of the transaction and its end reject (error with the
 * statement's error as `cause`) instead of running outside it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Db } from './db.js';
import { StoreMisuseError } from './types.js';
import type { RunOnConnection } from './sync-repo.js';

/** An open transaction (`parent` undefined) or one of its savepoints. */
export class Frame {
  /** The transaction this frame belongs to (itself for the transaction). */
  readonly root: Frame;
  open = true;
  /** The last error a call of the transaction threw (the cause when SQLite rolled it back). */
  lastError: unknown;

  constructor(
    readonly parent: Frame | undefined,
    /** Savepoint name; undefined for the transaction. */
    readonly savepoint: string | undefined,
  ) {
    this.root = parent ? parent.root : this;
  }
}

/** A call waiting for the connection to be free for its frame (undefined = no transaction open). */
interface Waiter {
  readonly level: Frame | undefined;
  /** Runs the call now (synchronously), settling its promise. */
  readonly admit: () => void;
}

/** The gate of one connection (see the file comment). */
export class ConnectionGate {
  /** Open frames, the transaction first. */
  private readonly stack: Frame[] = [];
  private readonly waiting: Waiter[] = [];
  private pumping = false;
  private savepoints = 0;
  /** Set when a transaction could not be rolled back and the connection is still inside it. */
  private broken: Error | undefined;
  private readonly context = new AsyncLocalStorage<Frame>();

  constructor(private readonly db: Db) {}

  /**
   * For the outer store: runs `call` when no transaction holds the connection (at once when none
   * does and nobody waits). Rejects with `StoreMisuseError` when called from inside an open
   * transaction's async context (that call must use the transaction's `tx`).
   */
  readonly run: RunOnConnection = (call) => {
    if (this.inContext()) return Promise.reject(misuse());
    return this.schedule(undefined, () => {
      this.assertNotBroken();
      return call();
    });
  };

  /** Like {@link run}, also on a connection stuck in a transaction (for closing it, which discards that transaction). */
  readonly runToClose: RunOnConnection = (call) => {
    if (this.inContext()) return Promise.reject(misuse());
    return this.schedule(undefined, call);
  };

  /**
   * For a transaction's `tx` store: runs `call` inside the transaction `root` — at once unless a
   * nested transaction is open that the caller is not inside of (then when it has ended). Rejects
   * with `StoreMisuseError` once the transaction has ended.
   */
  runIn(root: Frame): RunOnConnection {
    return (call) => {
      if (!root.open) return Promise.reject(ended());
      const level = this.levelIn(root);
      return this.schedule(level, () => {
        if (!root.open) throw ended();
        this.assertLive(root);
        try {
          return call();
        } catch (err) {
          root.lastError = err;
          throw err;
        }
      });
    };
  }

  /**
   * Runs `fn` in a new transaction: waits until the connection is free, `BEGIN IMMEDIATE` (the
   * write lock is taken at once, so no later write of the transaction fails with SQLITE_BUSY
   * because another connection wrote in between; a readonly connection uses a plain `BEGIN`),
   * then see the file comment. Rejects with `StoreMisuseError` inside a transaction's async context.
   */
  async transaction<T>(fn: (frame: Frame) => Promise<T>): Promise<T> {
    if (this.inContext()) throw new StoreMisuseError('a transaction inside a transaction must use the outer transaction’s tx');
    const frame = await this.schedule(undefined, () => {
      this.assertNotBroken();
      return this.begin(undefined);
    });
    return this.body(frame, fn);
  }

  /** Runs `fn` in a savepoint of the transaction `root` (see the file comment). Rejects with `StoreMisuseError` once `root` has ended. */
  async nested<T>(root: Frame, fn: (frame: Frame) => Promise<T>): Promise<T> {
    if (!root.open) throw ended();
    const level = this.levelIn(root);
    const frame = await this.schedule(level, () => {
      if (!root.open) throw ended();
      this.assertLive(root);
      return this.begin(openAncestor(level));
    });
    return this.body(frame, fn);
  }

  /** Opens a transaction (no parent) or a savepoint of `parent`. */
  private begin(parent: Frame | undefined): Frame {
    let savepoint: string | undefined;
    if (parent) {
      savepoint = `agentbridge_nested_${++this.savepoints}`;
      this.db.exec(`SAVEPOINT ${savepoint}`);
    } else {
      this.db.exec(this.db.readonly ? 'BEGIN' : 'BEGIN IMMEDIATE');
    }
    const frame = new Frame(parent, savepoint);
    this.stack.push(frame);
    return frame;
  }

  /** Runs `fn` inside `frame`, then ends the frame once the connection is free for it. */
  private async body<T>(frame: Frame, fn: (frame: Frame) => Promise<T>): Promise<T> {
    let outcome: { ok: true; value: T } | { ok: false; err: unknown };
    try {
      outcome = { ok: true, value: await this.context.run(frame, () => fn(frame)) };
    } catch (err) {
      outcome = { ok: false, err };
    }
    // Queued behind the calls made inside the frame, and after its nested transactions.
    await this.schedule(frame, () => this.end(frame, outcome.ok));
    if (!outcome.ok) throw outcome.err;
    return outcome.value;
  }

  /** Commits (`ok`) or rolls back `frame`, the innermost open frame; throws when a commit failed (after rolling back). */
  private end(frame: Frame, ok: boolean): void {
    try {
      if (ok) {
        try {
          this.assertLive(frame.root);
          this.db.exec(frame.savepoint ? `RELEASE ${frame.savepoint}` : 'COMMIT');
          return;
        } catch (err) {
          this.undo(frame);
          throw err;
        }
      }
      this.undo(frame);
    } finally {
      frame.open = false;
      this.stack.pop();
    }
  }

  /** Rolls `frame` back; an error of the rollback itself is not thrown (the caller's error is the one that matters). */
  private undo(frame: Frame): void {
    if (!this.db.open || !this.db.inTransaction) return;
    try {
      if (frame.savepoint) {
        this.db.exec(`ROLLBACK TO ${frame.savepoint}`);
        this.db.exec(`RELEASE ${frame.savepoint}`);
      } else {
        this.db.exec('ROLLBACK');
      }
    } catch (err) {
      // Never run later calls inside a transaction nobody will commit.
      if (!frame.savepoint && this.db.inTransaction)
        this.broken = new Error('the database connection is stuck in a transaction that could not be rolled back', { cause: err });
    }
  }

  /** Throws {@link TransactionRolledBackError} when SQLite rolled back the transaction of `root` on its own. */
  private assertLive(root: Frame): void {
    if (this.db.open && !this.db.inTransaction) throw new TransactionRolledBackError(root.lastError);
  }

  private assertNotBroken(): void {
    if (this.broken && this.db.open && !this.db.inTransaction) this.broken = undefined;
    if (this.broken) throw this.broken;
  }

  /**
   * Runs `start` (synchronously) when the connection is free for `level` (see {@link ready}) and
   * no earlier call waits for the same level, and settles with its result.
   */
  private schedule<T>(level: Frame | undefined, start: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const admit = (): void => {
        try {
          resolve(start());
        } catch (err) {
          reject(err);
        }
      };
      if (!this.pumping && this.ready(level) && !this.waiting.some((w) => w.level === level)) {
        admit();
        if (this.waiting.length > 0) this.pump();
      } else {
        this.waiting.push({ level, admit });
        this.pump();
      }
    });
  }

  /** Lets waiting calls through, oldest first, while the connection is free for them. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let i = 0; i < this.waiting.length;) {
        const w = this.waiting[i]!;
        if (this.ready(w.level)) {
          this.waiting.splice(i, 1);
          w.admit();
          i = 0; // a frame may have ended: earlier waiters may be free now
        } else {
          i++;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private top(): Frame | undefined {
    return this.stack[this.stack.length - 1];
  }

  /**
   * Whether a call for `level` may run now: its frame — or, once that has ended, its innermost
   * open ancestor — is the innermost open frame (undefined: no transaction is open). A call of a
   * transaction that has ended may "run" at once (to reject).
   */
  private ready(level: Frame | undefined): boolean {
    if (level === undefined) return this.top() === undefined;
    return !level.root.open || openAncestor(level) === this.top();
  }

  /** The innermost open frame of the caller's async context, if any. */
  private inContext(): Frame | undefined {
    let frame = this.context.getStore();
    while (frame && !frame.open) frame = frame.parent;
    return frame;
  }

  /** The frame a call of transaction `root` belongs to: the caller's innermost open frame of it, else `root`. */
  private levelIn(root: Frame): Frame {
    const inside = this.inContext();
    return inside?.root === root ? inside : root;
  }
}

/**
 * A call (or the end) of a transaction that SQLite rolled back on its own after one of its
 * statements failed (e.g. SQLITE_FULL while spilling pages): nothing of the transaction was
 * stored. `cause` is that statement's error, `code` its code (so that it counts as the same
 * storage fault).
 */
export class TransactionRolledBackError extends Error {
  override readonly name = 'TransactionRolledBackError';
  readonly code: string | undefined;

  constructor(cause: unknown) {
    const code = (cause as { code?: unknown } | undefined)?.code;
    const why = cause instanceof Error ? ` (${typeof code === 'string' ? `${code}: ` : ''}${cause.message})` : '';
    super(`the transaction was rolled back by SQLite after an error of one of its statements${why}; nothing of it was stored`, { cause });
    this.code = typeof code === 'string' ? code : undefined;
  }
}

/** `frame`, or its innermost open ancestor when it has ended (its transaction must be open). */
function openAncestor(frame: Frame): Frame {
  let f = frame;
  while (!f.open && f.parent) f = f.parent;
  return f;
}

function misuse(): StoreMisuseError {
  return new StoreMisuseError('a store call inside a transaction must use the transaction’s tx, not the outer store');
}

function ended(): StoreMisuseError {
  return new StoreMisuseError('the transaction has already ended');
}
