/**
 * `agentbridge users add|list|remove|link|token|revoke`: the people who log in to the local web
 * chat (README "Local chat security"). Every command is safe while agentbridge runs: SQLite in WAL
 * mode (and PostgreSQL) lets this process write beside the service, and the service reads users and tokens from
 * the database on every request, so a user added now can log in at once. `add` creates the
 * database when there is none yet (so a user can exist before the first start; on PostgreSQL any
 * command creates agentbridge's schema in an empty database).
 *
 * Links start with AGENTBRIDGE_PUBLIC_URL, else `http://127.0.0.1:<AGENTBRIDGE_HTTP_PORT>`.
 * Exit codes: 0 ok; 1 unknown user / no database; 2 invalid name or configuration.
 */
import type { Command } from 'commander';
import type { Config } from '../core/config.js';
import { LOGIN_LINK_TTL_MS, USER_NAME_PATTERN, hashToken, loginLink, newToken } from '../platforms/local/login-tokens.js';
import type { AppStore } from '../store/open.js';
import { configOrExit, fail } from './env.js';
import { noDatabaseYet, withStore } from './store-access.js';

/** Opens the store writable (no owner lock: these commands run beside the service; ./store-access.ts), runs `fn`, closes it. */
function withUserStore<T>(create: boolean, fn: (store: AppStore, config: Config) => Promise<T>): Promise<T> {
  return withStore({ mode: 'beside', create, noDatabase: '; add a user first: agentbridge users add NAME' }, fn);
}

function checkName(name: string): void {
  if (!USER_NAME_PATTERN.test(name)) fail(`"${name}" is not a user name: use 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit`, 2);
}

async function requireUser(store: AppStore, name: string): Promise<void> {
  if (!(await store.localUsers.get(name))) fail(`no user "${name}" (see: agentbridge users list)`);
}

/** Creates a login link for `name` and returns the lines that show it. */
async function linkLines(store: AppStore, config: Config, name: string): Promise<string[]> {
  const token = newToken();
  await store.localUsers.purgeExpired();
  await store.localUsers.addToken({ hash: hashToken(token), user: name, kind: 'link', expiresAt: Date.now() + LOGIN_LINK_TTL_MS });
  const base = config.publicUrl ?? `http://127.0.0.1:${config.http.port}`;
  return [`login link for ${name} (works once, for 24 hours; open it in the browser ${name} uses):`, `  ${loginLink(base, token)}`];
}

/** Creates an API token for `name` and returns the lines that show it. */
async function apiTokenLines(store: AppStore, name: string): Promise<string[]> {
  const token = newToken();
  await store.localUsers.addToken({ hash: hashToken(token), user: name, kind: 'api', expiresAt: null });
  return [`API token for ${name} (shown once; send it as Authorization: Bearer <token>):`, `  ${token}`];
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function registerUserCommands(program: Command): void {
  const users = program.command('users').description('people who log in to the local web chat (safe while agentbridge runs)');

  users
    .command('add <name>')
    .description('add a user and print a one-time login link')
    .option('--admin', 'may use the admin chat commands (as local:<name> in AGENTBRIDGE_ADMINS)')
    .option('--token', 'also print an API token (as `users token NAME` does)')
    .action(async (name: string, opts: { admin?: boolean; token?: boolean }) => {
      checkName(name);
      await withUserStore(true, async (store, config) => {
        if (!(await store.localUsers.add(name, opts.admin === true)))
          fail(`user "${name}" already exists (new link: agentbridge users link ${name}; or remove it first)`);
        const out = [`added ${name}${opts.admin ? ' (admin)' : ''}: chat id local:${name}`, ...(await linkLines(store, config, name))];
        if (opts.token) out.push(...(await apiTokenLines(store, name)));
        else out.push(`for scripts: agentbridge users token ${name} prints a token for Authorization: Bearer`);
        process.stdout.write(out.join('\n') + '\n');
      });
    });

  users
    .command('list')
    .description('list users, their role and live logins')
    .action(async () => {
      const config = configOrExit();
      if (noDatabaseYet(config)) {
        process.stdout.write('no users (login is not required unless the configuration asks for it)\n');
        return;
      }
      // Writable: a database of an older schema gets its migrations (the users table) first.
      await withUserStore(false, async (store) => {
        const rows = await store.localUsers.list();
        if (!rows.length) process.stdout.write('no users\n');
        for (const u of rows) {
          process.stdout.write(
            `${u.name}  ${u.admin ? 'admin' : 'user'}  sessions=${u.sessions}  api-tokens=${u.apiTokens}  open-links=${u.links}  added=${iso(u.createdAt)}\n`,
          );
        }
      });
    });

  users
    .command('remove <name>')
    .description('remove a user; their sessions, tokens and links stop working at once')
    .action(async (name: string) => {
      await withUserStore(false, async (store) => {
        if (!(await store.localUsers.remove(name))) fail(`no user "${name}" (see: agentbridge users list)`);
        process.stdout.write(`removed ${name}\n`);
      });
    });

  users
    .command('link <name>')
    .description('print a new one-time login link for a user')
    .action(async (name: string) => {
      await withUserStore(false, async (store, config) => {
        await requireUser(store, name);
        process.stdout.write((await linkLines(store, config, name)).join('\n') + '\n');
      });
    });

  users
    .command('token <name>')
    .description('print a new API token (Authorization: Bearer <token>); it stays valid until revoked')
    .action(async (name: string) => {
      await withUserStore(false, async (store) => {
        await requireUser(store, name);
        process.stdout.write((await apiTokenLines(store, name)).join('\n') + '\n');
      });
    });

  users
    .command('revoke <name>')
    .description("end a user's browser sessions and revoke their API tokens and open links")
    .action(async (name: string) => {
      await withUserStore(false, async (store) => {
        await requireUser(store, name);
        const n = await store.localUsers.revoke(name, ['session', 'api', 'link']);
        process.stdout.write(`revoked ${n} token${n === 1 ? '' : 's'} of ${name}\n`);
      });
    });
}
