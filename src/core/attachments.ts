/**
 * Files attached to inbound messages — the pure part (docs/ARCHITECTURE.md §3.7): where a file
 * is stored in the conversation's working directory, the safe name it gets there, the limits,
 * and the text the agent and the people in the thread see. The fetching itself is
 * `src/conversation/attachments.ts`.
 *
 * Layout: `<workdir>/.agentbridge/files/<message folder>/<name>`, where the message folder is
 * made from the message's event key ({@link messageFolder}) and the name is the sender's file
 * name made safe ({@link safeFileName}); `<workdir>/.agentbridge/.gitignore` (`*`) keeps the
 * folder out of git, the change summary and `/agent diff`.
 */
import { createHash } from 'node:crypto';

/** At most this many files of one message are fetched; the rest get a note (issue 13). */
export const MAX_FILES_PER_MESSAGE = 10;

/** The folder under the working directory that holds agentbridge's files (relative path). */
export const AGENTBRIDGE_DIR = '.agentbridge';

/** Where the files of messages go, relative to the working directory. */
export const FILES_DIR = `${AGENTBRIDGE_DIR}/files`;

/** Longest stored file name, characters (most file systems allow 255 bytes; UTF-8 may take 4 per character). */
const MAX_NAME_CHARS = 120;

/**
 * The file name a sender's `name` is stored under: its last path segment, without control
 * characters, path separators, NUL, leading dots or spaces, trailing dots or spaces, or
 * characters Windows refuses (`<>:"|?*`), cut to 120 characters keeping the extension;
 * `file` when nothing is left. Never `.` or `..`, never contains `/`. Pure.
 */
export function safeFileName(name: string): string {
  const last = name.split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  let clean = last.replace(/[\u0000-\u001f\u007f<>:"|?*]/g, '_').trim();
  clean = clean.replace(/^[.\s]+/, '').replace(/[.\s]+$/, '');
  if (!clean) return 'file';
  if (clean.length > MAX_NAME_CHARS) {
    const dot = clean.lastIndexOf('.');
    const ext = dot > 0 && clean.length - dot <= 16 ? clean.slice(dot) : '';
    clean = clean.slice(0, MAX_NAME_CHARS - ext.length) + ext;
  }
  return clean;
}

/**
 * Names for the files of one message, in order: {@link safeFileName} of each, with `-2`, `-3`, …
 * before the extension of a name already taken (compared case-insensitively, for
 * case-insensitive file systems). Pure.
 */
export function uniqueFileNames(names: readonly string[]): string[] {
  const taken = new Set<string>();
  return names.map((raw) => {
    const base = safeFileName(raw);
    let name = base;
    for (let n = 2; taken.has(name.toLowerCase()); n++) {
      const dot = base.lastIndexOf('.');
      name = dot > 0 ? `${base.slice(0, dot)}-${n}${base.slice(dot)}` : `${base}-${n}`;
    }
    taken.add(name.toLowerCase());
    return name;
  });
}

/**
 * The folder of one message's files: the event key with every character outside
 * `[A-Za-z0-9_-]` replaced by `-`, cut to 60 characters, plus `-` and the first 8 hex digits of
 * the key's SHA-256 (so two keys never share a folder). Stable: a re-run finds the same folder. Pure.
 */
export function messageFolder(eventKey: string): string {
  const slug = eventKey
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  const hash = createHash('sha256').update(eventKey).digest('hex').slice(0, 8);
  return `${slug || 'message'}-${hash}`;
}

/** A file stored for the agent. */
export interface SavedFile {
  /** The name the sender gave it (shown to people). */
  name: string;
  /** Absolute path in the working directory. */
  path: string;
  /** MIME type as the platform reported it (`application/octet-stream` when unknown). */
  mimeType: string;
  /** Bytes. */
  size: number;
}

/** A file not given to the agent, and why. */
export interface SkippedFile {
  /** The name the sender gave it. */
  name: string;
  /** Bytes, when known. */
  size?: number;
  /** For people, lower case, no final period: e.g. `larger than the 25 MB limit per file (AGENTBRIDGE_MAX_FILE_MB)`. */
  reason: string;
}

/** A size for people: `42 bytes`, `1.2 KB`, `3.4 MB` (1 KB = 1,024 bytes). Pure. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} byte${bytes === 1 ? '' : 's'}`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** The reason of a file over the size limit (`maxBytes`, bytes). */
export function tooLargeReason(maxBytes: number): string {
  return `larger than the ${formatBytes(maxBytes).replace(/\.0 /, ' ')} limit per file (AGENTBRIDGE_MAX_FILE_MB)`;
}

/** The reason of files past {@link MAX_FILES_PER_MESSAGE}. */
export const TOO_MANY_REASON = `only the first ${MAX_FILES_PER_MESSAGE} files of a message are taken`;

/**
 * What the agent's prompt gets after the message's text: `Attached:` with one line per saved
 * file (`- <path> (<type>, <size>)`) and `Not attached:` with one line per skipped file
 * (`- <name> (<size>): <reason>`); `''` when there is neither. Pure.
 */
export function attachmentPromptText(saved: readonly SavedFile[], skipped: readonly SkippedFile[]): string {
  const parts: string[] = [];
  if (saved.length) parts.push(['Attached:', ...saved.map((f) => `- ${f.path} (${f.mimeType}, ${formatBytes(f.size)})`)].join('\n'));
  if (skipped.length)
    parts.push(['Not attached:', ...skipped.map((f) => `- ${f.name}${f.size !== undefined ? ` (${formatBytes(f.size)})` : ''}: ${f.reason}`)].join('\n'));
  return parts.join('\n');
}

/**
 * The thread's note about files left out (Markdown), or undefined when none was: starts with
 * `⚠️ Not attached:`, names each file (in inline code) and why, and says what happens now and
 * what to do. Pure.
 */
export function notAttachedNotice(skipped: readonly SkippedFile[]): string | undefined {
  if (!skipped.length) return undefined;
  const lines = skipped.map((f) => `\`${f.name.replace(/`/g, "'")}\`${f.size !== undefined ? ` (${formatBytes(f.size)})` : ''}: ${f.reason}`);
  const head = skipped.length === 1 ? `⚠️ Not attached: ${lines[0]}.` : `⚠️ Not attached:\n${lines.map((l) => `• ${l}`).join('\n')}`;
  return `${head}\nYour message is answered without ${skipped.length === 1 ? 'it' : 'them'}; send a smaller file, fewer files, or a link, or try again.`;
}

/** Image types Claude takes as image content (Anthropic Messages API: JPEG, PNG, GIF, WebP). */
export const CLAUDE_IMAGE_TYPES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

/** Largest image Claude takes as image content, bytes (Anthropic Messages API: 5 MB per image). */
export const CLAUDE_IMAGE_MAX_BYTES = 5 * 1024 * 1024;

/**
 * A message's text as kept in the transcript: with `(attached: a.txt, b.png)` on a line of its
 * own after it when the message had files (so thread seeding and `sessions show` still say so);
 * the text alone otherwise. Pure.
 */
export function withFileNames(message: { text: string; files?: readonly { name: string }[] }): string {
  const names = (message.files ?? []).map((f) => f.name);
  if (!names.length) return message.text;
  const line = `(attached: ${names.join(', ')})`;
  return message.text.trim() ? `${message.text}\n\n${line}` : line;
}
