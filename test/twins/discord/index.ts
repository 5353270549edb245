/**
 * A Discord twin: a local server on 127.0.0.1 (random port) speaking enough of Discord's REST
 * API (`/api/v10/...`, see ./rest.ts) and Gateway WebSocket (`/gateway`, see ./gateway.ts) for
 * the real discord.js client to run against it. Point discord.js at it with
 * `rest: { api: twin.apiUrl }` (agentbridge: `DISCORD_API_URL=<twin.apiUrl>`); the Gateway URL
 * comes from `GET /gateway/bot`.
 *
 * Attachment URLs (users' files from `userSays({files})`, the bot's uploads) point at the
 * twin's own server, which serves their bytes (./cdn.ts): every download is recorded in
 * {@link DiscordTwin.cdnDownloads}, {@link DiscordTwin.failNextDownload} injects a 404/500.
 *
 * It records every REST call ({@link DiscordTwin.calls}) and Gateway frame
 * ({@link DiscordTwin.frames}), computes who each bot message would ping
 * ({@link DiscordTwin.pings}), and injects faults: {@link DiscordTwin.failNext} (e.g. 429s),
 * {@link DiscordTwin.failAfterCreate} (the message is created, the answer lost) and
 * {@link DiscordTwin.disconnect} (with or without a resumable session). Message creates honour
 * `nonce` + `enforce_nonce` ({@link DiscordTwin.nonceReplays}).
 *
 * It enforces Discord's rate limits (./rate-limits.ts; on by default, `enforceRateLimits: false`
 * or {@link DiscordTwin.enforceRateLimits} = false turns them off): a call over its route's limit
 * on its channel, or over the global 50/s, gets Discord's 429 and is not carried out; each is
 * recorded in {@link DiscordTwin.rateLimited}, and {@link DiscordTwin.close} lists them on stderr.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { TwinCdn, type CdnDownload } from './cdn.js';
import { TwinGateway, type GatewayFrame } from './gateway.js';
import { buttonClickPayload, buttonIds } from './interactions.js';
import { pingsOf, routeMatches, TwinRest, type Interaction, type NonceReplay, type Pings, type RateLimitedCall, type RestCall } from './rest.js';
import type { RateLimits } from './rate-limits.js';
import { snowflakeAt, TwinWorld, type TwinMessage, type TwinUser } from './state.js';

export type { CdnDownload, GatewayFrame, Interaction, NonceReplay, Pings, RateLimitedCall, RestCall, TwinMessage, TwinUser };
export { pingsOf };

export interface DiscordTwinOptions {
  /** Bot token the twin accepts (default a random test token). */
  token?: string;
  /** Text channels to create, by name (default `agent-chat`, `general`). */
  channels?: string[];
  botName?: string;
  /** Gateway heartbeat interval, ms (default 5,000). */
  heartbeatIntervalMs?: number;
  /** Whether the application has the privileged Message Content intent enabled (default true; false → close 4014). */
  messageContentIntent?: boolean;
  /** Enforce Discord's rate limits per route and channel and the global one with 429s (default true; see ./rate-limits.ts). */
  enforceRateLimits?: boolean;
}

/** The body of an interaction callback: `type` 4/5/6/7 and, for 4/5/7, the message `data`. */
export interface InteractionCallbackBody {
  type: number;
  data?: { content?: string; flags?: number; allowed_mentions?: { parse?: unknown[] }; components?: unknown[] };
}

/** A message as the API returns it (snake_case), for assertions. */
export interface ApiMessage {
  id: string;
  channel_id: string;
  content: string;
  author: { id: string; username: string; bot?: boolean };
  type: number;
  message_reference?: { message_id: string };
  [key: string]: unknown;
}

export interface UserSays {
  /** Display name of the (human) user; created on first use. Or a user from {@link DiscordTwin.user}. */
  user: string | TwinUser;
  /** Channel id (a text channel, thread or DM channel), or a text channel's name. */
  channel: string;
  content: string;
  /** Prefixes `<@botId> ` to the content (a mention of the bot). */
  mentionsBot?: boolean;
  /** Message id this one replies to (type 19, pings the replied-to author). */
  replyTo?: string;
  /** Message type (default 0, or 19 for a reply); e.g. 7 for a "member joined" system message. */
  type?: number;
  /**
   * Files the user attaches: the message's `attachments` (id, filename, size, url, proxy_url,
   * content_type), served by the twin's CDN ({@link DiscordTwin.cdnDownloads}). `size`
   * overrides the size Discord reports (default the bytes' length).
   */
  files?: Array<{ name: string; bytes: Buffer | string; contentType?: string; size?: number }>;
}

