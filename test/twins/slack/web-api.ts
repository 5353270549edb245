/**
 * The Slack twin's Web API methods (`POST /api/<method>`), answering like Slack: HTTP 200 with
 * `{ ok: true, … }` or `{ ok: false, error: "<code>" }`. Tokens: the bot token for everything but
 * `apps.connections.open`, which takes the app-level token (else `not_allowed_token_type`);
 * a missing token → `not_authed`, an unknown one → `invalid_auth`.
 *
 * Methods: auth.test, apps.connections.open, chat.postMessage, chat.update, chat.delete,
 * chat.postEphemeral, reactions.add, reactions.remove, conversations.replies,
 * conversations.history, users.info, assistant.threads.setStatus, files.getUploadURLExternal,
 * files.completeUploadExternal. Anything else → `unknown_method`.
 *
 * Files (Slack docs, "Uploading files"): `files.getUploadURLExternal {filename, length}` returns
 * `{upload_url, file_id}`; the bytes are POSTed to `upload_url` (the twin's `POST /upload/<id>`,
 * raw bytes, no token — the URL is the credential); `files.completeUploadExternal {files:
 * [{id, title?}], channel_id, thread_ts?, initial_comment?}` fails `file_not_found` unless all
 * `length` bytes arrived, and with a channel posts the share message (`files: [{id, name, title,
 * size}]`, text = the comment) and answers the file's `shares`.
 *
 * Block Kit (`blocks`, a JSON array, on chat.postMessage / chat.update / chat.postEphemeral) is
 * checked for the limits agentbridge relies on — a section's text 1–3,000 characters, at most 25
 * elements in an actions block, a button's text ≤ 75 and `action_id` ≤ 255 characters and unique
 * in the message — and refused with `invalid_blocks` otherwise, as Slack does. chat.update
 * follows Slack's current docs: `blocks` given → they replace the old ones (`[]` removes them);
 * `blocks` left out while `text` is given → the old blocks are removed and `text` is shown.
 *
 * Message metadata (`chat.postMessage`'s `metadata`, a JSON object with `event_type` and
 * `event_payload`) is stored and returned by conversations.replies/history only with
 * `include_all_metadata=true`, as Slack does; both honour `oldest` (ts, exclusive as Slack's
 * default `inclusive=false`) — the parent of a thread is always included by replies.
 */
import { TwinStore, wireUser, type TwinMessage } from './store.js';

export type Params = Record<string, string>;

export interface WebApiDeps {
  store: TwinStore;
  teamId: string;
  botUserId: string;
  botId: string;
  botName: string;
  botToken: string;
  appToken: string;
  /** A new Socket Mode URL (one per `apps.connections.open`). */
  socketUrl(): string;
  /** The upload URL of file `id` (`files.getUploadURLExternal`; the twin serves `POST /upload/<id>`). */
  uploadUrl(id: string): string;
  /** Called after a bot message was posted / updated / deleted (the twin echoes it as an event). */
  onBotChange(kind: 'posted' | 'updated' | 'deleted', message: TwinMessage, previousText?: string): void;
}

