/**
 * `workdir [<path>|default]` (admin): the working directory of this conversation's agent.
 *
 * The path must resolve inside AGENTBRIDGE_WORKSPACES_ROOT (relative paths are taken from there);
 * `..` and symlinks pointing out of the root are refused. A missing directory is created. The
 * agent session is cleared, because agent CLIs keep their sessions per directory (a session
 * started elsewhere cannot be resumed). Refused while a turn runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ensureConversation, reply, type Command } from './types.js';

type Args = { show: true } | { path: string | null };

/** Thrown for a path that is not allowed; the message is shown to the admin. */
export class WorkdirError extends Error {}

/** True when `p` is `root` or inside it (both absolute, normalised). */
function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The deepest existing ancestor of `p` (or `p`). */
function existingAncestor(p: string): string {
  let cur = p;
  while (!fs.existsSync(cur)) {
    const up = path.dirname(cur);
    if (up === cur) return cur;
    cur = up;
  }
  return cur;
}

/**
 * Resolves `input` against `root`, checks it stays inside (lexically and after resolving
 * symlinks), creates it if missing, and returns its real path.
 * @throws WorkdirError naming the problem
 */
export function resolveWorkdir(root: string, input: string): string {
  if (!input || input.includes('\0')) throw new WorkdirError('Give a directory path.');
  fs.mkdirSync(root, { recursive: true });
  const rootAbs = path.resolve(root);
  const rootReal = fs.realpathSync(rootAbs);
  const target = path.resolve(rootAbs, input);
  if (!inside(rootAbs, target) && !inside(rootReal, target)) throw new WorkdirError(`\`${input}\` is outside the workspaces root \`${rootAbs}\`.`);
  // Symlinks: the part that exists must really be inside the root.
  if (!inside(rootReal, fs.realpathSync(existingAncestor(target))))
    throw new WorkdirError(`\`${input}\` leads outside the workspaces root (through a symlink).`);
  try {
    fs.mkdirSync(target, { recursive: true });
  } catch (err) {
    throw new WorkdirError(`Could not create \`${input}\`: ${(err as NodeJS.ErrnoException).code ?? String(err)}.`);
  }
  const real = fs.realpathSync(target);
  if (!inside(rootReal, real)) throw new WorkdirError(`\`${input}\` leads outside the workspaces root (through a symlink).`);
  if (!fs.statSync(real).isDirectory()) throw new WorkdirError(`\`${input}\` is not a directory.`);
  return real;
}

export const workdir: Command<Args> = {
  name: 'workdir',
  admin: true,
  needsConversation: true,
  args: '[<path>|default]',
  summary: "show or set this conversation's working directory (inside the workspaces root; a new agent session starts)",
  parse(args) {
    if (!args) return { show: true };
    if (args === 'default') return { path: null };
    const p = args.replace(/^(["'`])(.*)\1$/, '$2');
    return /[\n\r]/.test(p) || !p ? undefined : { path: p };
  },
  async run(ctx, args) {
    const { store, router, defaults, workspacesRoot, logger } = ctx.deps;
    const id = ctx.place.conversationId!;
    const current = (await store.conversations.get(id))?.workdir ?? defaults.workdir;
    if ('show' in args) return reply(`📁 Working directory: \`${current}\` (workspaces root: \`${path.resolve(workspacesRoot)}\`).`, true);
    if (router.status(id).running) return reply('A turn is running. Stop it first with `/agent stop`, or wait until it ends.', true);
    let dir: string | null = null;
    if (args.path !== null) {
      try {
        dir = resolveWorkdir(workspacesRoot, args.path);
      } catch (err) {
        if (err instanceof WorkdirError) {
          logger.info({ conversationId: id, by: ctx.caller.qualifiedId, path: args.path, problem: err.message }, 'workdir refused');
          return reply(`⚠️ ${err.message} Nothing changed.`, true);
        }
        throw err;
      }
    }
    await ensureConversation(ctx);
    const changed = await store.transaction(async (tx) => {
      // Checked again here: a turn may have started while the conversation row was being stored.
      if (router.status(id).running) return false;
      await tx.conversations.update(id, { workdir: dir });
      await tx.conversations.setAgentSession(id, null, null);
      return true;
    });
    if (!changed) return reply('A turn is running. Stop it first with `/agent stop`, or wait until it ends.', true);
    logger.info({ conversationId: id, by: ctx.caller.qualifiedId, workdir: dir }, 'conversation workdir changed');
    return reply(
      `📁 Working directory is now \`${dir ?? defaults.workdir}\`${dir ? '' : ' (the default)'}; the next message starts a new agent session there.`,
    );
  },
};
