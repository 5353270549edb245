/**
 * Files on Slack messages, inbound — the pure part: Slack's file objects → {@link InboundFile}s,
 * and which hosts may receive the bot token when their bytes are fetched (`download.ts`).
 *
 * Slack facts (api.slack.com "File object", "message.file_share" / `message` subtype
 * `file_share`, "Working with files"): a message with files arrives as a `message` event with
 * subtype `file_share` (and, when it mentions the app, as `app_mention` too; both carry the same
 * `files` array and `ts`). Each file object has `id` (`F…`), `name`, `title`, `mimetype`,
 * `filetype`, `size` (bytes), `mode` (`hosted`, `snippet`, `post`, `external`, `tombstone` for
 * a deleted file, …), `url_private` (needs `Authorization: Bearer <token>` of a token with the
 * `files:read` scope) and `url_private_download` (the same with a download disposition). Files
 * of Slack Connect channels may come as `{id, file_access: "check_file_info"}` only (the rest
 * through `files.info`); such an entry, a deleted file, or anything else without a name and a
 * private URL is not taken (and said so: {@link SlackFilesResult.skipped}).
 */
import { z } from 'zod';
import type { InboundFile } from '../../core/messages.js';

/** Slack's host for the bytes of files (`url_private`, `url_private_download`). */
export const SLACK_FILES_ORIGIN = 'https://files.slack.com';
/** Slack's Web API base when none is configured (SLACK_API_URL). */
const SLACK_DEFAULT_API = 'https://slack.com/api/';

const httpUrl = z
  .string()
  .max(4_000)
  .refine((v) => /^https?:\/\//i.test(v) && URL.canParse(v), 'not an http(s) URL');

/** The fields of a Slack file object agentbridge reads (Slack's "File object"). */
const slackFileSchema = z
  .object({
    id: z.string().regex(/^F[A-Za-z0-9]{1,40}$/, 'not a Slack file id'),
    name: z.string().trim().min(1).max(1_000).optional().catch(undefined),
    title: z.string().trim().min(1).max(1_000).optional().catch(undefined),
    mimetype: z.string().trim().min(1).max(255).optional().catch(undefined),
    size: z.number().int().nonnegative().optional().catch(undefined),
    mode: z.string().optional().catch(undefined),
    url_private: httpUrl.optional().catch(undefined),
    url_private_download: httpUrl.optional().catch(undefined),
  })
  .refine((f) => f.mode !== 'tombstone', 'the file was deleted')
  .refine((f) => f.name !== undefined || f.title !== undefined, 'no name')
  .refine((f) => f.url_private_download !== undefined || f.url_private !== undefined, 'no private URL (url_private)');

/** What {@link slackFiles} made of a message's `files`. */
export interface SlackFilesResult {
  /** The files taken, in the message's order. */
  files: InboundFile[];
  /** Entries not taken: what the entry called itself (name, title, id or `#<index>`) and why. */
  skipped: Array<{ label: string; reason: string }>;
}

/**
 * The files of a Slack message event (`event.files`, untrusted): each valid file object →
 * `InboundFile { id, name (else title), mimeType: mimetype, size, url: url_private_download ??
 * url_private }`; a malformed entry (no `F…` id, no name or title, no http(s) private URL, a
 * deleted file) is skipped with its reason. Never throws; anything but an array gives no files. Pure.
 */
export function slackFiles(raw: unknown): SlackFilesResult {
  const out: SlackFilesResult = { files: [], skipped: [] };
  if (!Array.isArray(raw)) return out;
  raw.forEach((entry: unknown, i) => {
    const parsed = slackFileSchema.safeParse(entry);
    if (!parsed.success) {
      out.skipped.push({ label: labelOf(entry, i), reason: parsed.error.issues.map((issue) => issue.message).join('; ') });
      return;
    }
    const f = parsed.data;
    const file: InboundFile = { id: f.id, name: (f.name ?? f.title)!, url: (f.url_private_download ?? f.url_private)! };
    if (f.mimetype !== undefined) file.mimeType = f.mimetype;
    if (f.size !== undefined) file.size = f.size;
    out.files.push(file);
  });
  return out;
}

/** How a skipped entry is named in the log and the agent's prompt: its name, title or id (cut to 100 characters), else `#<n>` (1-based). */
function labelOf(entry: unknown, i: number): string {
  if (entry && typeof entry === 'object') {
    for (const key of ['name', 'title', 'id'] as const) {
      const v = (entry as Record<string, unknown>)[key];
      if (typeof v === 'string' && v.trim()) return v.trim().slice(0, 100);
    }
  }
  return `#${i + 1}`;
}

/**
 * The origins (`scheme://host[:port]`) the bot token may be sent to for a file's bytes:
 * `https://files.slack.com` and the origin of the Slack Web API base (`apiUrl`, SLACK_API_URL;
 * default `https://slack.com`) — the latter so a test double serving the Web API serves files
 * too. Pure.
 */
export function slackFileOrigins(apiUrl: string | undefined): string[] {
  const api = new URL(apiUrl ?? SLACK_DEFAULT_API).origin;
  return api === SLACK_FILES_ORIGIN ? [SLACK_FILES_ORIGIN] : [SLACK_FILES_ORIGIN, api];
}
