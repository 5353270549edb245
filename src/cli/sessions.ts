/**
 * `agentbridge sessions list|show|delete`: inspect conversations in the data directory.
 * `list` and `show` open the database read-only and are safe while the service runs;
 * `delete` refuses while a running agentbridge owns the data directory or the PostgreSQL database
 * (./store-access.ts).
 */
import type { Command } from 'commander';
import { fail } from './env.js';
import { withStore } from './store-access.js';

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

export function registerSessionCommands(program: Command): void {
  const sessions = program.command('sessions').description('inspect conversations and their agent sessions');
  sessions
    .command('list')
    .description('list conversations, most recently active first')
    .option('--limit <n>', 'how many', '50')
    .action(async (opts: { limit: string }) => {
      await withStore({ mode: 'inspect' }, async (store) => {
        const rows = await store.conversations.list({ limit: Number(opts.limit) || 50 });
        if (!rows.length) process.stdout.write('no conversations yet\n');
        for (const c of rows) {
          process.stdout.write(`${c.id}  agent=${c.agent ?? 'default'}  session=${c.agentSessionId ?? '-'}  updated=${iso(c.updatedAt)}\n`);
        }
      });
    });
  sessions
    .command('show <conversation>')
    .description('show one conversation: agent session, seeding, transcript')
    .option('--entries <n>', 'how many transcript entries (newest)', '20')
    .action(async (id: string, opts: { entries: string }) => {
      await withStore({ mode: 'inspect' }, async (store) => {
        const c = await store.conversations.get(id);
        if (!c) fail(`no conversation "${id}" (see: agentbridge sessions list)`);
        const out = [
          `conversation   ${c.id}`,
          `platform       ${c.platform}  channel=${c.channel}${c.thread ? `  thread=${c.thread}` : ''}`,
          `agent          ${c.agent ?? 'default'}${c.model ? `  model=${c.model}` : ''}`,
          `agent session  ${c.agentSessionId ?? '-'}${c.agentSessionAgent ? ` (${c.agentSessionAgent})` : ''}`,
          `workdir        ${c.workdir ?? 'default'}`,
          `seeded from    ${c.seededFrom ?? '-'}`,
          `created        ${iso(c.createdAt)}   updated ${iso(c.updatedAt)}`,
          '',
        ];
        for (const e of await store.entries.list(id, { limit: Number(opts.entries) || 20 })) {
          const who = e.role === 'user' ? (e.author ?? 'user') : e.role;
          const cost = e.costUsd != null ? `  $${e.costUsd.toFixed(4)}` : '';
          out.push(`[${iso(e.createdAt)}] #${e.id} ${who}${cost}: ${e.text.length > 300 ? `${e.text.slice(0, 300)}…` : e.text}`);
        }
        process.stdout.write(out.join('\n') + '\n');
      });
    });
  sessions
    .command('delete <conversation>')
    .description('delete a conversation and its transcript (agentbridge must be stopped)')
    .action(async (id: string) => {
      await withStore({ mode: 'exclusive', whyExclusive: 'Deleting changes the database, so it runs only while agentbridge is stopped.' }, async (store) => {
        if (!(await store.conversations.delete(id))) fail(`no conversation "${id}"`);
        process.stdout.write(`deleted ${id}\n`);
      });
    });
}
