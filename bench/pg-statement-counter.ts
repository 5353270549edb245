/**
 * Counts the statements node-postgres sends, the transactions they make and the time spent waiting
 * for their results, for the bridge bench (per turn on PostgreSQL). Counting wraps
 * `pg.Client.prototype.query` once per process: every `pg` client of the process is counted, the
 * store's pool included.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';

/** Running totals since the counter was installed. */
export interface StatementCounts {
  /** Statements sent (BEGIN, COMMIT and ROLLBACK included). */
  statements: number;
  /** Transactions: each BEGIN, and each statement sent outside one (it commits on its own). */
  transactions: number;
  /**
   * Wall time from sending each statement to its result, summed (ms; concurrent statements each
   * count in full). Statements sent with a callback instead of a promise are not timed.
   */
  statementMs: number;
}

const counts: StatementCounts = { statements: 0, transactions: 0, statementMs: 0 };
const inTransaction = new WeakSet<object>();
let installed = false;

/** Starts counting (idempotent) and returns the live totals; read them before and after a measurement. */
export function countPgStatements(): Readonly<StatementCounts> {
  if (installed) return counts;
  installed = true;
  const proto = pg.Client.prototype as unknown as { query: (this: object, ...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: object, ...args: unknown[]) {
    const first = args[0];
    const text = (typeof first === 'string' ? first : ((first as { text?: unknown } | undefined)?.text ?? '')) as string;
    const word = /^\s*(\w+)/.exec(String(text))?.[1]?.toLowerCase();
    counts.statements++;
    if (word === 'begin' || word === 'start') {
      inTransaction.add(this);
      counts.transactions++;
    } else if (word === 'commit' || word === 'rollback' || word === 'end' || word === 'abort') {
      inTransaction.delete(this);
    } else if (!inTransaction.has(this)) {
      counts.transactions++;
    }
    const t0 = performance.now();
    const result = original.apply(this, args);
    if (result instanceof Promise) {
      const timed = () => {
        counts.statementMs += performance.now() - t0;
      };
      result.then(timed, timed);
    }
    return result;
  };
  return counts;
}
