/**
 * A {@link Store} over a Kysely instance (either backend): one repository per table, all bound to
 * the same {@link SqlContext}, and `transaction` binding a second set to the transaction.
 *
 * Order and waiting:
 * - SQLite (one connection): every call of the outer store, every transaction and `close` take
 *   turns in the order they were made ({@link FifoMutex}); a call made while a transaction is
 *   open waits until it has ended. PostgreSQL: they run at once, each on a pooled connection.
 * - Inside a transaction, its calls run one at a time in call order, and a nested
 *   `tx.transaction` is a savepoint (transaction-frames.ts): calls made outside an open nested
 *   transaction wait until it has ended; the transaction commits only after every call and nested
 *   transaction started inside it has ended.
 *
 * A store call made on the outer store from inside a transaction's async context would run
 * outside it — on PostgreSQL on another pooled connection (and could wait for a row lock the
 * transaction holds), on SQLite behind the transaction (a deadlock). Such a call is refused with
 * `StoreMisuseError` instead (tracked with `AsyncLocalStorage`), as is a call of a transaction's
 * `tx` after the transaction has ended.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { sql } from 'kysely';
import { runDirectlyIn, type Backend, type Sql, type SqlContext } from './kysely.js';
import { FifoMutex } from './fifo-mutex.js';
import { Frame, FrameScheduler } from './transaction-frames.js';
import { StoreMisuseError, type Store } from '../types.js';
import { createApprovalRulesRepo } from './repos/approval-rules.js';
import { createClusterInstancesRepo } from './repos/cluster-instances.js';
import { createConversationsRepo } from './repos/conversations.js';
import { createCronJobsRepo } from './repos/cron-jobs.js';
import { createCronRunsRepo } from './repos/cron-runs.js';
import { createEntriesRepo } from './repos/entries.js';
import { createInboxRepo } from './repos/inbox.js';
import { createInteractionsRepo } from './repos/interactions.js';
import { createLocalMessagesRepo } from './repos/local-messages.js';
import { createLocalUploadsRepo } from './repos/local-uploads.js';
import { createLocalUsersRepo } from './repos/local-users.js';
import { createOutboxRepo } from './repos/outbox.js';
import { createPlatformStateRepo } from './repos/platform-state.js';
import { createPostedMessagesRepo } from './repos/posted-messages.js';
import { createProjectsRepo } from './repos/projects.js';
import { createScheduledMessagesRepo } from './repos/scheduled-messages.js';
import { createTurnJobsRepo, type TurnJobsHolder } from './repos/turn-jobs.js';
import { createDeliveryLeasesRepo } from './repos/delivery-leases.js';
import { createSessionFilesRepo } from './repos/session-files.js';

/** The repositories of a store, without `transaction` and `close`. */
export type Repos = Omit<Store, 'transaction' | 'close'>;

/** Every repository bound to `ctx`; `jobs` holds cluster mode's wake-up job sender (none: `wake` does nothing). */
export function createRepos(ctx: SqlContext, jobs: TurnJobsHolder = {}): Repos {
  return {
    conversations: createConversationsRepo(ctx),
    entries: createEntriesRepo(ctx),
    postedMessages: createPostedMessagesRepo(ctx),
    inbox: createInboxRepo(ctx),
    outbox: createOutboxRepo(ctx),
    localMessages: createLocalMessagesRepo(ctx),
    platformState: createPlatformStateRepo(ctx),
    cronJobs: createCronJobsRepo(ctx),
    cronRuns: createCronRunsRepo(ctx),
    scheduledMessages: createScheduledMessagesRepo(ctx),
    localUsers: createLocalUsersRepo(ctx),
    localUploads: createLocalUploadsRepo(ctx),
    interactions: createInteractionsRepo(ctx),
    approvalRules: createApprovalRulesRepo(ctx),
    projects: createProjectsRepo(ctx),
    turnJobs: createTurnJobsRepo(ctx, jobs),
    deliveryLeases: createDeliveryLeasesRepo(ctx),
    clusterInstances: createClusterInstancesRepo(ctx),
    sessionFiles: createSessionFilesRepo(ctx),
  };
}

/** Runs one repository call (`call`) — at once, later, or not at all (rejecting). */
type Invoke = (call: () => Promise<unknown>) => Promise<unknown>;

/** `repos` with every method call passed through `invoke`. */
function wrap(repos: Repos, invoke: Invoke): Repos {
  const out: Record<string, unknown> = {};
  for (const [name, repo] of Object.entries(repos)) {
    const wrapped: Record<string, unknown> = {};
    for (const [method, fn] of Object.entries(repo as unknown as Record<string, unknown>)) {
      wrapped[method] = typeof fn === 'function' ? (...args: unknown[]) => invoke(() => (fn as (...a: unknown[]) => Promise<unknown>)(...args)) : fn;
    }
    out[name] = wrapped;
  }
  return out as Repos;
}

