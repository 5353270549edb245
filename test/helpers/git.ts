/**
 * git for tests that build repositories: a runner with a fixed author and the caller's
 * environment, and a new repository on `main` with files committed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Runs git in `cwd` with a fixed author; returns its stdout as is (not trimmed). Throws on a non-zero exit. */
export type Git = (cwd: string, ...args: string[]) => string;

/** A {@link Git} runner with environment `env`. */
export function gitRunner(env: NodeJS.ProcessEnv): Git {
  return (cwd, ...args) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd, env, encoding: 'utf8' });
}

/** Makes `dir` a repository on `main` whose first commit ("base") holds `files` (name → content). */
export function initRepo(git: Git, dir: string, files: Record<string, string>): void {
  git(dir, 'init', '-q', '-b', 'main');
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  git(dir, 'add', '.');
  git(dir, 'commit', '-qm', 'base');
}
