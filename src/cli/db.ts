/**
 * `agentbridge db init [--force]|checkpoint|vacuum|prune --before <date> [--yes|--dry-run]|copy`: maintenance of the store
 * (SQLite in the data directory, or PostgreSQL with AGENTBRIDGE_DATABASE_URL; `copy`: ./db-copy.ts).
 * `prune` deletes only with `--yes`: without it (or with `--dry-run`) it prints what it would
 * delete per table and deletes nothing (exit 1 without --yes when there is something to delete,
 * with the command to run; exit 0 for --dry-run or when nothing is old enough).
 * With `--yes` it then removes the git worktree and branch of every pruned conversation
 * (`conversation_worktrees` rows whose conversation is gone, also from earlier prunes) unless it has
 * uncommitted changes or commits on no remote branch; those are kept and listed (./projects.ts).
 * `init` creates an empty database (refusing while agentbridge runs; SQLite: `--force` when its marker says
 * a database disappeared, or to move an existing one aside; PostgreSQL: applies the schema to an
 * empty database, refuses one that has it and refuses `--force`).
 * `checkpoint` is safe while the service runs (SQLite coordinates WAL checkpoints; PostgreSQL runs
 * `CHECKPOINT` when the role may, else says it is not needed); `vacuum` (PostgreSQL: `VACUUM
 * (ANALYZE)`) and `prune` rewrite or delete data and refuse while a running agentbridge owns the data
 * directory or the PostgreSQL database (they take the owner lock themselves: ./store-access.ts).
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../core/config.js';
import { inspectDatabase } from '../store/describe.js';
import { prune, vacuum, walCheckpoint } from '../store/maintenance.js';
import { DatabaseMissingError } from '../store/marker.js';
import { describeDatabase, openAppStore } from '../store/open.js';
import { checkpointPostgres, vacuumPostgres } from '../store/pg-maintenance.js';
import { initDatabase } from '../store/store.js';
import { registerDbCopyCommand } from './db-copy.js';
import { configOrExit, fail } from './env.js';
import { pruneWorktrees } from './projects.js';
import { cliLogger, ownerOrExit, withStore } from './store-access.js';

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
  const db = program.command('db').description('maintain the session store (SQLite in the data directory, or AGENTBRIDGE_DATABASE_URL)');
  db.command('init')
    .description('create an empty database (agentbridge must be stopped)')
    .option('--force', 'SQLite: also when the marker says a database disappeared; an existing database is moved aside, never deleted')
    .action(async (opts: { force?: boolean }) => {
      const config = configOrExit();
      const logger = cliLogger();
      const owner = await ownerOrExit(config, logger, 'This command replaces the database, so it runs only while agentbridge is stopped.');
      try {
        if (config.database.backend === 'postgres') await initPostgres(config, opts.force === true);
        else initSqlite(config, opts.force === true);
      } finally {
        await owner.release();
      }
    });
  db.command('checkpoint')
    .description('SQLite: write the WAL into the database file; PostgreSQL: CHECKPOINT when allowed (not needed). Safe while agentbridge runs')
    .action(() =>
      withStore({ mode: 'beside' }, async (store) => {
        if (store.backend === 'postgres') {
          process.stdout.write(`${await checkpointPostgres(store.pool)}\n`);
          return;
        }
        const r = walCheckpoint(store.db);
        process.stdout.write(`checkpoint: ${r.checkpointed} of ${r.log} WAL frames written${r.busy ? ' (database busy: partial)' : ''}\n`);
      }),
    );
  db.command('vacuum')
    .description('SQLite: rebuild the database file to reclaim space; PostgreSQL: VACUUM (ANALYZE) of its tables (agentbridge must be stopped)')
    .action(() =>
      withStore({ mode: 'exclusive' }, async (store) => {
        if (store.backend === 'postgres') {
          process.stdout.write(`${await vacuumPostgres(store.pool)}\n`);
          return;
        }
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
      const code = await withStore({ mode: 'exclusive' }, async (store) => {
        const plan = await prune(store.sql, before, { dryRun: true });
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
        const report = await prune(store.sql, before);
        process.stdout.write(pruneLines('removed', before, report).join('\n') + '\n');
        return 0;
      });
      if (code !== 0) process.exit(code);
      // The worktrees of conversations pruned now or before: removed, or kept and reported.
      if (opts.yes && !opts.dryRun) {
        await withStore({ mode: 'beside' }, async (store, config) => {
          const lines = await pruneWorktrees(store, config.agentEnv);
          if (lines.length) process.stdout.write(['prune: worktrees of pruned conversations', ...lines].join('\n') + '\n');
        });
      }
    });
  registerDbCopyCommand(db);
}

/** `db init` on SQLite (the owner lock held): an empty database at `config.dbPath`; `force` as the option says. Exits 1/2 with the reason. */
function initSqlite(config: Config, force: boolean): void {
  try {
    const r = initDatabase(config.dbPath, { force, logger: cliLogger() });
    if (r.movedTo) process.stdout.write(`db init: moved the previous database files to ${r.movedTo}\n`);
    process.stdout.write(`db init: created an empty database ${config.dbPath} (id ${r.marker.id})\n`);
  } catch (err) {
    if (err instanceof DatabaseMissingError)
      fail(
        `${err.dbPath} is missing but its marker says a database was created there; run \`agentbridge db init --force\` to start with an empty one (or restore it from a backup)`,
      );
    fail((err as Error).message);
  }
}

/**
 * `db init` on PostgreSQL (the owner lock held): applies agentbridge's schema to a database that
 * has none (the migrations run when the store opens). Refuses a database that has it already, and
 * `--force` (agentbridge never drops a PostgreSQL database's data). Exits 1 with the reason.
 */
async function initPostgres(config: Config, force: boolean): Promise<void> {
  const where = describeDatabase(config.database);
  if (force) {
    fail(
      `db init --force is for SQLite only: agentbridge does not delete or move a PostgreSQL database. To start empty, drop and create the database with the server's tools (e.g. dropdb and createdb), then run agentbridge db init (${where})`,
    );
  }
  const report = await inspectDatabase(config.database, cliLogger());
  if (report.backend !== 'postgres') return;
  if (report.state === 'error') fail(`cannot reach ${where}: ${report.error}`);
  if (report.schemaVersion > 0) {
    fail(
      `${where} already holds agentbridge's schema (version ${report.schemaVersion}); nothing was changed. To start empty, drop and create the database with the server's tools, then run agentbridge db init again`,
    );
  }
  let store;
  try {
    store = await openAppStore({ database: config.database, logger: cliLogger() });
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  await store.close();
  process.stdout.write(`db init: created agentbridge's schema (version ${report.knownVersion}) in the empty database ${where}\n`);
}