export interface DiscordTwin {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `http://127.0.0.1:PORT/api` — discord.js `rest.api` / DISCORD_API_URL. */
  apiUrl: string;
  token: string;
  guildId: string;
  applicationId: string;
  bot: TwinUser;
  /** Text channel ids by name. */
  channels: Record<string, string>;
  calls: RestCall[];
  frames: GatewayFrame[];
  /** WebSocket connection paths, in order (`/gateway`, or `/gateway-resume` for resumes). */
  connections: string[];
  /** True while the bot has a live, identified Gateway session. */
  connected(): boolean;
  /** Identifies that came while another session of the bot still had a live connection (two gateway holders at once). */
  gatewayOverlaps(): number;
  /** Current Gateway session id (a new one after each Identify). */
  sessionId(): string | undefined;
  user(name: string, extra?: Partial<TwinUser>): TwinUser;
  /** A user writes: stored in the history, and MESSAGE_CREATE is dispatched when a session can take it. */
  userSays(m: UserSays): ApiMessage;
  /** A user starts a thread on message `messageId` of `channel`; returns the thread id (= messageId). */
  createThread(channel: string, messageId: string, name: string, by?: string | TwinUser): string;
  /** A user starts a thread in `channel` without a starter message (Discord's "Start Thread without Message"); returns its id (a new one). */
  startThread(channel: string, name: string, by?: string | TwinUser): string;
  /** The DM channel between the bot and `user` (created on first use). */
  dmChannel(user: string | TwinUser): string;
  /**
   * A user runs a slash command: dispatches INTERACTION_CREATE; returns the interaction.
   * `lateByMs`: the interaction was created that long ago (its id and the 3 s answer window
   * count from then), as when the Gateway delivers it late.
   */
  slashCommand(opts: {
    user: string | TwinUser;
    channel: string;
    name: string;
    options?: Array<{ name: string; type: number; value: unknown }>;
    lateByMs?: number;
  }): Interaction;
  /**
   * `user` clicks the button `customId` on the bot message `messageId`: dispatches
   * INTERACTION_CREATE type 3 (MESSAGE_COMPONENT) with `member` (guild) or `user` (DM) and the
   * message; returns the interaction. `lateByMs` as for {@link slashCommand}.
   * @throws Error when the message does not exist or has no button `customId` (Discord only shows the buttons a message has)
   */
  clickButton(opts: { user: string | TwinUser; messageId: string; customId: string; lateByMs?: number }): Interaction;
  /** Dispatches an interaction's INTERACTION_CREATE again, unchanged (a repeated delivery). */
  redeliver(interaction: Interaction): void;
  /** Dispatches `d` as event `t` as is, e.g. a malformed INTERACTION_CREATE. */
  dispatchRaw(t: string, d: unknown): void;
  /**
   * How an interaction was answered so far: the callback (`POST /interactions/{id}/{token}/callback`,
   * successful ones only), edits of `@original` and follow-ups (`POST /webhooks/{app}/{token}`), as request bodies.
   */
  interactionReplies(interaction: Interaction): {
    callback?: InteractionCallbackBody;
    edits: Array<Record<string, unknown>>;
    followUps: Array<Record<string, unknown>>;
  };
  /** The channel's messages, oldest first (API shape). */
  channelMessages(channel: string): ApiMessage[];
  /** The bot's messages in `channel` (all channels when omitted), oldest first. */
  botMessages(channel?: string): ApiMessage[];
  /** Emoji the bot currently has on a message. */
  botReactions(messageId: string): string[];
  /** Per bot message id: who its latest create/edit would have pinged. */
  pings: Map<string, Pings>;
  /** Every request to the twin's CDN (attachment URLs), oldest first. */
  cdnDownloads: CdnDownload[];
  /** The next `times` (default 1) CDN requests (of `attachmentId` only, when given) answer `status` (e.g. 404, 500) instead of the bytes. */
  failNextDownload(status: number, opts?: { times?: number; attachmentId?: string }): void;
  /** Calls of `METHOD /path-pattern` (`:param` / `*` segments). */
  callsTo(route: string): RestCall[];
  /**
   * The next `times` (default 1) calls matching `route` (and `match`, given the JSON body) fail
   * with `status` (429: with `retryAfter` s, default 0.2), doing nothing.
   */
  failNext(route: string, fault: { status: number; retryAfter?: number; times?: number; match?: (body: Record<string, unknown>) => boolean }): void;
  /**
   * The next `times` (default 1) calls matching `route` (and `match`) do their work — e.g.
   * `POST /channels/:c/messages` creates the message and dispatches MESSAGE_CREATE — and are then
   * answered `status` (default 500; @discordjs/rest retries a 5xx itself) or, with `drop`, get
   * the connection closed without an answer: created, but the client did not learn it.
   */
  failAfterCreate(route: string, fault?: { status?: number; drop?: boolean; times?: number; match?: (body: Record<string, unknown>) => boolean }): void;
  /** Creates answered with the earlier message of a repeated nonce (`enforce_nonce`), in order. */
  nonceReplays: NonceReplay[];
  /** Discord's rate limits: when false, no call is refused for its rate (injected faults still apply). */
  enforceRateLimits: boolean;
  /** The counters behind {@link enforceRateLimits} (`reset()` forgets the calls counted so far). */
  rateLimits: RateLimits;
  /** Every call the rate limits refused with a 429, oldest first. */
  rateLimited: RateLimitedCall[];
  /**
   * The refused calls counted by route and channel (e.g. `PATCH /channels/:c/messages/:m 123… ×3`),
   * those the global limit refused by route alone (`global: POST /channels/:c/messages ×12`), most first.
   */
  rateLimitedSummary(): string[];
  /** Drops the faults not used up yet (REST and CDN). */
  clearFaults(): void;
  /** Drops the Gateway connection; `resumable: false` makes the resume fail (op 9), forcing a new session. */
  disconnect(opts: { resumable: boolean }): void;
  /** Sends op 7 Reconnect. */
  requestReconnect(): void;
  /** Stops the twin; says on stderr when the rate limits refused calls (a test that did not look would not notice). */
  close(): Promise<void>;
}

