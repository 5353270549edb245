/**
 * The Discord twin's REST API under `/api/v10` (discord.js 14 uses API v10). JSON bodies,
 * `Authorization: Bot <token>` on every route except interaction callbacks and webhooks
 * (those are authorised by the interaction token in the path).
 *
 * Discord rules encoded:
 * - `content` ≤ 2,000 characters (else 400, code 50035 "Invalid Form Body"); an empty message
 *   (no content, no embeds) is 400 code 50006.
 * - `allowed_mentions` decides who is pinged: absent = parse everything in `content`; `parse`
 *   lists `users`/`roles`/`everyone`; `users: [...]` allows listed ids; a reply pings the
 *   replied-to author only when `replied_user` is true (or when `allowed_mentions` is absent).
 *   {@link pingsOf} computes this; every create/edit records the result.
 * - `GET /channels/{id}/messages?after=X&limit=N` returns the N messages right after X,
 *   newest first (like Discord); `before` the N right before; default limit 50, max 100.
 * - `POST /channels/{c}/messages/{m}/threads` creates a thread whose id is `m`, dispatches
 *   THREAD_CREATE. Bot creates/edits/deletes dispatch MESSAGE_CREATE/UPDATE/DELETE (Discord
 *   sends a bot its own messages too).
 * - Message components (`components` on a create or edit; `[]` on an edit removes them): checked
 *   by ./components.ts and stored on the message.
 * - Application commands, interaction callbacks and webhooks: ./interactions.ts.
 * - Rate limits (on by default; {@link TwinRest.enforceRateLimits} = false turns them off): a
 *   call over Discord's per-route (per channel) or global limit (./rate-limits.ts) is NOT carried
 *   out and gets Discord's 429: `Retry-After` (s), `X-RateLimit-*` (`Scope: user` and the
 *   route's bucket, or `Global: true` and `Scope: global`) and the body
 *   `{message, retry_after, global}`; @discordjs/rest waits `Retry-After` and retries. Each is
 *   recorded in {@link TwinRest.rateLimited} and its call's `outcome`. A call let through on a
 *   limited route gets its bucket's `X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket`,
 *   from which @discordjs/rest paces itself. The limit check comes first: a refused call
 *   consumes no injected fault, and a call let through counts whatever its outcome.
 * - Message nonce (`POST /channels/{c}/messages`): `nonce` is an integer or a string of at most
 *   25 characters (else 400, code 50035). With `enforce_nonce: true`, a nonce the same author
 *   already used in that channel within {@link NONCE_WINDOW_MS} returns the message created
 *   then (200), and nothing is created or dispatched (Discord: "that message will be returned
 *   and no new message will be created"); recorded in {@link TwinRest.nonceReplays}. (Twin
 *   choice: a since deleted message is not returned; a new one is created.)
 * - Faults: {@link Fault} — a status instead of the handler's answer, or (`after`) the handler's
 *   work done and then a 5xx or a dropped connection, so the client does not learn of it.
 */
import type http from 'node:http';
import type { TwinGateway } from './gateway.js';
import { validateComponents } from './components.js';
import { registerInteractionRoutes } from './interactions.js';
import { limitHeaders, RateLimits, routeOf, tooManyRequests } from './rate-limits.js';
import { USER_MENTION, type TwinAttachment, type TwinMessage, type TwinWorld } from './state.js';

/** One recorded REST call. `path` is relative to `/api/v10`, without the query, URL-decoded (`%40original` → `@original`, emoji as text). */
export interface RestCall {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  /** 0 when the connection was dropped without an answer (a `drop` fault). */
  status: number;
  at: number;
  /**
   * `nonce-replay`: answered with the message an earlier create with this nonce made;
   * `failed-after-create`: an `after` fault hid the result; `rate-limited`: refused with a 429 by
   * the twin's rate limits (not carried out).
   */
  outcome?: 'nonce-replay' | 'failed-after-create' | 'rate-limited';
}

