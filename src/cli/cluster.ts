/**
 * `agentbridge cluster status|retry|skip` (docs/ARCHITECTURE.md §10, "Cluster mode — visibility"):
 * run beside the instances of a cluster on its PostgreSQL database (AGENTBRIDGE_DATABASE_URL).
 * - `status [--json]`: the instances (id, host, roles, heartbeat age, turns running, live), the
 *   holder of each leader lease, the turn queue's depth and the blocked conversations.
 * - `retry <conversation>`: a blocked conversation's failed wake-up job runs again (first in its line).
 * - `skip <conversation>`: its unanswered messages are closed failed and its later messages run.
 * The store opens read-only for `status` and `retry`, writable beside the service for `skip`;
 * pg-boss opens without maintenance (src/cluster/turn-queue.ts). Exit codes: 0 ok; 1 not blocked,
 * pg-boss not installed, or a failure (e.g. the database is unreachable); 2 bad usage, or not on
 * PostgreSQL.
 */
import type { Command } from 'commander';
import type { Config } from '../core/config.js';
import { maskSecrets } from '../logger.js';
import { blockedNotice, retryBlocked, skipBlocked } from '../cluster/blocked.js';
import { formatClusterStatusText, gatherClusterStatus, type LeaseHolder } from '../cluster/status.js';
import { openQueueReader, QueueNotInstalledError, type TurnQueue } from '../cluster/turn-queue.js';
import type { AppStore } from '../store/open.js';
import { configOrExit, fail } from './env.js';
import { withStore } from './store-access.js';

/** What the cluster commands need beyond the store (wired in src/cli.ts). */
export interface ClusterCommandDeps {
  /** The holder of each leader lease (src/store/pg-lease.ts); absent: `status` shows them as unknown. */
  leaseHolders?: (store: AppStore, config: Config) => Promise<LeaseHolder[]>;
}

const NOT_INSTALLED = 'no turn queue in this database yet: pg-boss is installed by the first agentbridge started in cluster mode (AGENTBRIDGE_CLUSTER=1)';

/** Exits 2 unless the store is PostgreSQL (cluster mode needs it); returns its URL. */
function clusterUrlOrExit(config: Config): string {
  if (config.database.backend !== 'postgres')
    fail('cluster commands need the cluster’s PostgreSQL database: set AGENTBRIDGE_DATABASE_URL (cluster mode runs on PostgreSQL only)', 2);
  return config.database.url;
}

/** An error's message with any URL password masked. */
function message(err: unknown): string {
  return maskSecrets(err instanceof Error ? err.message : String(err));
}

/**
 * Runs `fn` with pg-boss on `url` (undefined when it is not installed and `optional`); exits 1
 * when it is not installed (and not optional) or cannot be opened.
 */
async function withQueue<T>(url: string, optional: boolean, fn: (queue: TurnQueue | undefined) => Promise<T>): Promise<T> {
  let reader: Awaited<ReturnType<typeof openQueueReader>> | undefined;
  try {
    reader = await openQueueReader(url);
  } catch (err) {
    if (!(err instanceof QueueNotInstalledError)) fail(`the turn queue (pg-boss) could not be opened: ${message(err)}`);
    if (!optional) fail(NOT_INSTALLED);
  }
  try {
    return await fn(reader?.boss);
  } finally {
    await reader?.close().catch(() => {});
  }
}

/** Runs a subcommand's body; a thrown error exits 1 with its (masked) message. */
async function guarded(what: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    fail(`cluster ${what}: ${message(err)}`);
  }
}

/** Registers `agentbridge cluster …` on `program`. */
export function registerClusterCommands(program: Command, deps: ClusterCommandDeps = {}): void {
  const cluster = program.command('cluster').description('cluster mode: instances, leases, turn queue and blocked conversations (PostgreSQL)');

  cluster
    .command('status')
    .description('show the instances, the holder of each lease, the turn queue and the blocked conversations')
    .option('--json', 'print the status as JSON')
    .action(async (opts: { json?: boolean }) => {
      const url = clusterUrlOrExit(configOrExit());
      await withStore({ mode: 'inspect' }, (store, config) =>
        guarded('status', () =>
          withQueue(url, true, async (queue) => {
            const leaseHolders = deps.leaseHolders && (() => deps.leaseHolders!(store, config));
            const status = await gatherClusterStatus({ instances: store.clusterInstances, leaseHolders, queue });
            if (opts.json) process.stdout.write(JSON.stringify(status, null, 2) + '\n');
            else process.stdout.write(formatClusterStatusText(status) + (queue ? '' : `(${NOT_INSTALLED})\n`));
          }),
        ),
      );
    });

  cluster
    .command('retry <conversation>')
    .description('run a blocked conversation again: its failed turn first, then its later messages')
    .action(async (conversation: string) => {
      const url = clusterUrlOrExit(configOrExit());
      await guarded('retry', () =>
        withQueue(url, false, async (queue) => {
          const r = await retryBlocked(queue!, conversation);
          if (r.jobIds.length === 0) fail(`${conversation} is not blocked (see: agentbridge cluster status)`);
          process.stdout.write(
            `retry: ${conversation}: ${r.jobIds.length} failed job${r.jobIds.length === 1 ? '' : 's'} queued again (${r.jobIds.join(', ')})\n`,
          );
          process.stdout.write(`notice for the conversation: ${blockedNotice(r)}\n`);
        }),
      );
    });

  cluster
    .command('skip <conversation>')
    .description("drop a blocked conversation's unanswered messages (closed failed) so its later messages run")
    .action(async (conversation: string) => {
      const url = clusterUrlOrExit(configOrExit());
      await withStore({ mode: 'beside' }, (store) =>
        guarded('skip', () =>
          withQueue(url, false, async (queue) => {
            const r = await skipBlocked(queue!, store.inbox, conversation);
            if (r.jobIds.length === 0) fail(`${conversation} is not blocked (see: agentbridge cluster status)`);
            const n = r.failedEventKeys.length;
            process.stdout.write(
              `skip: ${conversation}: ${r.jobIds.length} failed job${r.jobIds.length === 1 ? '' : 's'} removed, ${n} message${n === 1 ? '' : 's'} closed failed\n`,
            );
            for (const key of r.failedEventKeys) process.stdout.write(`  ${key}\n`);
            process.stdout.write(`notice for the conversation: ${blockedNotice(r)}\n`);
          }),
        ),
      );
    });
}
