/**
 * Slack posts that land once. `chat.postMessage` has no idempotency key, and a post can be
 * created by Slack while its answer is lost (an HTTP 5xx, a timeout, a reset connection): posting
 * again then shows the message twice. So every post carries message metadata naming its key
 * (`metadata: {event_type: "agentbridge_post", event_payload: {key}}`), and after such an
 * ambiguous failure — or when an earlier attempt may have posted it (an outbox row retried, or
 * left from before a restart) — the bot's messages are searched for the key before posting.
 *
 * Slack rules encoded (Slack API docs):
 * - "Using message metadata" / "Designing metadata event schema": `metadata` is
 *   `{event_type, event_payload}`; `event_type` is a human-readable alphanumeric string
 *   (snake_case recommended), `event_payload` a flat-enough JSON object; the metadata is not
 *   shown to people.
 * - `conversations.replies` (a thread) and `conversations.history` (a channel) return each
 *   message's `metadata` only with `include_all_metadata: true`; both take `oldest` (a ts, Unix
 *   seconds) and page with `cursor` / `response_metadata.next_cursor`. They need the
 *   `channels:history`, `groups:history`, `im:history`, `mpim:history` scopes
 *   (slack/manifest.yml has them).
 * - A 429 carries `Retry-After` (seconds) and means the call was not carried out: it is waited
 *   out and retried, no lookup needed. A 4xx or an `{ok:false}` answer is definite (nothing was
 *   created), except Slack's `internal_error` / `fatal_error` / `service_unavailable` /
 *   `request_timeout`, which Slack documents as "some aspect of the operation may have succeeded".
 */
import { webApi } from '@slack/bolt';

const { ErrorCode } = webApi;

/** `event_type` of agentbridge's message metadata. */
export const POST_EVENT_TYPE = 'agentbridge_post';

/** Slack error codes after which the post may still have been created. */
const AMBIGUOUS_SLACK_ERRORS = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);

/** How a failed `chat.postMessage` is handled. */
export type PostFailure =
  /** 429: not carried out; wait `retryAfterS` seconds and post again. */
  | { kind: 'rate_limited'; retryAfterS: number }
  /** 5xx, timeout, connection error: may have been created; look for it before posting again. */
  | { kind: 'ambiguous' }
  /** Anything else (a 4xx, `{ok:false, error}`): nothing was created; give up (the outbox decides). */
  | { kind: 'definite' };

/** Classifies an error thrown by @slack/web-api's `chat.postMessage` (client without retries). Pure. */
export function classifyPostFailure(err: unknown): PostFailure {
  const e = err as { code?: unknown; retryAfter?: unknown; statusCode?: unknown; data?: { error?: unknown } } | null;
  switch (e?.code) {
    case ErrorCode.RateLimitedError:
      return { kind: 'rate_limited', retryAfterS: typeof e.retryAfter === 'number' && e.retryAfter >= 0 ? e.retryAfter : 1 };
    case ErrorCode.HTTPError:
      return typeof e.statusCode === 'number' && e.statusCode >= 500 ? { kind: 'ambiguous' } : { kind: 'definite' };
    case ErrorCode.RequestError:
      return { kind: 'ambiguous' };
    case ErrorCode.PlatformError:
      return AMBIGUOUS_SLACK_ERRORS.has(String(e.data?.error)) ? { kind: 'ambiguous' } : { kind: 'definite' };
    default:
      // Not an API answer (e.g. a timeout or abort surfacing as a plain Error): may have been sent.
      return { kind: 'ambiguous' };
  }
}

/** The metadata agentbridge attaches to a post with `key`. */
export function postMetadata(key: string): { event_type: string; event_payload: { key: string } } {
  return { event_type: POST_EVENT_TYPE, event_payload: { key } };
}

/** A message as `conversations.replies` / `conversations.history` return it (the fields used). */
export interface ListedMessage {
  ts?: string;
  user?: string;
  bot_id?: string;
  metadata?: { event_type?: string; event_payload?: Record<string, unknown> };
  /** Files the message shares (a file upload's share message). */
  files?: Array<{ id?: string }>;
}

/** True when `m` is the bot's own message carrying `key` in agentbridge's metadata. Pure. */
export function isPostWithKey(m: ListedMessage, key: string, self: { userId: string; botId?: string }): boolean {
  if (m.metadata?.event_type !== POST_EVENT_TYPE || m.metadata.event_payload?.key !== key) return false;
  return (self.botId !== undefined && m.bot_id === self.botId) || m.user === self.userId;
}

/** One page of a message listing. */
export interface ListedPage {
  messages?: ListedMessage[];
  response_metadata?: { next_cursor?: string };
}

/** What {@link findPostByKey} needs: a page fetcher (`conversations.replies` or `.history` with the fixed arguments bound). */
export interface FindPostInput {
  key: string;
  self: { userId: string; botId?: string };
  /** Fetches one page (cursor undefined = first page). */
  page(cursor: string | undefined): Promise<ListedPage>;
  /** Most pages read (default 10; 200 messages each). */
  maxPages?: number;
}

/** The `ts` of the bot's message with `key`, or undefined. @throws what the page fetcher throws. */
export async function findPostByKey(input: FindPostInput): Promise<string | undefined> {
  let cursor: string | undefined;
  for (let i = 0; i < (input.maxPages ?? 10); i++) {
    const res = await input.page(cursor);
    const hit = (res.messages ?? []).find((m) => isPostWithKey(m, input.key, input.self));
    if (hit?.ts) return hit.ts;
    cursor = res.response_metadata?.next_cursor || undefined;
    if (!cursor) return undefined;
  }
  return undefined;
}

/** Slack's `oldest` (a ts, Unix seconds) for a lookup of posts made at or after `sinceMs`, with `marginS` for clock skew. Pure. */
export function oldestTs(sinceMs: number, marginS = 120): string {
  return String(Math.max(0, Math.floor(sinceMs / 1000) - marginS));
}

/** True when `m` is the bot's own message sharing the file `fileId` (the share message of an upload). Pure. */
export function isShareOfFile(m: ListedMessage, fileId: string, self: { userId: string; botId?: string }): boolean {
  if (!(m.files ?? []).some((f) => f.id === fileId)) return false;
  return (self.botId !== undefined && m.bot_id === self.botId) || m.user === self.userId;
}

/** The `ts` of the bot's message sharing `fileId`, or undefined. Pages like {@link findPostByKey}. @throws what the page fetcher throws. */
export async function findFileShare(input: Omit<FindPostInput, 'key'> & { fileId: string }): Promise<string | undefined> {
  let cursor: string | undefined;
  for (let i = 0; i < (input.maxPages ?? 10); i++) {
    const res = await input.page(cursor);
    const hit = (res.messages ?? []).find((m) => isShareOfFile(m, input.fileId, input.self));
    if (hit?.ts) return hit.ts;
    cursor = res.response_metadata?.next_cursor || undefined;
    if (!cursor) return undefined;
  }
  return undefined;
}

/**
 * Key in the adapter's durable state (`AdapterContext.state`) of the file id an upload with
 * idempotency key `key` got from `files.getUploadURLExternal`: written before the bytes are sent,
 * so a later attempt (after a lost answer or a restart) looks for that file's share message.
 */
export function uploadStateKey(key: string): string {
  return `slack:upload:${key}`;
}
