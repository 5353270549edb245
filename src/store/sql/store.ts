/**
 * A {@link Store} over a Kysely instance (either backend): one repository per table, all bound to
 * the same {@link SqlContext}, and `transaction` binding a second set to the transaction.
 *
 * A store call made on the outer store from inside a transaction's async context would run
 * outside it — on PostgreSQL on another pooled connection (and could wait for a row lock the
 * transaction holds), on SQLite behind the transaction (Kysely's SQLite driver holds its one
 * connection until the transaction ends: a deadlock). Such a call is refused with
 * `StoreMisuseError` instead (tracked with `AsyncLocalStorage`).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { sql } from 'kysely';
import type { Backend, Sql, SqlContext } from './kysely.js';
import { StoreMisuseError, type Store } from '../types.js';
import { createApprovalRulesRepo } from './repos/approval-rules.js';
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

/** The repositories of a store, without `transaction` and `close`. */
export type Repos = Omit<Store, 'transaction' | 'close'>;

/** Every repository bound to `ctx`. */
export function createRepos(ctx: SqlContext): Repos {
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
  };
}

/** A transaction of the store, while it runs. */
interface TxState {
  open: boolean;
}

/** `repos` with each method first checking `check()` (which throws to refuse the call). */
function guard(repos: Repos, check: () => void): Repos {
  const out: Record<string, unknown> = {};
  for (const [name, repo] of Object.entries(repos)) {
    const wrapped: Record<string, unknown> = {};
    for (const [method, fn] of Object.entries(repo as unknown as Record<string, unknown>)) {
      wrapped[method] =
        typeof fn === 'function'
          ? (...args: unknown[]) => {
              try {
                check();
              } catch (err) {
                return Promise.reject(err);
              }
              return (fn as (...a: unknown[]) => unknown)(...args);
            }
          : fn;
    }
    out[name] = wrapped;
  }
  return out as Repos;
}

/**
 * The store over `q` (see the file comment). `close` is called once by `Store.close` after
 * Kysely's own `destroy` (which closes the SQLite connection or ends the pool).
 */
export function createSqlStore(q: Sql, backend: Backend, close: () => Promise<void> = async () => {}): Store {
  const context = new AsyncLocalStorage<TxState>();
  const outer = guard(createRepos({ q, backend }), () => {
    if (context.getStore()?.open) throw new StoreMisuseError('a store call inside a transaction must use the transaction’s tx, not the outer store');
  });
  let closed = false;
  const store: Store = {
    ...outer,
    async transaction(fn) {
      if (context.getStore()?.open) throw new StoreMisuseError('a transaction inside a transaction must use the outer transaction’s tx');
      return q.transaction().execute((trx) => {
        const state: TxState = { open: true };
        const inner = guard(createRepos({ q: trx, backend }), () => {
          if (!state.open) throw new StoreMisuseError('the transaction has already ended');
        });
        // A nested transaction is a savepoint of this one: its writes are rolled back alone when
        // its callback rejects. Nested transactions of one transaction run one after another.
        let savepoints = 0;
        let nestedChain: Promise<unknown> = Promise.resolve();
        const nestedTransaction = <T>(nested: (tx: Store) => Promise<T>): Promise<T> => {
          const run = async (): Promise<T> => {
            const name = sql.id(`ab_sp_${++savepoints}`);
            await sql`SAVEPOINT ${name}`.execute(trx);
            try {
              const result = await nested(tx);
              await sql`RELEASE SAVEPOINT ${name}`.execute(trx);
              return result;
            } catch (err) {
              await sql`ROLLBACK TO SAVEPOINT ${name}`.execute(trx);
              await sql`RELEASE SAVEPOINT ${name}`.execute(trx);
              throw err;
            }
          };
          const result = nestedChain.then(run, run);
          nestedChain = result.catch(() => undefined);
          return result;
        };
        const tx: Store = { ...inner, transaction: nestedTransaction, close: store.close };
        return context.run(state, async () => {
          try {
            return await fn(tx);
          } finally {
            state.open = false;
          }
        });
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await q.destroy();
      await close();
    },
  };
  return store;
}
