/**
 * `agentbridge db copy --from sqlite:PATH --to postgres://…`: copies every table of a stopped
 * SQLite database into an empty PostgreSQL database and checks the copy (src/store/copy.ts), then
 * says how to start on it. Exit codes: 0 copied and checked; 1 refused or failed (nothing copied);
 * 2 usage (an option missing or not of its form). The target URL is printed without its password.
 */
import type { Command } from 'commander';
import { copyDatabase, CopyCheckError, CopyRefusedError, type CopyReport } from '../store/copy.js';
import { redactUrl } from '../store/postgres.js';
import { fail } from './env.js';
import { cliLogger } from './store-access.js';

/** What `--from` and `--to` name, checked. */
export interface CopyEndpoints {
  /** The SQLite database file (as given, after `sqlite:`). */
  fromPath: string;
  /** The PostgreSQL URL. */
  toUrl: string;
}

/** A `--from`/`--to` that is not of its form; the message says what is expected (no password in it). */
export class CopyUsageError extends Error {
  override readonly name = 'CopyUsageError';
}

/**
 * Checks the options (pure): `from` is `sqlite:PATH` (PATH non-empty), `to` a `postgres://` or
 * `postgresql://` URL with a host and a database. Throws {@link CopyUsageError}.
 */
export function parseCopyEndpoints(from: string, to: string): CopyEndpoints {
  if (!from.startsWith('sqlite:') || from.length === 'sqlite:'.length) {
    throw new CopyUsageError(`--from must be sqlite:PATH, the SQLite database file (e.g. sqlite:./data/agentbridge.db); got "${from}"`);
  }
  const form = 'postgres://USER:PASSWORD@HOST:5432/DATABASE';
  if (!/^postgres(ql)?:\/\//.test(to)) throw new CopyUsageError(`--to must be a PostgreSQL URL, ${form}; got ${redactUrl(to)}`);
  let url: URL;
  try {
    url = new URL(to);
  } catch {
    throw new CopyUsageError(`--to is not a valid URL (expected ${form}; a password with special characters must be percent-encoded)`);
  }
  if (!url.hostname || url.pathname.length <= 1) throw new CopyUsageError(`--to must name a host and a database, ${form}; got ${redactUrl(to)}`);
  return { fromPath: from.slice('sqlite:'.length), toUrl: to };
}

/** The lines printed after a copy (pure): per table its rows, the check, and the next step. */
export function copyReportLines(report: CopyReport): string[] {
  const width = Math.max(...report.tables.map((t) => t.table.length));
  return [
    `db copy: ${report.from} → ${report.to} (schema version ${report.schemaVersion})`,
    ...report.tables.map((t) => `  ${t.table.padEnd(width)}  ${t.rows} ${t.rows === 1 ? 'row' : 'rows'}`),
    `checked: ${report.tables.length} tables, ${report.rows} rows identical`,
    '',
    'Next: set AGENTBRIDGE_DATABASE_URL to this URL (with its password) in .env or the environment, and start agentbridge:',
    `  AGENTBRIDGE_DATABASE_URL=${report.to.replace('***', 'PASSWORD')}`,
    `The SQLite database ${report.from} is unchanged; keep it as a backup until you no longer need it.`,
  ];
}

/** Adds `copy` to the `db` command. */
export function registerDbCopyCommand(db: Command): void {
  db.command('copy')
    .description('copy every table of a stopped SQLite database into an empty PostgreSQL database, and check the copy')
    .requiredOption('--from <sqlite:PATH>', 'the SQLite database file, e.g. sqlite:./data/agentbridge.db (its agentbridge must be stopped)')
    .requiredOption('--to <url>', 'the PostgreSQL database, postgres://USER:PASSWORD@HOST:5432/DATABASE (must be empty)')
    .action(async (opts: { from: string; to: string }) => {
      let endpoints: CopyEndpoints;
      try {
        endpoints = parseCopyEndpoints(opts.from, opts.to);
      } catch (err) {
        fail((err as Error).message, 2);
      }
      let report: CopyReport;
      try {
        report = await copyDatabase({
          ...endpoints,
          logger: cliLogger(),
          onProgress: (p) => {
            if (process.stderr.isTTY && p.total >= 10_000) process.stderr.write(`\r  ${p.table}: ${p.copied}/${p.total}${p.copied === p.total ? '\n' : ''}`);
          },
        });
      } catch (err) {
        if (err instanceof CopyRefusedError || err instanceof CopyCheckError) fail(err.message);
        fail(`db copy failed, nothing was copied: ${err instanceof Error ? err.message : String(err)}`);
      }
      process.stdout.write(copyReportLines(report).join('\n') + '\n');
    });
}