export interface ApiResult {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

const ok = (body: Record<string, unknown> = {}): ApiResult => ({ status: 200, body: { ok: true, ...body } });
const fail = (error: string): ApiResult => ({ status: 200, body: { ok: false, error } });

/** Runs one Web API method. `token` is the Bearer token (or the `token` parameter). */
export function callWebApi(method: string, params: Params, token: string | undefined, d: WebApiDeps): ApiResult {
  if (!token) return fail('not_authed');
  if (token !== d.botToken && token !== d.appToken) return fail('invalid_auth');
  if (method === 'apps.connections.open') {
    return token === d.appToken ? ok({ url: d.socketUrl() }) : fail('not_allowed_token_type');
  }
  if (token !== d.botToken) return fail('not_allowed_token_type');
  const { store } = d;
  switch (method) {
    case 'auth.test':
      return ok({
        url: 'https://twin.slack.test/',
        team: 'Twin Team',
        user: d.botName,
        team_id: d.teamId,
        user_id: d.botUserId,
        bot_id: d.botId,
        is_enterprise_install: false,
      });

    case 'chat.postMessage': {
      const channel = params.channel;
      if (!channel) return fail('channel_not_found');
      const text = params.text ?? '';
      if (!text.trim() && !params.blocks) return fail('no_text');
      const thread = params.thread_ts || undefined;
      if (thread && !store.get(channel, thread)) return fail('thread_not_found');
      const blocks = parseBlocks(params.blocks);
      if (blocks === 'invalid') return fail('invalid_blocks');
      let metadata: Record<string, unknown> | undefined;
      if (params.metadata) {
        try {
          metadata = JSON.parse(params.metadata) as Record<string, unknown>;
        } catch {
          return fail('invalid_metadata_format');
        }
        if (!metadata || typeof metadata.event_type !== 'string' || typeof metadata.event_payload !== 'object') return fail('invalid_metadata_schema');
      }
      const m = store.add({ channel, text, user: d.botUserId, bot_id: d.botId, thread_ts: thread, metadata, blocks });
      d.onBotChange('posted', m);
      return ok({ channel, ts: m.ts, message: TwinStore.wire(m, d.botUserId) });
    }

    case 'chat.update': {
      const m = params.channel && params.ts ? store.get(params.channel, params.ts) : undefined;
      if (!m || m.deleted) return fail('message_not_found');
      if (m.bot_id !== d.botId) return fail('cant_update_message');
      const text = params.text ?? '';
      if (!text.trim() && !params.blocks) return fail('no_text');
      const blocks = parseBlocks(params.blocks);
      if (blocks === 'invalid') return fail('invalid_blocks');
      const previous = m.text;
      if (blocks !== undefined && blocks.length) m.blocks = blocks;
      else if (blocks !== undefined || params.text !== undefined) delete m.blocks;
      m.blocksHistory.push(m.blocks);
      m.text = text;
      m.edits++;
      m.history.push(text);
      d.onBotChange('updated', m, previous);
      return ok({ channel: m.channel, ts: m.ts, text });
    }

    case 'chat.delete': {
      const m = params.channel && params.ts ? store.get(params.channel, params.ts) : undefined;
      if (!m || m.deleted) return fail('message_not_found');
      if (m.bot_id !== d.botId) return fail('cant_delete_message');
      m.deleted = true;
      d.onBotChange('deleted', m);
      return ok({ channel: m.channel, ts: m.ts });
    }

    case 'chat.postEphemeral': {
      const channel = params.channel;
      if (!channel) return fail('channel_not_found');
      if (!params.user) return fail('user_not_found');
      if (!store.users.has(params.user)) return fail('user_not_in_channel');
      const text = params.text ?? '';
      if (!text.trim() && !params.blocks) return fail('no_text');
      if (parseBlocks(params.blocks) === 'invalid') return fail('invalid_blocks');
      const ts = store.nextTs();
      store.ephemerals.push({ channel, user: params.user, text, ...(params.thread_ts ? { thread_ts: params.thread_ts } : {}), ts, at: Date.now() });
      return ok({ message_ts: ts });
    }

    case 'reactions.add':
    case 'reactions.remove': {
      const m = params.channel && params.timestamp ? store.get(params.channel, params.timestamp) : undefined;
      if (!m || m.deleted) return fail('message_not_found');
      const name = params.name;
      if (!name) return fail('invalid_name');
      const users = m.reactions[name] ?? [];
      if (method === 'reactions.add') {
        if (users.includes(d.botUserId)) return fail('already_reacted');
        m.reactions[name] = [...users, d.botUserId];
      } else {
        if (!users.includes(d.botUserId)) return fail('no_reaction');
        const rest = users.filter((u) => u !== d.botUserId);
        if (rest.length) m.reactions[name] = rest;
        else delete m.reactions[name];
      }
      return ok();
    }

    case 'files.getUploadURLExternal': {
      const length = Number(params.length);
      if (!params.filename || !params.length) return fail('invalid_arguments');
      if (!Number.isInteger(length) || length <= 0) return fail('missing_argument');
      const id = `F0TWIN${String(store.files.size + 1).padStart(4, '0')}`;
      store.files.set(id, { id, name: params.filename, length, shares: 0 });
      return ok({ upload_url: d.uploadUrl(id), file_id: id });
    }

    case 'files.completeUploadExternal': {
      let files: Array<{ id?: unknown; title?: unknown }>;
      try {
        files = JSON.parse(params.files ?? '') as Array<{ id?: unknown; title?: unknown }>;
      } catch {
        return fail('invalid_arguments');
      }
      if (!Array.isArray(files) || files.length === 0) return fail('invalid_arguments');
      const refs = [];
      for (const f of files) {
        const file = typeof f.id === 'string' ? store.files.get(f.id) : undefined;
        // Slack: a file whose bytes never arrived (or not all of them) cannot be completed.
        if (!file || !file.bytes || file.bytes.length !== file.length) return fail('file_not_found');
        refs.push({ id: file.id, name: file.name, title: typeof f.title === 'string' ? f.title : file.name, size: file.length });
      }
      const channel = params.channel_id;
      if (!channel) return ok({ files: refs.map((r) => ({ id: r.id, title: r.title })) }); // private: not shared
      const thread = params.thread_ts || undefined;
      if (thread && !store.get(channel, thread)) return fail('thread_not_found');
      const m = store.add({ channel, text: params.initial_comment ?? '', user: d.botUserId, bot_id: d.botId, thread_ts: thread, files: refs });
      for (const r of refs) store.files.get(r.id)!.shares++;
      d.onBotChange('posted', m);
      const share = { ts: m.ts, ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}) };
      return ok({ files: refs.map((r) => ({ id: r.id, title: r.title, shares: { public: { [channel]: [share] } } })) });
    }