/** A call the twin's rate limits refused with a 429. */
export interface RateLimitedCall {
  /** The limited route (`METHOD /channels/:c/…`, see ./rate-limits.ts), or `METHOD /path` for a call refused by the global limit only. */
  route: string;
  /** Its channel (the route's major parameter); '' for none. */
  channel: string;
  /** The `retry_after` answered, seconds (ms precision). */
  retryAfterS: number;
  /** True when the global limit (50/s) refused it. */
  global: boolean;
  at: number;
}

/** A create answered with the message an earlier create with the same nonce made. */
export interface NonceReplay {
  channelId: string;
  nonce: string | number;
  messageId: string;
  at: number;
}

/** Key of a multipart create's files in the parsed body (not a Discord field: set by the twin's server). */
export const FILES_KEY = '__twin_files';
/** Largest file of a message, bytes (Discord API docs, "Uploading Files": 10 MiB without boosts); larger → 413, code 40005. */
export const MAX_FILE_BYTES = 10 * 1024 * 1024;

/** How long a nonce is remembered for `enforce_nonce`, ms (Discord: "the past few minutes"). */
export const NONCE_WINDOW_MS = 5 * 60_000;

/** Who a bot message pings, per {@link pingsOf}. */
export interface Pings {
  everyone: boolean;
  users: string[];
  repliedUser: boolean;
}

export interface Fault {
  /** `METHOD /path` with `:param` or `*` segments, e.g. `POST /channels/:id/messages`. */
  route: string;
  status: number;
  /** Seconds (429 only); default 0.2. */
  retryAfter?: number;
  /** How many matching calls fail; default 1. */
  times: number;
  /** Only calls whose JSON body this accepts match (default: every call of the route). */
  match?: (body: Record<string, unknown>) => boolean;
  /**
   * Do the call's work first (create the message, …), then answer `status` (`'status'`) or
   * drop the connection without an answer (`'drop'`): it happened, but the client cannot know.
   */
  after?: 'status' | 'drop';
}

export interface Interaction {
  id: string;
  token: string;
  /** `command` (type 2, a slash command) or `component` (type 3, a button click). */
  kind: 'command' | 'component';
  channelId: string;
  userId: string;
  /** For a button click: the message the button is on. */
  messageId?: string;
  /** For a button click: the button's `custom_id`. */
  customId?: string;
  createdAt: number;
  responded: boolean;
  /** The callback type it was answered with (4, 5, 6 or 7), once answered. */
  responseType?: number;
  originalMessageId?: string;
  /** The INTERACTION_CREATE payload as dispatched (for a repeated delivery). */
  payload: Record<string, unknown>;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.message));
  }
}

/** Who gets pinged by `content` sent with `allowed_mentions` (undefined = field absent). */
export function pingsOf(content: string, allowed: unknown, repliedAuthor?: string): Pings {
  const a = allowed as { parse?: string[]; users?: string[]; replied_user?: boolean } | undefined;
  const parse = a === undefined ? ['users', 'roles', 'everyone'] : (a.parse ?? []);
  const mentioned = [...content.matchAll(USER_MENTION)].map((m) => m[1]!);
  const users = mentioned.filter((id) => parse.includes('users') || (a?.users ?? []).includes(id));
  return {
    everyone: parse.includes('everyone') && /@(everyone|here)\b/.test(content),
    users: [...new Set(users)],
    repliedUser: repliedAuthor !== undefined && (a === undefined || a.replied_user === true),
  };
}

export type Handler = (p: Record<string, string>, body: Record<string, unknown>, q: URLSearchParams) => { status: number; json?: unknown };

