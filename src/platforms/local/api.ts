/**
 * HTTP routes of the local web chat (registered on the shared server by {@link LocalAdapter}):
 *
 * | Route                                   | Answer |
 * |-----------------------------------------|--------|
 * | `GET /`, `GET /assets/<name>`           | the chat page: index.html, its style and client code (`./page.ts`, files of `./public/`) |
 * | `POST /api/local/messages`              | body `{channel, text, user?, thread?, files?}` → `202 {message, thread}` (`user`: a display name, 1–40 characters, no control characters; `files`: up to 10 upload ids of the sender's own unsent uploads — `text` may then be empty) |
 * | `POST /api/local/files`                 | an upload: `multipart/form-data`, one part `file` → `201 {file: {id, name, type, size}}`; 413 `{error}` past AGENTBRIDGE_MAX_FILE_MB (`./uploads.ts`, `./multipart.ts`) |
 * | `GET /api/local/messages?channel&thread`| `200 {messages: LocalApiMessage[]}` oldest first |
 * | `POST /api/local/actions`               | a card button click, body `{channel, message, action, thread?, user?}` → `200 {ok: true}`; `409`/`403`/`404` `{ok: false, error}` |
 * | `GET /api/local/threads?channel[&limit]`| `200 {threads: LocalApiThread[]}` newest activity first |
 * | `GET /api/local/channels`               | `200 {channels: string[], botName, maxFileBytes?}` (`general` first, always there; `maxFileBytes` when uploads are on) |
 * | `GET /api/local/files/<message id>`     | the file of a bot message (`file: {name, size, type}` on the message; `./files.ts`): `inline` for PNG/JPEG/GIF/WebP, else `attachment`; `nosniff`, sandbox CSP; 404 for a message without one |
 * | `GET /api/local/files/<upload id>`      | a file a user sent (`files: [{id, name, size, type}]` on the message), same rule; 404 for an upload not sent (yet) |
 * | `GET /api/local/events[?channel]`       | Server-Sent Events: `message.created`, `message.updated` (data: LocalApiMessage, buttons and mark included), `thread.status` (data: `{channel, thread, status}`) |
 *
 * | `GET /api/local/me`, `GET /login`, `POST /logout` | the login (`./auth.ts`) |
 *
 * Identity: when login is required (`LocalAuth.loginRequired`) every `/api/local/*` route needs
 * the session cookie or `Authorization: Bearer` (else 401), and a POST's author is the logged-in
 * user — the body's `user` field is ignored. Otherwise (the default: loopback, no `local:` ids in
 * the access lists, no users) the author is the body's `user` — the display name the page asked
 * for once (`./public/name.ts`), checked by {@link DISPLAY_NAME_RULE} — or "you" when absent; the
 * core knows the writer as `local:<name>`. A logged-in user (a valid cookie or bearer token sent
 * although login is not required) is always the author.
 *
 * Uploads: `POST /api/local/files` needs the same login as the other routes, and is refused (403)
 * when a browser says it comes from another site (`Sec-Fetch-Site: cross-site` or `same-site`:
 * a multipart form can be posted across sites without a CORS preflight, unlike the JSON routes);
 * the server refuses a foreign `Origin` as for every route. Its owner is the logged-in user (null
 * for an anonymous page); no field of the body names anyone. A message's `files` must be the
 * sender's own uploads (the logged-in user's; an anonymous page's when not logged in), each sent
 * once: an unknown, foreign or already sent id → 400, nothing stored.
 *
 * Marks: a user's message carries `reaction` (working, done, failed, steered) once the core
 * reacted to it (`LocalAdapter.react`); omitted before.
 *
 * Cards: a bot message with buttons carries `actions: [{id, label, style?}]`; the field is
 * omitted when the message has none (never `[]`), so a `message.updated` event without it means
 * the buttons are gone. A click (`POST /api/local/actions`) is checked against the stored message
 * (in that channel, in `thread` when given, a bot message carrying that action: else 404) and
 * handed to the core (`AdapterContext.onAction`) as the same identity a message would have; the
 * core's reply maps to 200 `{ok: true}` (`ok`), 409 (`decided`), 403 (`forbidden`) or 404
 * (`unknown`) with `{ok: false, error: <text for the clicker>}` (`./actions.ts`). Every failure
 * answer of this route has `error`; 400, 401, 403 (Host/Origin), 415 and 503 are the plain
 * `{error}` of the other routes.
 *
 * Other client errors are JSON `{error}`: 400 invalid input (nothing is stored; `text` with a C0 control
 * character other than tab, LF and CR included), 401 no valid login, 403 a Host or Origin outside
 * the allow-list (checked by the server, `src/http/hosts.ts`), 404 unknown thread on GET, 415 a
 * POST that is not `application/json`, 503 not started / the message could not be queued.
 */
