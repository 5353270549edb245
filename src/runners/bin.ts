/**
 * Finding an agent CLI's executable: an explicit path (CLAUDE_BIN/CODEX_BIN/GEMINI_BIN) or a
 * search of PATH, like a shell would.
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