export class TwinRest {
  readonly calls: RestCall[] = [];
  /** Per bot message id: who its latest create/edit pinged. */
  readonly pings = new Map<string, Pings>();
  readonly faults: Fault[] = [];
  /** Creates answered with an earlier message because of `enforce_nonce`. */
  readonly nonceReplays: NonceReplay[] = [];
  /** `<channel>:<author>:<nonce>` → the message created with it and when. */
  private readonly nonces = new Map<string, { messageId: string; at: number }>();
  readonly interactions = new Map<string, Interaction>();
  /** Application commands per scope (`global` or a guild id). */
  readonly commands = new Map<string, Array<Record<string, unknown>>>();
  /** Discord's rate limits: when false, no call is refused for its rate (injected faults still apply). */
  enforceRateLimits = true;
  /** The counters behind {@link enforceRateLimits} (`reset()` forgets the calls counted so far). */
  readonly rateLimits = new RateLimits();
  /** Every call the rate limits refused with a 429, oldest first. */
  readonly rateLimited: RateLimitedCall[] = [];
  private readonly routes: Array<{ method: string; pattern: RegExp; keys: string[]; handler: Handler }> = [];

  constructor(
    private readonly world: TwinWorld,
    private readonly gateway: TwinGateway,
    private readonly opts: { token: string; wsUrl: () => string },
  ) {
    this.define();
  }

