/**
 * Test sandbox: a temporary directory holding an isolated HOME and every agent's config
 * directory, plus an environment that points the agent CLIs at it. Removed by `cleanup()`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { recordSandbox } from './reap.js';

export interface Sandbox {
  root: string;
  home: string;
  workdir: string;
  /** Environment for child processes: isolated HOME/CLAUDE_CONFIG_DIR/CODEX_HOME/GEMINI_CLI_HOME. */
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

const BIN = path.resolve(import.meta.dirname, '../../node_modules/.bin');

/** Creates a sandbox; `extraEnv` is merged last. */
export function makeSandbox(extraEnv: NodeJS.ProcessEnv = {}): Sandbox {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-test-'));
  recordSandbox(root);
  const home = path.join(root, 'home');
  const workdir = path.join(root, 'work');
  for (const d of [home, workdir, path.join(home, '.claude'), path.join(home, '.codex'), path.join(home, '.gemini')]) {
    fs.mkdirSync(d, { recursive: true });
  }
  const env: NodeJS.ProcessEnv = {
    PATH: `${BIN}:${process.env.PATH ?? ''}`,
    HOME: home,
    USERPROFILE: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local/share'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    TMPDIR: root,
    CLAUDE_CONFIG_DIR: path.join(home, '.claude'),
    CODEX_HOME: path.join(home, '.codex'),
    GEMINI_CLI_HOME: home,
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
    ...extraEnv,
  };
  return {
    root,
    home,
    workdir,
    env,
    cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

/**
 * Resolves when `check()` returns a truthy value; rejects after `timeoutMs`, naming `what` (a
 * function is called then, so the message can show the state at the timeout).
 */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 20_000, what: string | (() => string) = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
