/**
 * Finding an agent CLI's executable: an explicit path (CLAUDE_BIN/CODEX_BIN/GEMINI_BIN) or a
 * search of PATH, like a shell would.
 *
 * The agents' PATH always holds agentbridge's own `node_modules/.bin` (see {@link withPackageBin}):
 * npm puts it first on PATH for `npm start` and `npx agentbridge …`, so the same rule for
 * `node dist/cli.js …` and a global `agentbridge` makes doctor, start-up and turns find the same CLIs
 * however agentbridge was started (issue 12).
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * Resolves `name` to an executable path.
 * @param override explicit path or command name from config; searched on PATH when it has no slash.
 * @param envPath the PATH to search (colon-separated).
 * @returns the absolute path, or undefined when nothing executable is found.
 */
export function resolveBin(name: string, override: string | undefined, envPath: string | undefined): string | undefined {
  const wanted = override ?? name;
  if (wanted.includes('/')) return isExecutable(wanted) ? path.resolve(wanted) : undefined;
  for (const dir of (envPath ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, wanted);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** agentbridge's own `node_modules/.bin` (from src/runners or dist/runners: two levels up is the package root). */
export const PACKAGE_BIN_DIR = path.resolve(import.meta.dirname, '../../node_modules/.bin');

/**
 * `envPath` with `binDir` first, as npm's scripts and npx put a package's `node_modules/.bin`
 * (pure). Unchanged when `binDir` is already one of its entries (e.g. under `npm start`, where npm
 * put it there, possibly after its own helper directories).
 * @param envPath a PATH value (colon-separated) or undefined
 * @returns the new PATH value
 */
export function withPackageBin(envPath: string | undefined, binDir: string = PACKAGE_BIN_DIR): string {
  const entries = (envPath ?? '').split(path.delimiter).filter(Boolean);
  if (entries.some((e) => path.resolve(e) === binDir)) return envPath ?? '';
  return [binDir, ...entries].join(path.delimiter);
}
