/**
 * `agentbridge users add|list|remove|link|token|revoke`: the people who log in to the local web
 * chat (README "Local chat security"). Every command is safe while agentbridge runs: SQLite in WAL
 * mode lets this process write beside the service, and the service reads users and tokens from
 * the database on every request, so a user added now can log in at once. `add` creates the
 * database when there is none yet (so a user can exist before the first start).
 *
 * Links start with AGENTBRIDGE_PUBLIC_URL, else `http://127.0.0.1:<AGENTBRIDGE_HTTP_PORT>`.
 * Exit codes: 0 ok; 1 unknown user / no database; 2 invalid name or configuration.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../core/config.js';
import { createLogger } from '../logger.js';
import { LOGIN_LINK_TTL_MS, USER_NAME_PATTERN, hashToken, loginLink, newToken } from '../platforms/local/login-tokens.js';
import { openStore, type SqliteStore } from '../store/store.js';
import { configOrExit, fail } from './env.js';

/** Opens the store (writable unless `readonly`; no owner lock: these commands run beside the service), runs `fn`, closes it. */
async function withStore<T>(opts: { readonly: boolean; create: boolean }, fn: (store: SqliteStore, config: Config) => Promise<T>): Promise<T> {
  const config = configOrExit();
  if (!opts.create && !fs.existsSync(config.dbPath))
    fail(`no database at ${config.dbPath} (AGENTBRIDGE_DATA_DIR=${config.dataDir}); add a user first: agentbridge users add NAME`);
  const store = openStore({ dbPath: config.dbPath, logger: createLogger('warn', process.stderr), readonly: opts.readonly });
  try {
    return await fn(store, config);
  } finally {
    await store.close();
  }
}

function checkName(name: string): void {
  if (!USER_NAME_PATTERN.test(name)) fail(`"${name}" is not a user name: use 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit`, 2);
}

async function requireUser(store: SqliteStore, name: string): Promise<void> {
  if (!(await store.localUsers.get(name))) fail(`no user "${name}" (see: agentbridge users list)`);
}

/** Creates a login link for `name` and returns the lines that show it. */
async function linkLines(store: SqliteStore, config: Config, name: string): Promise<string[]> {
  const token = newToken();
  await store.localUsers.purgeExpired();
  await store.localUsers.addToken({ hash: hashToken(token), user: name, kind: 'link', expiresAt: Date.now() + LOGIN_LINK_TTL_MS });
  const base = config.publicUrl ?? `http://127.0.0.1:${config.http.port}`;
  return [`login link for ${name} (works once, for 24 hours; open it in the browser ${name} uses):`, `  ${loginLink(base, token)}`];
}

/** Creates an API token for `name` and returns the lines that show it. */
async function apiTokenLines(store: SqliteStore, name: string): Promise<string[]> {
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
      await withStore({ readonly: false, create: true }, async (store, config) => {
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
      if (!fs.existsSync(config.dbPath)) {
        process.stdout.write('no users (login is not required unless the configuration asks for it)\n');
        return;
      }
      // Writable: a database of an older schema gets its migrations (the users table) first.
      await withStore({ readonly: false, create: false }, async (store) => {
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
      await withStore({ readonly: false, create: false }, async (store) => {
        if (!(await store.localUsers.remove(name))) fail(`no user "${name}" (see: agentbridge users list)`);
        process.stdout.write(`removed ${name}\n`);
      });
    });

  users
    .command('link <name>')
    .description('print a new one-time login link for a user')
    .action(async (name: string) => {
      await withStore({ readonly: false, create: false }, async (store, config) => {
        await requireUser(store, name);
        process.stdout.write((await linkLines(store, config, name)).join('\n') + '\n');
      });
    });

  users
    .command('token <name>')
    .description('print a new API token (Authorization: Bearer <token>); it stays valid until revoked')
    .action(async (name: string) => {
      await withStore({ readonly: false, create: false }, async (store) => {
        await requireUser(store, name);
        process.stdout.write((await apiTokenLines(store, name)).join('\n') + '\n');
      });
    });

  users
    .command('revoke <name>')
    .description("end a user's browser sessions and revoke their API tokens and open links")
    .action(async (name: string) => {
      await withStore({ readonly: false, create: false }, async (store) => {
        await requireUser(store, name);
        const n = await store.localUsers.revoke(name, ['session', 'api', 'link']);
        process.stdout.write(`revoked ${n} token${n === 1 ? '' : 's'} of ${name}\n`);
      });
    });
}