import { z } from 'zod';
import { MAX_FILES_PER_MESSAGE } from '../../core/attachments.js';
import type { LocalMessageRow, LocalMessagesRepo, LocalThreadSummary } from '../../store/types.js';
import { faultReason, isStorageFault, StoreUnavailableError } from '../../store/health.js';
import { HttpError, readJsonBody, sendJson } from '../../http/json.js';
import type { HttpServer } from '../../http/server.js';
import { findControlChar } from '../control-chars.js';
import { actionIdSchema, type ActionHttpAnswer } from './actions.js';
import type { LocalAuth } from './auth.js';
import type { LocalEventHub } from './events.js';
import { LocalFiles, serveFile } from './files.js';
import { CHANNEL_PATTERN, DEFAULT_CHANNEL } from './ids.js';
import { loadLocalPage, registerLocalPage } from './page.js';
import { isUploadId, type LocalUploads } from './uploads.js';

/**
 * A message as the API and the event stream show it: the stored row (times in ms since the
 * epoch); `actions` only on a bot message that has buttons (omitted otherwise, never `[]`);
 * `reaction` only once the core reacted to the message; `file` on a bot message carrying one;
 * `files` on a user's message sent with files (omitted otherwise).
 */
export type LocalApiMessage = LocalMessageRow;

/** A thread summary as the API shows it: the stored summary plus the bot's current status. */
export interface LocalApiThread extends LocalThreadSummary {
  /** Current bot status in the thread (e.g. "working…"), or null. */
  status: string | null;
}

/** A user's message, validated. */
export interface LocalPostInput {
  channel: string;
  text: string;
  /** Display name, 1–40 characters ("you" when not given), or the logged-in user's name. */
  user: string;
  /** Thread to reply in; a new thread is started when undefined. */
  thread?: string;
  /** Upload ids to send with the message (at most {@link MAX_FILES_PER_MESSAGE}, no repeats); absent or empty: none. */
  files?: string[];
  /** Whose uploads `files` must be: the logged-in user's name, null (or absent) for an anonymous page — never from the body. */
  uploader?: string | null;
}

/** A click on a card button, validated; the user comes from {@link LocalPostInput}'s rule. */
export interface LocalActionInput {
  channel: string;
  /** The thread the page shows the message in; when given, the message must be in it. */
  thread?: string;
  /** Id of the bot message carrying the button. */
  message: string;
  /** {@link CardAction.id} of the clicked button. */
  action: string;
  /** The clicker: the logged-in user's name, else the body's `user` (or "you"). */
  user: string;
}

/** What the routes need from the adapter. */
export interface LocalApiBackend {
  readonly repo: LocalMessagesRepo;
  readonly events: LocalEventHub;
  readonly botName: string;
  /** The login; without it nobody logs in and the body's `user` names the author (tests of the page and API). */
  readonly auth?: LocalAuth;
  /**
   * Stores a user's message and hands it to the core.
   * @throws HttpError 400 (unknown thread), 503 (not started, or the core refused it).
   */
  receive(input: LocalPostInput): Promise<{ message: string; thread: string }>;
  /** Where the files of bot messages are (`./files.ts`); without it `GET /api/local/files/<id>` answers 404. */
  readonly files?: LocalFiles;
  /** The uploads people send with messages (`./uploads.ts`); without it `POST /api/local/files` answers 404. */
  readonly uploads?: LocalUploads;
  /** The largest upload, bytes (AGENTBRIDGE_MAX_FILE_MB). */
  readonly maxUploadBytes: number;
  /** The bot's current status text in a thread, or null. */
  statusOf(channel: string, thread: string): string | null;
  /**
   * Hands a card button click to the core and returns the HTTP answer (`./actions.ts`); 404
   * `{ok: false, error}` without asking the core when the message is not in that channel/thread
   * or does not carry the action.
   * @throws HttpError 503 (not started, no handler for clicks, or the handler failed).
   */
  click(input: LocalActionInput): Promise<ActionHttpAnswer>;
}

/** Longest accepted user message, in characters (256 Ki: a 200 KB message works end to end — prompts go to the agent over stdin). */
export const MAX_TEXT_CHARS = 262_144;

const required = (name: string) => (iss: { input?: unknown }) => (iss.input === undefined ? `${name} is required` : `${name} must be a string`);

const channelSchema = z
  .string({ error: required('channel') })
  .regex(CHANNEL_PATTERN, 'channel must be 1–80 characters of a-z, 0-9, "_" or "-", starting with a letter or digit');
const threadSchema = z
  .string({ error: required('thread') })
  .min(1, 'thread must not be empty')
  .max(100, 'thread is too long')
  .regex(/^[A-Za-z0-9._-]+$/, 'thread is not a thread id');