/** Starts a twin on 127.0.0.1 with a random port. */
export async function startDiscordTwin(options: DiscordTwinOptions = {}): Promise<DiscordTwin> {
  const token = options.token ?? `twin.${randomBytes(12).toString('hex')}`;
  const world = new TwinWorld({
    guildName: 'agentbridge twin',
    botName: options.botName ?? 'agentbridge',
    channelNames: options.channels ?? ['agent-chat', 'general'],
  });
  let base = '';
  const gateway = new TwinGateway(world, {
    token,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 5_000,
    baseWsUrl: () => base.replace(/^http/, 'ws'),
    messageContentIntent: options.messageContentIntent ?? true,
  });
  const rest = new TwinRest(world, gateway, { token, wsUrl: () => base.replace(/^http/, 'ws') });
  const cdn = new TwinCdn(world);
  rest.enforceRateLimits = options.enforceRateLimits ?? true;
  const rateLimitedSummary = () => {
    const counts = new Map<string, number>();
    for (const r of rest.rateLimited) {
      // Global refusals by route alone (they are not about one channel).
      const k = r.global ? `global: ${r.route.replace(/\/channels\/\d+/, '/channels/:c')}` : `${r.route} ${r.channel || '-'}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://twin');
      const rawPath = (req.url ?? '/').split('?')[0]!;
      if (cdn.handle(req, res, rawPath)) return;
      if (!rawPath.startsWith('/api/v10/')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: '404: Not Found', code: 0 }));
        return;
      }
      const body = Buffer.concat(chunks);
      const type = req.headers['content-type'] ?? '';
      if (!type.startsWith('multipart/form-data')) return rest.handle(req, res, rawPath.slice('/api/v10'.length), url.searchParams, body.toString('utf8'));
      // A create with files (Discord API docs, "Uploading Files"): `payload_json` + `files[n]` parts.
      void parseMultipart(body, type).then(
        ({ payload, files }) => rest.handle(req, res, rawPath.slice('/api/v10'.length), url.searchParams, payload, files),
        () => res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Invalid multipart body', code: 50035 })),
      );
    });
  });
  server.on('upgrade', (req, socket, head) => {
    if (!gateway.upgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  world.cdnBase = base;

  const userOf = (u: string | TwinUser) => (typeof u === 'string' ? world.userNamed(u) : u);
  const channelOf = (idOrName: string) => {
    const c = world.channelByIdOrName(idOrName);
    if (!c) throw new Error(`twin: unknown channel ${idOrName}`);
    return c;
  };
  const api = (m: TwinMessage) => world.apiMessage(m) as unknown as ApiMessage;

  return {
    url: base,
    apiUrl: `${base}/api`,
    token,
    guildId: world.guildId,
    applicationId: world.applicationId,
    bot: world.bot,
    channels: Object.fromEntries([...world.channels.values()].filter((c) => c.kind === 'text').map((c) => [c.name, c.id])),
    calls: rest.calls,
    frames: gateway.frames,
    connections: gateway.connections,
    pings: rest.pings,
    connected: () => gateway.connected(),
    gatewayOverlaps: () => gateway.identifiedWhileLive,
    sessionId: () => gateway.sessionId(),
    user: (name, extra) => world.userNamed(name, extra),
    userSays: (m) => {
      const author = userOf(m.user);
      const channel = channelOf(m.channel);
      const content = m.mentionsBot ? `<@${world.bot.id}> ${m.content}` : m.content;
      const replied = m.replyTo ? world.findMessage(m.replyTo) : undefined;
      const mentionIds = [...content.matchAll(/<@!?(\d+)>/g)].map((x) => x[1]!).filter((id) => world.users.has(id));
      if (replied) mentionIds.push(replied.authorId);
      const msg = world.addMessage({
        channelId: channel.id,
        authorId: author.id,
        content,
        type: m.type ?? (replied ? 19 : 0),
        replyTo: replied?.id,
        mentionIds,
        ...(m.files?.length
          ? {
              attachments: m.files.map((f) => {
                const bytes = Buffer.isBuffer(f.bytes) ? f.bytes : Buffer.from(f.bytes, 'utf8');
                return { id: world.nextId(), filename: f.name, size: f.size ?? bytes.length, bytes, ...(f.contentType ? { contentType: f.contentType } : {}) };
              }),
            }
          : {}),
      });
      const payload = world.apiMessage(msg, { gateway: true });
      gateway.dispatch('MESSAGE_CREATE', channel.kind === 'dm' ? { ...payload, channel_type: 1 } : payload);
      return payload as unknown as ApiMessage;
    },
    createThread: (channel, messageId, name, by) => rest.openThread(channelOf(channel).id, messageId, name, userOf(by ?? 'thread-starter').id).id,
    startThread: (channel, name, by) => rest.openThread(channelOf(channel).id, world.nextId(), name, userOf(by ?? 'thread-starter').id).id,
    dmChannel: (u) => {
      const user = userOf(u);
      for (const c of world.channels.values()) if (c.kind === 'dm' && c.recipientId === user.id) return c.id;
      return world.addChannel({ kind: 'dm', name: `dm-${user.username}`, recipientId: user.id }).id;
    },
    slashCommand: ({ user, channel, name, options: opts, lateByMs }) => {
      const u = userOf(user);
      const c = channelOf(channel);
      const createdAt = Date.now() - (lateByMs ?? 0);
      const id = lateByMs ? snowflakeAt(createdAt) : world.nextId();
      const token = `itoken.${randomBytes(16).toString('hex')}`;
      const cmd = (rest.commands.get(world.guildId) ?? rest.commands.get('global') ?? []).find((x) => x.name === name);
      const payload = {
        id,
        application_id: world.applicationId,
        type: 2,
        token,
        version: 1,
        data: { id: cmd?.id ?? world.nextId(), name, type: 1, ...(opts ? { options: opts } : {}) },
        guild_id: world.guildId,
        channel_id: c.id,
        channel: world.apiChannel(c),
        member: { ...world.apiMember(u), permissions: '2248473465835073' },
        app_permissions: '2248473465835073',
        locale: 'en-US',
        guild_locale: 'en-US',
        entitlements: [],
        authorizing_integration_owners: { '0': world.guildId },
        context: 0,
      };
      const i: Interaction = { id, token, kind: 'command', channelId: c.id, userId: u.id, createdAt, responded: false, payload };
      rest.interactions.set(i.id, i);
      gateway.dispatch('INTERACTION_CREATE', payload);
      return i;
    },
    clickButton: ({ user, messageId, customId, lateByMs }) => {
      const u = userOf(user);
      const m = world.findMessage(messageId);
      if (!m) throw new Error(`twin: unknown message ${messageId}`);
      if (!buttonIds(m).includes(customId))
        throw new Error(`twin: message ${messageId} has no button ${customId} (it has ${buttonIds(m).join(', ') || 'none'})`);
      const c = world.channels.get(m.channelId)!;
      const createdAt = Date.now() - (lateByMs ?? 0);
      const id = lateByMs ? snowflakeAt(createdAt) : world.nextId();
      const token = `itoken.${randomBytes(16).toString('hex')}`;
      const payload = buttonClickPayload(world, { id, token }, u, c, m, customId);
      const i: Interaction = { id, token, kind: 'component', channelId: c.id, userId: u.id, messageId, customId, createdAt, responded: false, payload };
      rest.interactions.set(i.id, i);
      gateway.dispatch('INTERACTION_CREATE', payload);
      return i;
    },
    redeliver: (i) => gateway.dispatch('INTERACTION_CREATE', i.payload),
    dispatchRaw: (t, d) => gateway.dispatch(t, d),
    interactionReplies: (i) => {
      const ok = (c: RestCall) => c.status >= 200 && c.status < 300;
      const cb = rest.calls.find((c) => c.method === 'POST' && c.path === `/interactions/${i.id}/${i.token}/callback` && ok(c));
      const hook = `/webhooks/${world.applicationId}/${i.token}`;
      return {
        ...(cb ? { callback: cb.body as InteractionCallbackBody } : {}),
        edits: rest.calls.filter((c) => c.method === 'PATCH' && c.path === `${hook}/messages/@original` && ok(c)).map((c) => c.body as Record<string, unknown>),
        followUps: rest.calls.filter((c) => c.method === 'POST' && c.path === hook && ok(c)).map((c) => c.body as Record<string, unknown>),
      };
    },
    channelMessages: (channel) => (world.messages.get(channelOf(channel).id) ?? []).map(api),
    botMessages: (channel) => {
      const lists = channel ? [world.messages.get(channelOf(channel).id) ?? []] : [...world.messages.values()];
      return lists
        .flat()
        .filter((m) => m.authorId === world.bot.id)
        .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1))
        .map(api);
    },
    botReactions: (messageId) =>
      [...(world.findMessage(messageId)?.reactions ?? new Map<string, Set<string>>())].filter(([, who]) => who.has(world.bot.id)).map(([e]) => e),
    cdnDownloads: cdn.downloads,
    failNextDownload: (status, opts) => cdn.failNext(status, opts),
    callsTo: (route) => rest.calls.filter((c) => routeMatches(route, c.method, c.path)),
    failNext: (route, f) => void rest.faults.push({ route, status: f.status, retryAfter: f.retryAfter, times: f.times ?? 1, match: f.match }),
    failAfterCreate: (route, f = {}) =>
      void rest.faults.push({ route, status: f.status ?? 500, times: f.times ?? 1, match: f.match, after: f.drop ? 'drop' : 'status' }),
    nonceReplays: rest.nonceReplays,
    get enforceRateLimits() {
      return rest.enforceRateLimits;
    },
    set enforceRateLimits(on: boolean) {
      rest.enforceRateLimits = on;
    },
    rateLimits: rest.rateLimits,
    rateLimited: rest.rateLimited,
    rateLimitedSummary,
    clearFaults: () => {
      rest.faults.splice(0);
      cdn.clearFaults();
    },
    disconnect: (o) => gateway.disconnect(o),
    requestReconnect: () => gateway.requestReconnect(),
    close: async () => {
      if (rest.rateLimited.length)
        console.warn(`discord twin: ${rest.rateLimited.length} call(s) refused by the rate limits: ${rateLimitedSummary().join(', ')}`);
      await gateway.close();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    },
  };
}

/** The `payload_json` part (as a string, '' when absent) and the `files[n]` parts of a multipart body. */
async function parseMultipart(
  body: Buffer,
  contentType: string,
): Promise<{ payload: string; files: Array<{ filename: string; size: number; contentType?: string; bytes: Buffer }> }> {
  const form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
  const payload = form.get('payload_json');
  const files = [];
  for (const [name, value] of form.entries()) {
    if (!/^files\[\d+\]$/.test(name) || typeof value === 'string') continue;
    const bytes = Buffer.from(await value.arrayBuffer());
    files.push({ filename: value.name, size: bytes.length, ...(value.type ? { contentType: value.type } : {}), bytes });
  }
  return { payload: typeof payload === 'string' ? payload : '', files };
}
