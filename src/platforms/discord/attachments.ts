/**
 * Discord message attachments → {@link InboundFile}s (issue 13 "files in"). Pure: the adapter
 * reads the attachments of a discord.js `Message` as plain values (./facts.ts), this module
 * checks them with zod and keeps the well-formed ones.
 *
 * Discord's attachment object (API docs, "Message Resource" → "Attachment Object"): `id`
 * (snowflake), `filename`, `size` (bytes), `url` (CDN URL, signed with `ex`/`is`/`hm` query
 * parameters), `proxy_url`, `content_type` (optional, a MIME type). discord.js exposes them as
 * `Attachment#id`, `name`, `size`, `url`, `proxyURL`, `contentType` (null when absent).
 */
import { z } from 'zod';
import type { InboundFile } from '../../core/messages.js';

/** An attachment as ./facts.ts reads it from discord.js (unchecked: any field may be missing). */
export interface DiscordAttachmentFacts {
  id?: unknown;
  name?: unknown;
  contentType?: unknown;
  size?: unknown;
  url?: unknown;
}

/** A well-formed attachment: snowflake id, a name, a size in bytes, an http(s) URL; a MIME type when Discord gave one. */
const attachmentSchema = z.object({
  id: z.string().regex(/^\d{1,25}$/, 'not a snowflake'),
  name: z.string().min(1).max(1024),
  contentType: z.string().min(1).max(255).nullish(),
  size: z.number().int().nonnegative(),
  url: z
    .string()
    .max(4096)
    .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), 'not an http(s) URL'),
});

/** An attachment left out, and why (for the log; no URL, it is signed). */
export interface MalformedAttachment {
  /** Its position among the message's attachments (0-based). */
  index: number;
  /** zod's issues, `field: message`, joined by `; `. */
  problem: string;
}

/**
 * The files of a message: each well-formed attachment as `{id, name, mimeType?, size, url}`, in
 * order; the malformed ones listed apart (the caller logs them; the rest of the message is kept).
 */
export function inboundFilesOf(attachments: readonly DiscordAttachmentFacts[]): { files: InboundFile[]; malformed: MalformedAttachment[] } {
  const files: InboundFile[] = [];
  const malformed: MalformedAttachment[] = [];
  attachments.forEach((raw, index) => {
    const r = attachmentSchema.safeParse(raw);
    if (!r.success) {
      malformed.push({ index, problem: r.error.issues.map((i) => `${i.path.join('.') || '(attachment)'}: ${i.message}`).join('; ') });
      return;
    }
    const a = r.data;
    files.push({ id: a.id, name: a.name, ...(a.contentType ? { mimeType: a.contentType } : {}), size: a.size, url: a.url });
  });
  return { files, malformed };
}