/** Longest display name, in characters (code points). */
export const MAX_DISPLAY_NAME_CHARS = 40;

/** The rule for a display name, as said in errors. */
export const DISPLAY_NAME_RULE = `1–${MAX_DISPLAY_NAME_CHARS} characters without control characters`;

/** C0, DEL and C1 control characters: none in a display name. */
// eslint-disable-next-line no-control-regex -- the characters refused
const NAME_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A display name of an anonymous writer (`user`): trimmed, then {@link DISPLAY_NAME_RULE}. The
 * error names the bad value (JSON-quoted, so control characters show as escapes).
 */
export const displayNameSchema = z
  .string({ error: required('user') })
  .transform((name) => name.trim())
  .superRefine((name, ctx) => {
    const length = [...name].length;
    const bad = length === 0 || length > MAX_DISPLAY_NAME_CHARS || NAME_CONTROL.test(name);
    if (bad) ctx.addIssue({ code: 'custom', message: `user ${JSON.stringify(name.slice(0, 60))} is not a display name: use ${DISPLAY_NAME_RULE}` });
  });

const userSchema = displayNameSchema.optional();

const postSchema = z
  .object(
    {
      channel: channelSchema,
      text: z
        .string({ error: required('text') })
        .max(MAX_TEXT_CHARS, `text must be at most ${MAX_TEXT_CHARS} characters`)
        .superRefine((t, ctx) => {
          const i = findControlChar(t);
          if (i >= 0) {
            const code = `U+${t.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')}`;
            ctx.addIssue({
              code: 'custom',
              message: `text contains the control character ${code} at position ${i}; only tab, line feed and carriage return are allowed`,
            });
          }
        }),
      user: userSchema,
      thread: threadSchema.optional(),
      files: z
        .array(z.string({ error: 'files must be upload ids (strings)' }).max(100, 'files: an upload id is too long'), {
          error: 'files must be an array of upload ids',
        })
        .max(MAX_FILES_PER_MESSAGE, `files: at most ${MAX_FILES_PER_MESSAGE} files per message`)
        .refine((ids) => new Set(ids).size === ids.length, 'files must not list an upload twice')
        .optional(),
    },
    { error: 'body must be a JSON object' },
  )
  .superRefine((body, ctx) => {
    // A message carries text, files, or both.
    if (body.text.trim().length === 0 && !(body.files && body.files.length > 0)) ctx.addIssue({ code: 'custom', message: 'text must not be empty' });
  });

const actionSchema = z.object(
  {
    channel: channelSchema,
    thread: threadSchema.optional(),
    message: z
      .string({ error: required('message') })
      .min(1, 'message must not be empty')
      .max(100, 'message is too long')
      .regex(/^[A-Za-z0-9._-]+$/, 'message is not a message id'),
    action: actionIdSchema,
    user: userSchema,
  },
  { error: 'body must be a JSON object' },
);

/**
 * The author/clicker of a POST: the logged-in user when there is one (the body cannot override
 * it), else the body's `user` (already checked by {@link displayNameSchema}), else "you".
 */
function authorOf(who: { name: string } | null, bodyUser: string | undefined): string {
  return who?.name ?? (bodyUser || 'you');
}

/** Parses `value` with `schema` or throws HttpError 400 naming the problems. */
function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.slice(0, 3).map((i) => i.message);
  throw new HttpError(400, problems.join('; '));
}

/** Query parameter `name` validated by `schema` (missing → "<name> is required"). */
function query<T>(url: URL, name: string, schema: z.ZodType<T>): T {
  const value = url.searchParams.get(name);
  return parse(schema, value ?? undefined);
}

/** The API form of a stored row: `actions` only on a bot message that has buttons. */
export function toApiMessage(row: LocalMessageRow): LocalApiMessage {
  const message: LocalApiMessage = {
    id: row.id,
    channel: row.channel,
    thread: row.thread,
    user: row.user,
    text: row.text,
    bot: row.bot,
    ts: row.ts,
    updatedAt: row.updatedAt,
  };
  if (row.bot && row.actions && row.actions.length > 0) message.actions = row.actions.map((a) => ({ ...a }));
  if (row.reaction) message.reaction = row.reaction;
  if (row.file) message.file = { ...row.file };
  if (row.files && row.files.length > 0) message.files = row.files.map((f) => ({ ...f }));
  return message;
}

/**
 * Registers the local chat routes on `http`; reads the page's files (`./page.ts`).
 * @throws Error when the page's files are missing (an incomplete build).
 */
