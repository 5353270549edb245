/**
 * Projects and conversation worktrees: names, slugs and branch names (docs/ARCHITECTURE.md §4
 * "projects"). Pure functions.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** A project name: 1–40 lower-case letters, digits and `-`, starting with a letter or digit (a directory name under the workspaces root). */
export const PROJECT_NAME = z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'use 1–40 lower-case letters, digits or "-", starting with a letter or digit');

/**
 * A git branch name given by a person (`--branch`): what `git check-ref-format --branch` accepts,
 * restricted further to letters, digits and `._/-` (no `..`, `@{`, leading `-` or `/`, trailing
 * `/`, `.` or `.lock`), at most 200 characters.
 */
export const BRANCH_NAME = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9_][A-Za-z0-9._/-]*$/, 'use letters, digits, ".", "_", "/" or "-"')
  .refine((b) => !b.includes('..') && !b.includes('//') && !b.endsWith('/') && !b.endsWith('.') && !b.endsWith('.lock') && !/(^|\/)\./.test(b), {
    message: 'not a valid git branch name',
  });

/** The longest worktree slug, characters. */
export const MAX_SLUG_LENGTH = 48;

/**
 * The worktree slug of a conversation: a readable part of its id (lower-case letters, digits and
 * `-`, at most 39 characters, taken from the end, where the thread is) and `-` plus 8 hex digits of
 * the id's SHA-256 — unique in practice, safe as a directory name and in a git ref, at most
 * {@link MAX_SLUG_LENGTH} characters. E.g. `local:general:t1` → `local-general-t1-1f2e3d4c`.
 */
export function worktreeSlug(conversationId: string): string {
  const hash = createHash('sha256').update(conversationId).digest('hex').slice(0, 8);
  const readable = conversationId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(-(MAX_SLUG_LENGTH - 9))
    .replace(/^-+/, '');
  return readable ? `${readable}-${hash}` : hash;
}

/** The branch of a conversation's worktree: `agentbridge/<slug>`. */
export function worktreeBranch(conversationId: string): string {
  return `agentbridge/${worktreeSlug(conversationId)}`;
}

/** Folder of a project's worktrees, relative to the project's directory. */
export const WORKTREES_DIR = '.worktrees';