    case 'conversations.replies': {
      if (!params.channel || !params.ts) return fail('invalid_arguments');
      const parent = store.get(params.channel, params.ts);
      if (!parent || parent.deleted) return fail('thread_not_found');
      const root = parent.thread_ts ?? parent.ts;
      const withMetadata = params.include_all_metadata === 'true' || params.include_all_metadata === '1';
      const messages = store
        .thread(params.channel, root)
        .filter((m) => m.ts === root || !params.oldest || m.ts > params.oldest)
        .map((m) => TwinStore.wire(m, d.botUserId, withMetadata));
      return ok({ messages, has_more: false, response_metadata: { next_cursor: '' } });
    }

    case 'conversations.history': {
      if (!params.channel) return fail('channel_not_found');
      const withMetadata = params.include_all_metadata === 'true' || params.include_all_metadata === '1';
      // Top-level messages (and thread parents), newest first, as Slack lists them.
      const messages = store
        .channelMessages(params.channel)
        .filter((m) => !m.deleted && (!m.thread_ts || m.thread_ts === m.ts) && (!params.oldest || m.ts > params.oldest))
        .reverse()
        .map((m) => TwinStore.wire(m, d.botUserId, withMetadata));
      return ok({ messages, has_more: false, response_metadata: { next_cursor: '' } });
    }

    case 'users.info': {
      const u = params.user ? store.users.get(params.user) : undefined;
      return u ? ok({ user: wireUser(u, d.teamId) }) : fail('user_not_found');
    }

    case 'assistant.threads.setStatus': {
      if (!params.channel_id || !params.thread_ts || params.status === undefined) return fail('invalid_arguments');
      store.statuses.push({ channel: params.channel_id, thread_ts: params.thread_ts, status: params.status, at: Date.now() });
      return ok();
    }

    default:
      return fail('unknown_method');
  }
}

/**
 * The `blocks` parameter: undefined when absent, the array when valid, `'invalid'` when it is not
 * a JSON array of blocks within the limits in the module doc.
 */
export function parseBlocks(raw: string | undefined): Array<Record<string, unknown>> | undefined | 'invalid' {
  if (raw === undefined) return undefined;
  let blocks: unknown;
  try {
    blocks = JSON.parse(raw);
  } catch {
    return 'invalid';
  }
  if (!Array.isArray(blocks) || blocks.length > 50) return 'invalid';
  const actionIds = new Set<string>();
  for (const b of blocks as Array<Record<string, unknown>>) {
    if (!b || typeof b !== 'object' || typeof b.type !== 'string') return 'invalid';
    if (b.type === 'section') {
      const t = b.text as { type?: unknown; text?: unknown } | undefined;
      if (!t || (t.type !== 'mrkdwn' && t.type !== 'plain_text') || typeof t.text !== 'string' || t.text.length < 1 || t.text.length > 3000) return 'invalid';
    }
    if (b.type === 'actions') {
      const elements = b.elements;
      if (!Array.isArray(elements) || elements.length < 1 || elements.length > 25) return 'invalid';
      for (const e of elements as Array<Record<string, unknown>>) {
        if (e?.type !== 'button') continue;
        const id = e.action_id;
        const label = (e.text as { type?: unknown; text?: unknown } | undefined) ?? {};
        if (typeof id !== 'string' || id.length > 255 || actionIds.has(id)) return 'invalid';
        if (label.type !== 'plain_text' || typeof label.text !== 'string' || label.text.length < 1 || label.text.length > 75) return 'invalid';
        if (e.style !== undefined && e.style !== 'primary' && e.style !== 'danger') return 'invalid';
        actionIds.add(id);
      }
    }
  }
  return blocks as Array<Record<string, unknown>>;
}

/** Parses a Web API request body: form-encoded (what @slack/web-api sends) or JSON. */
export function parseParams(raw: string, contentType: string | undefined): Params {
  const out: Params = {};
  if ((contentType ?? '').includes('application/json')) {
    try {
      const obj = JSON.parse(raw || '{}') as Record<string, unknown>;
      for (const [k, v] of Object.entries(obj)) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
    } catch {
      /* empty params */
    }
    return out;
  }
  for (const [k, v] of new URLSearchParams(raw)) out[k] = v;
  return out;
}
