/**
 * Lets Gemini CLI read the files people attach (issue 13 "files in"). They are stored under
 * `<workdir>/.agentbridge/files/` and `<workdir>/.agentbridge/.gitignore` (`*`) keeps them out of
 * git. In a git work tree Gemini CLI 0.61.0 applies `.gitignore` files (nested ones and
 * `.git/info/exclude` too) to its file tools, so `read_file` of an attached file answered
 * "File path '…' is ignored by configured ignore patterns." (verified with the real CLI; outside a
 * git work tree it read the file).
 *
 * The fix, without giving up the `.gitignore` nor gitignore respect: the turn's overlay Gemini home
 * (../mcp-config.ts `prepareGeminiHome`) holds an ignore file with negation patterns
 * ({@link attachmentsIgnoreText}) and its settings.json names it first in
 * `context.fileFiltering.customIgnoreFilePaths` ({@link withReadableAttachments}). Gemini's
 * `FileDiscoveryService` adds those patterns after the `.gitignore` ones ("custom ignore files take
 * precedence over .geminiignore and .gitignore; files earlier in the array take precedence" —
 * settings schema of 0.61.0), so they re-include the folder. Gemini joins each path to the project
 * root (`path.join(root, p)`, so an absolute path would not work): the path is relative to the
 * working directory's real path (gemini's `process.cwd()`).
 * Verified with gemini 0.61.0 (test/runners/gemini-files.test.ts), also when the project's own
 * `.gitignore` ignores `.agentbridge/` or everything. Not covered: a user who set
 * `context.fileFiltering.respectGeminiIgnore: false` (gemini then checks `.gitignore` separately).
 */
import path from 'node:path';
import { AGENTBRIDGE_DIR, FILES_DIR } from '../../core/attachments.js';

/** Name of the ignore file in the overlay's `.gemini` folder (never copied back to the real home). */
export const ATTACHMENTS_IGNORE_FILE = 'agentbridge-files.ignore';

/**
 * The ignore file's text: gitignore negations (anchored at the project root) for the
 * `.agentbridge` folder itself (in case the project ignores it), the files folder and everything
 * in it. Nothing else of the project is re-included.
 */
export function attachmentsIgnoreText(): string {
  return [
    '# agentbridge: attached files are readable (see src/runners/gemini/file-filtering.ts)',
    `!/${AGENTBRIDGE_DIR}/`,
    `!/${FILES_DIR}/`,
    `!/${FILES_DIR}/**`,
    '',
  ].join('\n');
}

/**
 * The path to give gemini for `ignoreFile`: relative to `realWorkdir` (gemini joins it to its
 * project root, the working directory's real path). POSIX separators.
 */
export function ignoreFilePathFor(realWorkdir: string, ignoreFile: string): string {
  return path.relative(realWorkdir, ignoreFile).split(path.sep).join('/');
}

/**
 * `settings` (the user's Gemini settings.json object; not changed) with `ignorePath` first in
 * `context.fileFiltering.customIgnoreFilePaths`, the user's own entries kept after it (a value that
 * is not an array of strings is replaced). Other keys are kept as they are.
 */
export function withReadableAttachments(settings: Record<string, unknown>, ignorePath: string): Record<string, unknown> {
  const context = isObject(settings['context']) ? settings['context'] : {};
  const filtering = isObject(context['fileFiltering']) ? context['fileFiltering'] : {};
  const own = filtering['customIgnoreFilePaths'];
  const theirs = Array.isArray(own) ? own.filter((p): p is string => typeof p === 'string' && p !== ignorePath) : [];
  return { ...settings, context: { ...context, fileFiltering: { ...filtering, customIgnoreFilePaths: [ignorePath, ...theirs] } } };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