  /** Serves one request under `/api/v10`; `rawPath` excludes that prefix (segments are URL-decoded here). */
  handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    encodedPath: string,
    query: URLSearchParams,
    rawBody: string,
    files?: Array<Omit<TwinAttachment, 'id'>>,
  ): void {
    const method = req.method ?? 'GET';
    let rawPath: string;
    try {
      rawPath = encodedPath.split('/').map(decodeURIComponent).join('/');
    } catch {
      rawPath = encodedPath;
    }
    let body: Record<string, unknown> = {};
    try {
      body = rawBody ? (JSON.parse(rawBody) as Record<string, unknown>) : {};
    } catch {
      body = { _raw: rawBody };
    }
    if (files?.length) body[FILES_KEY] = files;
    const call: RestCall = { method, path: rawPath, query: Object.fromEntries(query), body: rawBody ? body : null, status: 0, at: Date.now() };
    this.calls.push(call);
    const rate = this.checkRate(call);
    if (rate.refused) {
      call.status = 429;
      call.outcome = 'rate-limited';
      res.writeHead(429, { 'content-type': 'application/json', ...rate.refused.headers });
      return void res.end(JSON.stringify(rate.refused.body));
    }
    const fault = this.faults.find((f) => f.times > 0 && routeMatches(f.route, method, rawPath) && (!f.match || f.match(body)));
    if (fault) fault.times--;
    const hideResult = fault?.after ? fault : undefined;
    const reply = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      if (hideResult) {
        call.outcome = 'failed-after-create';
        if (hideResult.after === 'drop') return void res.socket?.destroy();
        [status, json, headers] = [hideResult.status, { message: `twin: injected ${hideResult.status} after the work was done`, code: 0 }, {}];
      }
      call.status = status;
      const text = json === undefined ? '' : JSON.stringify(json);
      res.writeHead(status, { ...(text ? { 'content-type': 'application/json' } : {}), ...rate.headers, ...headers });
      res.end(text);
    };

    if (fault && !hideResult) {
      if (fault.status === 429) {
        const after = fault.retryAfter ?? 0.2;
        return reply(
          429,
          { message: 'You are being rate limited.', retry_after: after, global: false },
          {
            'retry-after': String(after),
            'x-ratelimit-limit': '5',
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset-after': String(after),
            'x-ratelimit-bucket': 'twin-bucket',
            'x-ratelimit-scope': 'user',
          },
        );
      }
      return reply(fault.status, { message: `twin: injected ${fault.status}`, code: 0 });
    }

    const isInteractionRoute = rawPath.startsWith('/interactions/') || rawPath.startsWith('/webhooks/');
    if (!isInteractionRoute && req.headers.authorization !== `Bot ${this.opts.token}`) return reply(401, { message: '401: Unauthorized', code: 0 });

    for (const r of this.routes) {
      if (r.method !== method) continue;
      const m = r.pattern.exec(rawPath);
      if (!m) continue;
      const params = Object.fromEntries(r.keys.map((k, i) => [k, m[i + 1]!]));
      try {
        const out = r.handler(params, body, query);
        return reply(out.status, out.json);
      } catch (err) {
        if (err instanceof ApiError) return reply(err.status, err.body);
        return reply(500, { message: String(err), code: 0 });
      }
    }
    return reply(404, { message: '404: Not Found', code: 0 });
  }

  /**
   * The rate-limit decision for a call ({@link enforceRateLimits}): the 429 to answer (recorded in
   * {@link rateLimited}), or the `X-RateLimit-*` headers for its answer (none for an unlimited route).
   */
  private checkRate(call: RestCall): { refused?: ReturnType<typeof tooManyRequests>; headers: Record<string, string> } {
    if (!this.enforceRateLimits) return { headers: {} };
    const { route, channel } = routeOf(call.method, call.path);
    const d = this.rateLimits.take(route, channel);
    if (d.allowed) return { headers: d.state ? limitHeaders(d.state, call.at) : {} };
    const refused = tooManyRequests(d, call.at);
    this.rateLimited.push({ route, channel, retryAfterS: refused.body.retry_after, global: d.global, at: call.at });
    return { refused, headers: {} };
  }

  /** Adds a route: `:name` segments become params. */
  on(method: string, route: string, handler: Handler): void {
    const keys: string[] = [];
    const pattern = new RegExp(`^${route.replace(/:(\w+)/g, (_m, k: string) => (keys.push(k), '([^/]+)'))}$`);
    this.routes.push({ method, pattern, keys, handler });
  }

  private define(): void {
    const w = this.world;
    this.on('GET', '/gateway/bot', () => ({
      status: 200,
      json: {
        url: `${this.opts.wsUrl()}/gateway`,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 },
      },
    }));
    this.on('GET', '/gateway', () => ({ status: 200, json: { url: `${this.opts.wsUrl()}/gateway` } }));
    this.on('GET', '/users/@me', () => ({ status: 200, json: w.apiUser(w.bot) }));
    this.on('GET', '/channels/:c', (p) => ({ status: 200, json: w.apiChannel(this.channel(p.c!)) }));
    this.on('GET', '/channels/:c/messages', (p, _b, q) => ({ status: 200, json: this.history(p.c!, q).map((m) => w.apiMessage(m)) }));
    this.on('GET', '/channels/:c/messages/:m', (p) => ({ status: 200, json: w.apiMessage(this.message(p.c!, p.m!)) }));
    this.on('POST', '/channels/:c/messages', (p, b) => ({ status: 200, json: w.apiMessage(this.createWithNonce(p.c!, b)) }));
    this.on('PATCH', '/channels/:c/messages/:m', (p, b) => ({ status: 200, json: w.apiMessage(this.editBotMessage(this.message(p.c!, p.m!), b)) }));
    this.on('DELETE', '/channels/:c/messages/:m', (p) => {
      const m = this.message(p.c!, p.m!);
      const list = w.messages.get(m.channelId)!;
      list.splice(list.indexOf(m), 1);
      this.gateway.dispatch('MESSAGE_DELETE', { id: m.id, channel_id: m.channelId, ...(this.guildOf(m.channelId) ? { guild_id: w.guildId } : {}) });
      return { status: 204 };
    });
    this.on('POST', '/channels/:c/typing', (p) => (this.channel(p.c!), { status: 204 }));
    this.on('PUT', '/channels/:c/messages/:m/reactions/:e/@me', (p) => {
      const m = this.message(p.c!, p.m!);
      const who = m.reactions.get(p.e!) ?? new Set<string>();
      who.add(w.bot.id);
      m.reactions.set(p.e!, who);
      return { status: 204 };
    });
    this.on('DELETE', '/channels/:c/messages/:m/reactions/:e/@me', (p) => {
      const m = this.message(p.c!, p.m!);
      m.reactions.get(p.e!)?.delete(w.bot.id);
      if (m.reactions.get(p.e!)?.size === 0) m.reactions.delete(p.e!);
      return { status: 204 };
    });
    this.on('POST', '/channels/:c/messages/:m/threads', (p, b) => {
      const m = this.message(p.c!, p.m!);
      if (w.channels.has(m.id)) throw new ApiError(400, { message: 'A thread has already been created for this message', code: 160004 });
      return { status: 201, json: w.apiChannel(this.openThread(p.c!, m.id, String(b.name ?? 'thread'), w.bot.id)) };
    });
    registerInteractionRoutes(this, w);
  }

  /** Creates a thread with id `id` in `parent` and announces it (THREAD_CREATE). */
  openThread(parent: string, id: string, name: string, ownerId: string) {
    const p = this.channel(parent);
    if (p.kind !== 'text') throw new ApiError(400, { message: 'Threads can only be created in text channels', code: 50024 });
    const thread = this.world.addChannel({ id, kind: 'thread', name, parentId: p.id, ownerId });
    this.gateway.dispatch('THREAD_CREATE', { ...this.world.apiChannel(thread), newly_created: true });
    return thread;
  }

  private channel(id: string) {
    const c = this.world.channels.get(id);
    if (!c) throw new ApiError(404, { message: 'Unknown Channel', code: 10003 });
    return c;
  }

  private message(channelId: string, id: string): TwinMessage {
    this.channel(channelId);
    const m = this.world.messages.get(channelId)!.find((x) => x.id === id);
    if (!m) throw new ApiError(404, { message: 'Unknown Message', code: 10008 });
    return m;
  }

  private guildOf(channelId: string): boolean {
    return this.world.channels.get(channelId)?.kind !== 'dm';
  }

  private history(channelId: string, q: URLSearchParams): TwinMessage[] {
    this.channel(channelId);
    const limit = Math.min(100, Math.max(1, Number(q.get('limit') ?? 50)));
    const all = this.world.messages.get(channelId)!; // id order
    const after = q.get('after');
    const before = q.get('before');
    let picked: TwinMessage[];
    if (after) picked = all.filter((m) => BigInt(m.id) > BigInt(after)).slice(0, limit);
    else if (before) picked = all.filter((m) => BigInt(m.id) < BigInt(before)).slice(-limit);
    else picked = all.slice(-limit);
    return picked.reverse(); // newest first
  }

  private validateContent(b: Record<string, unknown>, requireSomething: boolean): string | undefined {
    const content = b.content === undefined || b.content === null ? undefined : String(b.content);
    if (content !== undefined && content.length > 2000) {
      throw new ApiError(400, {
        message: 'Invalid Form Body',
        code: 50035,
        errors: { content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.' }] } },
      });
    }
    const hasEmbeds = Array.isArray(b.embeds) && b.embeds.length > 0;
    const hasFiles = Array.isArray(b[FILES_KEY]) && b[FILES_KEY].length > 0;
    if (requireSomething && !content && !hasEmbeds && !hasFiles) throw new ApiError(400, { message: 'Cannot send an empty message', code: 50006 });
    return content;
  }

  /** `POST /channels/{c}/messages`: a bot message, or with `enforce_nonce` and a known nonce the earlier one. */
  private createWithNonce(channelId: string, b: Record<string, unknown>): TwinMessage {
    this.channel(channelId);
    const nonce = b.nonce as unknown;
    if (nonce !== undefined && nonce !== null) {
      const valid = typeof nonce === 'number' ? Number.isInteger(nonce) : typeof nonce === 'string' && nonce.length <= 25;
      if (!valid)
        throw new ApiError(400, {
          message: 'Invalid Form Body',
          code: 50035,
          errors: { nonce: { _errors: [{ code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 25 in length.' }] } },
        });
    }
    if (nonce === undefined || nonce === null) return this.createBotMessage(channelId, b);
    const key = `${channelId}:${this.world.bot.id}:${String(nonce)}`;
    const seen = this.nonces.get(key);
    const earlier = seen && Date.now() - seen.at <= NONCE_WINDOW_MS ? this.world.messages.get(channelId)!.find((m) => m.id === seen.messageId) : undefined;
    if (b.enforce_nonce === true && earlier) {
      this.nonceReplays.push({ channelId, nonce: nonce as string | number, messageId: earlier.id, at: Date.now() });
      const call = this.calls.at(-1);
      if (call) call.outcome = 'nonce-replay';
      return earlier;
    }
    const m = this.createBotMessage(channelId, b, { nonce: nonce as string | number });
    this.nonces.set(key, { messageId: m.id, at: Date.now() });
    return m;
  }

  /** A message by the bot (REST create, interaction response, webhook): validated, recorded pings, MESSAGE_CREATE. */
  createBotMessage(channelId: string, b: Record<string, unknown>, extra: Partial<TwinMessage> = {}): TwinMessage {
    this.channel(channelId);
    if (Array.isArray(b[FILES_KEY]) && (b[FILES_KEY] as TwinAttachment[]).some((f) => f.size > MAX_FILE_BYTES)) {
      throw new ApiError(413, { message: 'Request entity too large', code: 40005 });
    }
    const content = this.validateContent(b, extra.type !== 20) ?? '';
    const ref = b.message_reference as { message_id?: string; fail_if_not_exists?: boolean } | undefined;
    let replyTo: string | undefined;
    if (ref?.message_id) {
      const target = this.world.findMessage(ref.message_id);
      if (target) replyTo = target.id;
      else if (ref.fail_if_not_exists !== false)
        throw new ApiError(400, {
          message: 'Invalid Form Body',
          code: 50035,
          errors: { message_reference: { _errors: [{ code: 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE', message: 'Unknown message' }] } },
        });
    }
    const replied = replyTo ? this.world.findMessage(replyTo) : undefined;
    const pings = pingsOf(content, b.allowed_mentions, replied?.authorId);
    const m = this.world.addMessage({
      channelId,
      authorId: this.world.bot.id,
      content,
      type: replyTo ? 19 : 0,
      replyTo,
      mentionIds: [...pings.users, ...(pings.repliedUser && replied ? [replied.authorId] : [])],
      mentionEveryone: pings.everyone,
      flags: typeof b.flags === 'number' ? b.flags : 0,
      ...(b.components !== undefined && b.components !== null ? { components: validateComponents(b.components) } : {}),
      ...(Array.isArray(b[FILES_KEY])
        ? { attachments: (b[FILES_KEY] as Array<Omit<TwinAttachment, 'id'>>).map((f) => ({ ...f, id: this.world.nextId() })) }
        : {}),
      ...extra,
    });
    this.pings.set(m.id, pings);
    this.gateway.dispatch('MESSAGE_CREATE', this.world.apiMessage(m, { gateway: true }));
    return m;
  }

  editBotMessage(m: TwinMessage, b: Record<string, unknown>): TwinMessage {
    if (m.authorId !== this.world.bot.id) throw new ApiError(403, { message: 'Cannot edit a message authored by another user', code: 50005 });
    const content = this.validateContent(b, false);
    const components = b.components !== undefined && b.components !== null ? validateComponents(b.components) : undefined;
    if (content !== undefined) m.content = content;
    if (components) m.components = components;
    m.editedAt = Date.now();
    const replied = m.replyTo ? this.world.findMessage(m.replyTo) : undefined;
    // An edit without allowed_mentions keeps the stored mentions on Discord; with it, re-parses.
    const pings = 'allowed_mentions' in b || content !== undefined ? pingsOf(m.content, b.allowed_mentions, replied?.authorId) : this.pings.get(m.id)!;
    this.pings.set(m.id, pings);
    this.gateway.dispatch('MESSAGE_UPDATE', this.world.apiMessage(m, { gateway: true }));
    return m;
  }
}

/** True when `route` (`METHOD /a/:x/*`) matches the call. */
export function routeMatches(route: string, method: string, path: string): boolean {
  const [m, p] = route.split(' ', 2) as [string, string];
  if (m !== method) return false;
  const rs = p.split('/');
  const ps = path.split('/');
  return rs.length === ps.length && rs.every((seg, i) => seg.startsWith(':') || seg === '*' || seg === ps[i]);
}