function misuse(): StoreMisuseError {
  return new StoreMisuseError('a store call inside a transaction must use the transaction’s tx, not the outer store');
}

function ended(): StoreMisuseError {
  return new StoreMisuseError('the transaction has already ended');
}

/** The outcome of a callback. */
type Outcome<T> = { ok: true; value: T } | { ok: false; err: unknown };

/**
 * The store over `q` (see the file comment). `close` is called once by `Store.close` after
 * Kysely's own `destroy` (which closes the SQLite connection or ends the pool).
 */
export function createSqlStore(q: Sql, backend: Backend, close: () => Promise<void> = async () => {}, jobs: TurnJobsHolder = {}): Store {
  const context = new AsyncLocalStorage<Frame>();
  /** The innermost open frame of the caller's async context, if any. */
  const inContext = (): Frame | undefined => {
    let frame = context.getStore();
    while (frame && !frame.open) frame = frame.parent;
    return frame;
  };
  const turns = backend === 'sqlite' ? new FifoMutex() : undefined;
  const takeTurn = <T>(op: () => Promise<T>): Promise<T> => (turns ? turns.run(op) : op());
  const outer = wrap(createRepos({ q, backend }, jobs), (call) => (inContext() ? Promise.reject(misuse()) : takeTurn(call)));
  let closed = false;

  /** The body of one transaction, on Kysely's transaction `trx`. */
  const runTransaction = async <T>(trx: Sql, fn: (tx: Store) => Promise<T>): Promise<T> => {
    const root = new Frame(undefined, undefined);
    const frames = new FrameScheduler(root);
    runDirectlyIn(trx, q); // SQLite: its calls run one at a time (frames), so they may skip Kysely's hand-out
    /** The frame a call of this transaction belongs to: the caller's innermost open frame of it, else the transaction. */
    const level = (): Frame => {
      const inside = inContext();
      return inside?.root === root ? inside : root;
    };
    const inner = wrap(createRepos({ q: trx, backend }, jobs), (call) =>
      root.open
        ? frames.run(level(), () => {
            if (!root.open) throw ended();
            return call();
          })
        : Promise.reject(ended()),
    );

    /** Runs `cb` inside `frame`, then ends `frame` (ok: RELEASE, else ROLLBACK TO) once every call made inside it has run. */
    const settle = async <R>(frame: Frame, cb: () => Promise<R>, end: (ok: boolean) => Promise<void>): Promise<R> => {
      let outcome: Outcome<R>;
      try {
        outcome = { ok: true, value: await context.run(frame, cb) };
      } catch (err) {
        outcome = { ok: false, err };
      }
      await frames.run(frame, () => end(outcome.ok));
      if (!outcome.ok) throw outcome.err;
      return outcome.value;
    };

    let savepoints = 0;
    const nested = async <R>(cb: (tx: Store) => Promise<R>): Promise<R> => {
      if (!root.open) throw ended();
      const frame = await frames.run(level(), async () => {
        if (!root.open) throw ended();
        const f = new Frame(frames.top(), `ab_sp_${++savepoints}`);
        await sql`SAVEPOINT ${sql.id(f.savepoint!)}`.execute(trx);
        frames.push(f);
        return f;
      });
      const name = sql.id(frame.savepoint!);
      // An error of the rollback itself is not thrown: the callback's (or RELEASE's) error matters,
      // and a transaction the database rolled back rejects its later calls and its end anyway.
      const undo = () =>
        sql`ROLLBACK TO SAVEPOINT ${name}`
          .execute(trx)
          .then(() => sql`RELEASE SAVEPOINT ${name}`.execute(trx))
          .then(
            () => undefined,
            () => undefined,
          );
      return settle(
        frame,
        () => cb(tx),
        async (ok) => {
          try {
            if (!ok) return await undo();
            try {
              await sql`RELEASE SAVEPOINT ${name}`.execute(trx);
            } catch (err) {
              await undo();
              throw err;
            }
          } finally {
            frames.pop();
          }
        },
      );
    };

    const tx: Store = { ...inner, transaction: nested, close: store.close };
    // Kysely commits when this resolves and rolls back when it rejects; from here on no call of tx runs.
    return settle(
      root,
      () => fn(tx),
      async () => {
        root.open = false;
      },
    );
  };

  const store: Store = {
    ...outer,
    async transaction(fn) {
      if (inContext()) throw new StoreMisuseError('a transaction inside a transaction must use the outer transaction’s tx');
      return takeTurn(() => q.transaction().execute((trx) => runTransaction(trx, fn)));
    },
    async close() {
      if (inContext()) throw misuse();
      await takeTurn(async () => {
        if (closed) return;
        closed = true;
        await q.destroy();
        await close();
      });
    },
  };
  return store;
}
