/**
 * `agentbridge db init [--force]|checkpoint|vacuum|prune --before <date> [--yes|--dry-run]`: maintenance of the store.
 * `prune` deletes only with `--yes`: without it (or with `--dry-run`) it prints what it would
 * delete per table and deletes nothing (exit 1 without --yes when there is something to delete,
 * with the command to run; exit 0 for --dry-run or when nothing is old enough).
 * With `--yes` it then removes the git worktree and branch of every pruned conversation
 * (`conversation_worktrees` rows whose conversation is gone, also from earlier prunes) unless it has
 * uncommitted changes or commits on no remote branch; those are kept and listed (./projects.ts).
 * `init` creates an empty database (refusing while agentbridge runs; `--force` when its marker says
 * a database disappeared, or to move an existing one aside).
 * `checkpoint` is safe while the service runs (SQLite coordinates WAL checkpoints); `vacuum`
 * and `prune` rewrite or delete data and refuse while a running agentbridge owns the data
 * directory (they take the owner lock themselves).
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { createLogger } from '../logger.js';
import { acquireOwnerLock, StoreLockedError } from '../store/lock.js';
import { pruneWorktrees } from './projects.js';
import { prune, vacuum, walCheckpoint } from '../store/maintenance.js';
import { DatabaseMissingError } from '../store/marker.js';
import { initDatabase, openStore, type SqliteStore } from '../store/store.js';
import { configOrExit, fail } from './env.js';

/** Opens the store for a maintenance command (`exclusive` takes the owner lock first), runs `fn`, closes the store, then releases the lock. */
async function withStore<T>(exclusive: boolean, fn: (store: SqliteStore) => T | Promise<T>): Promise<T> {
  const config = configOrExit();
  if (!fs.existsSync(config.dbPath)) fail(`no database at ${config.dbPath} (AGENTBRIDGE_DATA_DIR=${config.dataDir})`);
  let lock;
  if (exclusive) {
    try {
      lock = acquireOwnerLock(config.dataDir);
    } catch (err) {
      if (err instanceof StoreLockedError) fail(`${err.message}\nThis command changes the database, so it runs only while agentbridge is stopped.`);
      throw err;
    }
  }
  const store = openStore({ dbPath: config.dbPath, logger: createLogger('warn', process.stderr) });
  try {
    return await fn(store);
  } finally {
    await store.close();
    lock?.release();
  }
}

/** Parses a prune date: ISO date/time, or a relative age like `30d`, `12h`. */
export function parseBefore(value: string, now = Date.now()): Date {
  const rel = /^(\d+)\s*([dhw])$/.exec(value.trim());
  if (rel) {
    const unit = { h: 3_600_000, d: 86_400_000, w: 604_800_000 }[rel[2] as 'h' | 'd' | 'w'];
    return new Date(now - Number(rel[1]) * unit);
  }
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new Error(`"${value}" is not a date (use e.g. 2026-01-31, 2026-01-31T12:00:00Z, or 30d)`);
  return d;
}

/** The report of a prune (pure): `prune: <verb> rows older than <ISO>`, then `  <table>: <n>` per table. */
export function pruneLines(verb: 'removed' | 'would remove', before: Date, report: Record<string, number>): string[] {
  return [`prune: ${verb} rows older than ${before.toISOString()}`, ...Object.entries(report).map(([table, n]) => `  ${table}: ${n}`)];
}

export function registerDbCommands(program: Command): void {
  const db = program.command('db').description('maintain the session store (data directory database)');
  db.command('init')
    .description('create an empty database (agentbridge must be stopped)')
    .option('--force', 'also when the marker says a database disappeared; an existing database is moved aside, never deleted')
    .action((opts: { force?: boolean }) => {
      const config = configOrExit();
      let lock;
      try {
        lock = acquireOwnerLock(config.dataDir);
      } catch (err) {
        if (err instanceof StoreLockedError) fail(`${err.message}\nThis command replaces the database, so it runs only while agentbridge is stopped.`);
        throw err;
      }
      try {
        const r = initDatabase(config.dbPath, { force: opts.force === true, logger: createLogger('warn', process.stderr) });
        if (r.movedTo) process.stdout.write(`db init: moved the previous database files to ${r.movedTo}\n`);
        process.stdout.write(`db init: created an empty database ${config.dbPath} (id ${r.marker.id})\n`);
      } catch (err) {
        if (err instanceof DatabaseMissingError)
          fail(
            `${err.dbPath} is missing but its marker says a database was created there; run \`agentbridge db init --force\` to start with an empty one (or restore it from a backup)`,
          );
        fail((err as Error).message);
      } finally {
        lock.release();
      }
    });
  db.command('checkpoint')
    .description('write the WAL into the database file (safe while agentbridge runs)')
    .action(() =>
      withStore(false, (store) => {
        const r = walCheckpoint(store.db);
        process.stdout.write(`checkpoint: ${r.checkpointed} of ${r.log} WAL frames written${r.busy ? ' (database busy: partial)' : ''}\n`);
      }),
    );
  db.command('vacuum')
    .description('rebuild the database file to reclaim space (agentbridge must be stopped)')
    .action(() =>
      withStore(true, (store) => {
        const before = fs.statSync(store.dbPath).size;
        vacuum(store.db);
        const after = fs.statSync(store.dbPath).size;
        process.stdout.write(`vacuum: ${store.dbPath} ${before} → ${after} bytes\n`);
      }),
    );
  db.command('prune')
    .description('delete finished data older than a date (agentbridge must be stopped); shows what it would delete unless --yes')
    .requiredOption('--before <date>', 'ISO date/time, or an age such as 30d, 12h, 2w')
    .option('--yes', 'delete without asking (without it, prune only shows what it would delete and exits 1)')
    .option('--dry-run', 'only show what would be deleted (exit 0)')
    .action(async (opts: { before: string; yes?: boolean; dryRun?: boolean }) => {
      let before: Date;
      try {
        before = parseBefore(opts.before);
      } catch (err) {
        fail((err as Error).message, 2);
      }
      const code = await withStore(true, (store) => {
        const plan = prune(store, before, { dryRun: true });
        const total = Object.values(plan).reduce((a, b) => a + b, 0);
        if (opts.dryRun || !opts.yes || total === 0) {
          process.stdout.write(pruneLines('would remove', before, plan).join('\n') + '\n');
          if (total === 0) {
            process.stdout.write('Nothing to prune.\n');
            return 0;
          }
          if (opts.dryRun) return 0;
          process.stderr.write(
            `agentbridge: nothing was deleted. To delete these ${total} rows, run again with --yes: agentbridge db prune --before ${opts.before} --yes\n`,
          );
          return 1;
        }
        const report = prune(store, before);
        process.stdout.write(pruneLines('removed', before, report).join('\n') + '\n');
        return 0;
      });
      if (code !== 0) process.exit(code);
      // The worktrees of conversations pruned now or before: removed, or kept and reported.
      if (opts.yes && !opts.dryRun) {
        const config = configOrExit();
        const store = openStore({ dbPath: config.dbPath, logger: createLogger('warn', process.stderr) });
        try {
          const lines = await pruneWorktrees(store, config.agentEnv);
          if (lines.length) process.stdout.write(['prune: worktrees of pruned conversations', ...lines].join('\n') + '\n');
        } finally {
          await store.close();
        }
      }
    });
}