export function registerLocalRoutes(http: HttpServer, backend: LocalApiBackend): void {
  const { repo } = backend;
  /** The logged-in user (null: anonymous, allowed when login is not required). Rejects with HttpError 401. */
  // A storage fault while reading who this is (the users table; e.g. PostgreSQL is down) is the
  // same 503 "send it again later" as a refused inbox write, not a 500.
  const identify = async (req: Parameters<LocalAuth['identify']>[0]) => {
    if (!backend.auth) return null;
    try {
      return await backend.auth.identify(req);
    } catch (err) {
      if (isStorageFault(err)) throw new HttpError(503, new StoreUnavailableError(faultReason(err)).message);
      throw err;
    }
  };
  backend.auth?.registerRoutes(http);
  if (!backend.auth) {
    http.route('GET', '/api/local/me', (_req, res) => sendJson(res, 200, { user: null, admin: false, loginRequired: false }));
  }

  registerLocalPage(http, loadLocalPage());

  http.route('POST', '/api/local/messages', async (req, res) => {
    const who = await identify(req);
    const body = parse(postSchema, await readJsonBody(req));
    // A logged-in author is the server's; the body's `user` only names anonymous writers.
    const user = authorOf(who, body.user);
    const result = await backend.receive({ channel: body.channel, text: body.text, user, thread: body.thread, files: body.files, uploader: who?.name ?? null });
    sendJson(res, 202, result);
  });

  // An upload: same login as every route; the owner is the logged-in user (null: anonymous), never the body's.
  http.route('POST', '/api/local/files', async (req, res) => {
    const who = await identify(req);
    const site = req.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site') throw new HttpError(403, 'uploads from another site are not allowed');
    if (!backend.uploads) throw new HttpError(404, 'file uploads are not enabled on this server');
    const row = await backend.uploads.receive(req, who?.name ?? null, backend.maxUploadBytes);
    sendJson(res, 201, { file: { id: row.id, name: row.name, type: row.type, size: row.size } });
  });

  http.route('POST', '/api/local/actions', async (req, res) => {
    const who = await identify(req);
    const body = parse(actionSchema, await readJsonBody(req));
    // The same identity rule as a message: a logged-in clicker is the server's, never the body's.
    const user = authorOf(who, body.user);
    const answer = await backend.click({ channel: body.channel, thread: body.thread, message: body.message, action: body.action, user });
    sendJson(res, answer.status, answer.body);
  });

  http.route('GET', '/api/local/messages', async (req, res, _params, url) => {
    await identify(req);
    const channel = query(url, 'channel', channelSchema);
    const thread = query(url, 'thread', threadSchema);
    const root = await repo.get(thread);
    if (!root || root.channel !== channel || root.thread !== root.id) {
      throw new HttpError(404, `no thread ${thread} in channel ${channel}`);
    }
    sendJson(res, 200, { messages: (await repo.list(channel, thread)).map(toApiMessage) });
  });

  http.route('GET', '/api/local/threads', async (req, res, _params, url) => {
    await identify(req);
    const channel = query(url, 'channel', channelSchema);
    const limitText = url.searchParams.get('limit');
    let limit = 100;
    if (limitText !== null) {
      limit = Number(limitText);
      if (!/^\d+$/.test(limitText) || limit < 1 || limit > 500) throw new HttpError(400, 'limit must be a whole number 1–500');
    }
    const threads: LocalApiThread[] = (await repo.threads(channel, limit)).map((t) => ({
      ...t,
      status: backend.statusOf(channel, t.thread),
    }));
    sendJson(res, 200, { threads });
  });

  http.route('GET', '/api/local/channels', async (req, res) => {
    await identify(req);
    const channels = [DEFAULT_CHANNEL, ...(await repo.channels()).filter((c) => c !== DEFAULT_CHANNEL)];
    sendJson(res, 200, { channels, botName: backend.botName, ...(backend.uploads ? { maxFileBytes: backend.maxUploadBytes } : {}) });
  });

  // A file of a bot message, or one a user sent: same access as the messages (login when required;
  // Host/Origin by the server). Non-images are downloads, and nothing is sniffed or run in the
  // page's origin (./files.ts).
  http.route('GET', '/api/local/files/:id', async (req, res, params) => {
    await identify(req);
    const id = params.id ?? '';
    if (isUploadId(id)) {
      const upload = await backend.uploads?.servable(id);
      if (!upload) throw new HttpError(404, `no file ${id}`);
      serveFile(res, upload.path, upload, `the file ${id}`);
      return;
    }
    const row = LocalFiles.isMessageId(id) ? await repo.get(id) : undefined;
    if (!row?.file || !backend.files) throw new HttpError(404, `no file ${id}`);
    serveFile(res, backend.files.pathOf(id), row.file, `the file of message ${id}`);
  });

  http.route('GET', '/api/local/events', async (req, res, _params, url) => {
    await identify(req);
    const channel = url.searchParams.has('channel') ? query(url, 'channel', channelSchema) : undefined;
    backend.events.subscribe(req, res, channel);
  });
}
