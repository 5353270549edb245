/**
 * A Slack twin: a local server on 127.0.0.1 (random port) speaking enough of Slack's Web API,
 * Socket Mode and Events API over HTTP for the real @slack/bolt to run against it
 * (`SLACK_API_URL=<twin.apiUrl>`).
 *
 * - Web API: `POST /api/<method>` (form or JSON body, Bearer token) — see `web-api.ts`; every
 *   call is recorded in {@link SlackTwin.calls}; {@link SlackTwin.failNext} injects 429s
 *   (with `Retry-After`), HTTP errors or Slack error codes — also after carrying the call out
 *   (`applied`: "created, but the answer was lost"); {@link SlackTwin.faultRules}
 *   (`fault-rules.ts`) fails only matching calls, also after they took effect (500 after create).
 * - Rate tiers (on by default; `enforceTiers: false` or {@link SlackTwin.enforceTiers} = false
 *   turns them off): a call over Slack's limit for its method and channel (`rate-tiers.ts`) is
 *   NOT carried out and gets HTTP 429, `Retry-After: <s>` and `{ok:false, error:"ratelimited"}`,
 *   as Slack answers; each is recorded in {@link SlackTwin.rateLimited} and its
 *   {@link ApiCall.rateLimited}. The tier check comes first: a refused call consumes no injected
 *   fault, and a call let through counts against the window whatever its outcome.
 * - Latency ({@link SlackTwinOptions.webApiLatencyMs}, {@link SlackTwin.setWebApiLatency}):
 *   every Web API call waits that long before it is carried out and answered at once — the
 *   whole round trip before the effect, so a change is visible in the twin exactly when the
 *   caller gets its answer.
 * - Socket Mode: `ws://…/socket?ticket=…` from `apps.connections.open` — see `socket.ts`.
 * - Events API over HTTP: set {@link SlackTwin.eventsUrl} and events are POSTed there, signed
 *   with the signing secret (`events.ts`); {@link SlackTwin.sendHttp} sends anything (forged,
 *   stale, malformed).
 * - People: {@link SlackTwin.userPosts} stores a user's message and delivers the events Slack
 *   would (`app_mention` for a mention in a channel, `message` for channel messages and DMs).
 *   The bot's own posts, edits and deletions are echoed back as `message` events too
 *   (plain, `message_changed`, `message_deleted`), as Slack does for an app subscribed to
 *   `message.*`, so the adapter must ignore them.
 * - Slash commands: {@link SlackTwin.slashCommand} sends `/agent …` as a person would — over
 *   Socket Mode a `slash_commands` envelope (the ack's payload is the response), over HTTP a
 *   signed form-encoded POST to {@link SlackTwin.commandsUrl} (the HTTP answer is the response).
 *   Each command gets a `response_url` on the twin (`POST /response/<id>`); posts to it are
 *   recorded on the command ({@link SlashCommandCall.responses}).
 * - Cards and clicks: posts and updates keep their Block Kit `blocks` ({@link TwinMessage.blocks},
 *   `blocksHistory`); `chat.postEphemeral` is recorded in `store.ephemerals`.
 *   {@link SlackTwin.click} clicks a button of a stored message as a person would — over Socket
 *   Mode an `interactive` envelope with a `block_actions` payload (expecting an ack), over HTTP a
 *   signed form POST (`payload=<JSON>`) to {@link SlackTwin.interactionsUrl} (forged, stale or
 *   unsigned on request). Each click gets a `response_url` (recorded like a command's);
 *   {@link SlackTwin.redeliverClick} delivers a click again (a duplicate, or over HTTP the very
 *   same signed request: a replay).
 * - Files people attach (`hosted-files.ts`): {@link SlackTwin.addFile} registers a file and returns
 *   Slack's file object (`url_private`, `url_private_download` on the twin's `GET /files-pri/…`);
 *   {@link SlackTwin.userPosts} with `files` delivers a `message` event with subtype `file_share`
 *   (and the `app_mention`, for a mention) carrying them. The URLs answer only with the bot token
 *   as Bearer (else HTTP 200 with an HTML sign-in page, as Slack does); every download is recorded
 *   in {@link SlackTwin.calls} as method {@link FILE_DOWNLOAD} ({@link SlackTwin.downloadsOf});
 *   {@link SlackTwin.failDownloads} answers a status (404, 500) instead of the file.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { blockActionsPayload, botEchoEvent, eventEnvelope, postSigned, type BotChange, type HttpDelivery, type Signing } from './events.js';
import { SocketHub, type SentCommand } from './socket.js';
import { channelType, TwinStore, type TwinEphemeral, type TwinMessage, type TwinUser } from './store.js';
import { callWebApi, parseParams, type ApiResult, type Params } from './web-api.js';
import { FaultRules } from './fault-rules.js';
import { RateTiers, tierChannel } from './rate-tiers.js';
import { HostedFiles, type HostedFileInput } from './hosted-files.js';

/** The pseudo method under which downloads of attached files are recorded in {@link SlackTwin.calls} (not a Web API method). */
export const FILE_DOWNLOAD = 'file:download';

export type { TwinEphemeral, TwinMessage, TwinUser } from './store.js';

export interface SlackTwinOptions {
  teamId?: string;
  botUserId?: string;
  botId?: string;
  botName?: string;
  botToken?: string;
  appToken?: string;
  signingSecret?: string;
  users?: TwinUser[];
  /** Echo the bot's own posts/edits/deletions as events (default true). */
  echoBotMessages?: boolean;
  /** Enforce Slack's rate tiers per method and channel with 429s (default true; see `rate-tiers.ts`). */
  enforceTiers?: boolean;
  /** Round-trip time of every Web API call, ms, spent before it is carried out (default 0). */
  webApiLatencyMs?: number;
}

/** A call the rate tiers refused (HTTP 429, not carried out). */
export interface RateLimitedCall {
  method: string;
  /** The channel it was counted under ('' = a call without a channel). */
  channel: string;
  /** The `Retry-After` answered, seconds. */
  retryAfterS: number;
  /** When, ms since the epoch. */
  at: number;
}

/** One Web API call as received and answered (the token itself is not kept). */
export interface ApiCall {
  method: string;
  params: Params;
  /** Which token was used. */
  auth: 'bot' | 'app' | 'none' | 'unknown';
  status: number;
  response: Record<string, unknown>;
  /** When it was carried out (or refused) and answered, ms since the epoch — after any Web API latency. */
  at: number;
  /** When its request had arrived (before the latency), ms since the epoch. */
  receivedAt: number;
  /** The rate tiers refused it (429, not carried out); injected 429s leave this unset. */
  rateLimited?: true;
}

/** A fault for the next call(s) of a method. */
export interface Fault {
  /** HTTP status (429 sends `Retry-After: retryAfter`). */
  status?: number;
  /** Seconds for `Retry-After` (429 only; default 1). */
  retryAfter?: number;
  /** A Slack error code answered with HTTP 200 `{ok:false, error}`. */
  error?: string;
  /**
   * Carry the call out first, then answer with the fault anyway (e.g. `{status: 500, applied:
   * true}`: the message is created or updated, but the caller sees a 500 — a lost answer).
   */
  applied?: boolean;
}

export interface UserPostInput {
  user: string;
  channel: string;
  text: string;
  thread_ts?: string;
  /** Prefix the text with the bot's mention and send `app_mention` (channels only). */
  mention?: boolean;
  /** For a mention: also send the `message` event (default false; non-mentions always get it). */
  also_as_message?: boolean;
  /** Post as another bot (`bot_id`, subtype `bot_message`). */
  bot_id?: string;
  /**
   * Files attached (Slack file objects, from {@link SlackTwin.addFile} — or anything, to send a
   * malformed entry): the `message` event gets subtype `file_share` and `files`, the
   * `app_mention` `files`.
   */
  files?: unknown[];
}

export interface UserPost {
  channel: string;
  ts: string;
  /** The thread the message is in (its parent's ts), if it is a reply. */
  thread_ts?: string;
  text: string;
  /** Event ids delivered for it, in order (`app_mention` first). */
  eventIds: string[];
  /** HTTP mode: the responses agentbridge gave. */
  http: HttpDelivery[];
}

export interface SlashCommandInput {
  user: string;
  channel: string;
  /** Everything after the command name, e.g. `status` or `cron list`. */
  text: string;
  /** Default `/agent`. */
  command?: string;
  /** HTTP only: how the request is signed (default valid). */
  signing?: Signing;
}

/** A post to a command's `response_url`. */
export interface ResponsePost {
  body: Record<string, unknown>;
  at: number;
}

/** One slash command as sent, its acknowledgement (the response shown at once) and later responses. */
export interface SlashCommandCall {
  id: string;
  payload: Record<string, string>;
  sentAt: number;
  /** The acknowledgement's payload (Socket Mode) or the parsed HTTP answer; undefined when empty or not (yet) acknowledged. */
  ack?: Record<string, unknown>;
  /** When the acknowledgement arrived (ms since the epoch). */
  ackedAt?: number;
  /** HTTP mode: the status agentbridge answered. */
  status?: number;
  /** Posts to the command's response_url, in arrival order. */
  responses: ResponsePost[];
}

export interface ClickInput {
  user: string;
  channel: string;
  /** `ts` of the message the button is on. */
  ts: string;
  /** `action_id` of the clicked button; it must be on the message unless `anyActionId`. */
  actionId: string;
  /** Send the click even when the message has no such button (e.g. a stale or foreign action id). */
  anyActionId?: boolean;
  /** HTTP only: how the request is signed (default valid). */
  signing?: Signing;
  /**
   * Changes the payload before it is sent (malformed payloads): the result is sent as the payload
   * (over HTTP a string result is the `payload` field verbatim, anything else is JSON-encoded).
   */
  mutate?: (payload: Record<string, unknown>) => unknown;
}

/** One click as delivered, with its acknowledgement and what was posted to its `response_url`. */
export interface InteractionCall {
  id: string;
  transport: 'socket' | 'http';
  /** The payload as sent (after `mutate`). */
  payload: unknown;
  sentAt: number;
  /** When the ack (Socket Mode) or the HTTP answer arrived. */
  ackedAt?: number;
  /** Socket Mode: the ack's payload. */
  ack?: unknown;
  /** HTTP: the status and body agentbridge answered (0 = no answer). */
  status?: number;
  body?: string;
  /** Posts to this click's response_url, in arrival order. */
  responses: ResponsePost[];
  /** HTTP: the form body and timestamp signed, for an exact replay. */
  raw?: string;
  timestampS?: number;
  signing?: Signing;
}

/** An answer held by {@link SlackTwin.holdNext}. */
interface Hold {
  method: string;
  arrive(): void;
  released: boolean;
  send?: () => void;
}

export class SlackTwin {
  readonly teamId: string;
  readonly botUserId: string;
  readonly botId: string;
  readonly botName: string;
  readonly botToken: string;
  readonly appToken: string;
  readonly signingSecret: string;
  readonly store = new TwinStore();
  readonly socket = new SocketHub();
  readonly calls: ApiCall[] = [];
  /** Slack's rate tiers: when false, no call is refused for its rate (injected faults still apply). */
  enforceTiers: boolean;
  /** The counters behind {@link enforceTiers} (`reset()` forgets the calls counted so far). */
  readonly rateTiers = new RateTiers();
  /** Every call the rate tiers refused with a 429, oldest first. */
  readonly rateLimited: RateLimitedCall[] = [];
  /** Targeted faults, including failures after the call took effect (see `fault-rules.ts`). */
  readonly faultRules = new FaultRules();
  /** HTTP deliveries made (events and raw sends). */
  readonly httpDeliveries: Array<{ event_id?: string; status: number; retryNum?: number }> = [];
  /** When set, events are POSTed here (Events API over HTTP) instead of Socket Mode. */
  eventsUrl?: string;
  /** HTTP mode: where slash commands are POSTed (default: {@link eventsUrl} with `/slack/commands`). */
  commandsUrl?: string;
  /** Slash commands sent, oldest first. */
  readonly slashCommands: SlashCommandCall[] = [];
  /** HTTP mode: where clicks are POSTed (default: {@link eventsUrl} with `/slack/interactions`). */
  interactionsUrl?: string;
  /** Clicks delivered, oldest first. */
  readonly interactions: InteractionCall[] = [];
  url = '';
  private readonly server: http.Server;
  private readonly faults = new Map<string, Fault[]>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly echo: boolean;
  private eventCounter = 0;
  private latencyMs = 0;
  /** Answers held back by {@link holdNext}, oldest first. */
  private readonly holds: Hold[] = [];
  /** Byte uploads to upload URLs (`POST /upload/<id>`), oldest first. */
  readonly uploads: Array<{ id: string; bytes: number; at: number }> = [];
  /** Web API calls waiting out the latency. */
  private readonly delayed = new Set<NodeJS.Timeout>();
  /** Files people attach (see `hosted-files.ts`). */
  readonly hostedFiles: HostedFiles;

  private constructor(o: SlackTwinOptions) {
    this.teamId = o.teamId ?? 'T0TWIN';
    this.botUserId = o.botUserId ?? 'U0BOT';
    this.botId = o.botId ?? 'B0BOT';
    this.botName = o.botName ?? 'agentbridge';
    this.botToken = o.botToken ?? 'xoxb-twin-bot-token';
    this.appToken = o.appToken ?? 'xapp-twin-app-token';
    this.signingSecret = o.signingSecret ?? 'twin-signing-secret';
    this.echo = o.echoBotMessages ?? true;
    this.enforceTiers = o.enforceTiers ?? true;
    this.setWebApiLatency(o.webApiLatencyMs ?? 0);
    for (const u of o.users ?? []) this.addUser(u);
    this.hostedFiles = new HostedFiles(this.teamId, () => this.url);
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req, socket, head) => this.socket.handleUpgrade(req, socket, head));
  }

  static async start(o: SlackTwinOptions = {}): Promise<SlackTwin> {
    const twin = new SlackTwin(o);
    await new Promise<void>((resolve, reject) => {
      twin.server.once('error', reject);
      twin.server.listen(0, '127.0.0.1', () => resolve());
    });
    twin.url = `http://127.0.0.1:${(twin.server.address() as AddressInfo).port}`;
    return twin;
  }

  /**
   * Sets the round-trip time of Web API calls that arrive from now on, ms (0 = none): each waits
   * this long, then is carried out and answered at once. @throws on a negative or non-finite value.
   */
  setWebApiLatency(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`invalid Web API latency ${ms} ms`);
    this.latencyMs = ms;
  }

  /** The current Web API round-trip time, ms. */
  get webApiLatencyMs(): number {
    return this.latencyMs;
  }

  /** Base URL for SLACK_API_URL. */
  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  addUser(u: TwinUser): void {
    this.store.users.set(u.id, u);
  }

  /** Stores a user's message and delivers its events; resolves once they were sent (HTTP: answered). */
  async userPosts(p: UserPostInput): Promise<UserPost> {
    const text = p.mention ? `<@${this.botUserId}> ${p.text}` : p.text;
    const refs = (p.files ?? []).flatMap((f) => {
      const o = f as { id?: unknown; name?: unknown; title?: unknown; size?: unknown };
      return typeof o?.id === 'string' ? [{ id: o.id, name: String(o.name ?? ''), title: String(o.title ?? o.name ?? ''), size: Number(o.size ?? 0) }] : [];
    });
    const m = this.store.add({ channel: p.channel, text, user: p.user, bot_id: p.bot_id, thread_ts: p.thread_ts, ...(refs.length ? { files: refs } : {}) });
    const reply = m.thread_ts && m.thread_ts !== m.ts ? m.thread_ts : undefined;
    const parent = reply ? this.store.get(p.channel, reply) : undefined;
    const base: Record<string, unknown> = {
      user: p.user,
      text,
      ts: m.ts,
      event_ts: m.ts,
      channel: p.channel,
      team: this.teamId,
      client_msg_id: `cm-${m.ts}`,
      ...(reply ? { thread_ts: reply, parent_user_id: parent?.user ?? parent?.bot_id } : {}),
      ...(p.bot_id ? { bot_id: p.bot_id, subtype: 'bot_message', username: `bot ${p.bot_id}` } : {}),
      ...(p.files?.length ? { files: p.files, upload: false, display_as_bot: false } : {}),
    };
    const type = channelType(p.channel);
    const events: Array<Record<string, unknown>> = [];
    if (p.mention && type !== 'im') events.push({ type: 'app_mention', ...base });
    const subtype = p.files?.length && !p.bot_id ? { subtype: 'file_share' } : {};
    if (type === 'im' || !p.mention || p.also_as_message) events.push({ type: 'message', ...base, ...subtype, channel_type: type });
    const eventIds: string[] = [];
    const httpResults: HttpDelivery[] = [];
    for (const e of events) {
      const { eventId, http: res } = await this.deliver(e);
      eventIds.push(eventId);
      if (res) httpResults.push(res);
    }
    return { channel: p.channel, ts: m.ts, ...(reply ? { thread_ts: reply } : {}), text, eventIds, http: httpResults };
  }

  /**
   * Sends a slash command as `user` in `channel`; resolves once it was acknowledged (Socket Mode)
   * or answered (HTTP) — or after `timeoutMs` without (then `ack`/`ackedAt` stay unset).
   */
  async slashCommand(p: SlashCommandInput, timeoutMs = 5_000): Promise<SlashCommandCall> {
    const id = `cmd${this.slashCommands.length + 1}`;
    const user = this.store.users.get(p.user);
    const payload: Record<string, string> = {
      token: 'twin-verification-token',
      team_id: this.teamId,
      team_domain: 'twin',
      channel_id: p.channel,
      channel_name: channelType(p.channel) === 'im' ? 'directmessage' : p.channel.toLowerCase(),
      user_id: p.user,
      user_name: user?.name ?? p.user.toLowerCase(),
      command: p.command ?? '/agent',
      text: p.text,
      api_app_id: 'A0TWIN',
      is_enterprise_install: 'false',
      response_url: `${this.url}/response/${id}`,
      trigger_id: `${Date.now()}.${id}.twintrigger`,
    };
    const call: SlashCommandCall = { id, payload, sentAt: Date.now(), responses: [] };
    this.slashCommands.push(call);
    if (!this.eventsUrl && !this.commandsUrl) {
      const sent: SentCommand = this.socket.sendCommand(payload);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([sent.acked, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]).finally(() => clearTimeout(timer));
      if (sent.ackedAt !== undefined) {
        call.ackedAt = sent.ackedAt;
        if (sent.ack && typeof sent.ack === 'object' && Object.keys(sent.ack).length) call.ack = sent.ack as Record<string, unknown>;
      }
      return call;
    }
    const url = this.commandsUrl ?? this.eventsUrl!.replace(/\/slack\/events$/, '/slack/commands');
    const res = await postSigned(url, new URLSearchParams(payload).toString(), {
      secret: this.signingSecret,
      signing: p.signing ?? 'valid',
      contentType: 'application/x-www-form-urlencoded',
      timeoutMs,
    });
    call.status = res.status;
    call.ackedAt = Date.now();
    if (res.body) {
      try {
        call.ack = JSON.parse(res.body) as Record<string, unknown>;
      } catch {
        call.ack = { text: res.body };
      }
    }
    return call;
  }

  /**
   * Clicks a button of a stored message as `user`; resolves once the click was acknowledged
   * (Socket Mode) or answered (HTTP), or after `timeoutMs` without. Over HTTP when
   * {@link interactionsUrl} or {@link eventsUrl} is set, else over Socket Mode.
   * @throws when the message does not exist or (without `anyActionId`) has no such button.
   */
  async click(p: ClickInput, timeoutMs = 5_000): Promise<InteractionCall> {
    const m = this.store.get(p.channel, p.ts);
    if (!m || m.deleted) throw new Error(`no message ${p.channel}/${p.ts}`);
    const id = `act${this.interactions.length + 1}`;
    const user = this.store.users.get(p.user);
    const payload = blockActionsPayload({
      teamId: this.teamId,
      appId: 'A0TWIN',
      user: { id: p.user, name: user?.name ?? p.user.toLowerCase() },
      message: { ...TwinStore.wire(m, this.botUserId), channel: m.channel },
      actionId: p.actionId,
      anyActionId: p.anyActionId,
      responseUrl: `${this.url}/response/${id}`,
      actionTs: this.store.nextTs(),
    });
    const sent = p.mutate ? p.mutate(payload) : payload;
    return this.deliverClick({ id, transport: this.clickTransport(), payload: sent, sentAt: Date.now(), responses: [], signing: p.signing }, timeoutMs);
  }

  /**
   * Delivers click `id` again as a new {@link InteractionCall}: over Socket Mode a new envelope
   * with the same payload; over HTTP newly signed — or, with `replay`, the very same request
   * (same timestamp and signature), as an attacker who captured it would.
   */
  redeliverClick(id: string, opts: { replay?: boolean } = {}, timeoutMs = 5_000): Promise<InteractionCall> {
    const first = this.interactions.find((c) => c.id === id);
    if (!first) throw new Error(`no click ${id} was delivered`);
    const call: InteractionCall = {
      id: `act${this.interactions.length + 1}`,
      transport: first.transport,
      payload: first.payload,
      sentAt: Date.now(),
      responses: [],
      signing: first.signing,
      ...(opts.replay ? { raw: first.raw, timestampS: first.timestampS } : {}),
    };
    return this.deliverClick(call, timeoutMs);
  }

  /** Ephemeral messages shown to `user` (optionally only those in `channel`), oldest first. */
  ephemeralsFor(user: string, channel?: string): TwinEphemeral[] {
    return this.store.ephemerals.filter((e) => e.user === user && (channel === undefined || e.channel === channel));
  }

  private clickTransport(): 'socket' | 'http' {
    return this.interactionsUrl || this.eventsUrl ? 'http' : 'socket';
  }

  private async deliverClick(call: InteractionCall, timeoutMs: number): Promise<InteractionCall> {
    this.interactions.push(call);
    if (call.transport === 'socket') {
      const sent = this.socket.sendInteractive(call.payload);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([sent.acked, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]).finally(() => clearTimeout(timer));
      if (sent.ackedAt !== undefined) {
        call.ackedAt = sent.ackedAt;
        call.ack = sent.ack;
      }
      return call;
    }
    const url = this.interactionsUrl ?? this.eventsUrl!.replace(/\/slack\/events$/, '/slack/interactions');
    call.raw ??= new URLSearchParams({ payload: typeof call.payload === 'string' ? call.payload : JSON.stringify(call.payload) }).toString();
    // A repeated delivery is a new request: the twin dates it one second later per earlier delivery
    // of the same payload (as Slack's own retries of events carry new timestamps), so it has a new
    // signature — unless it is an exact replay (`raw` and `timestampS` kept).
    const earlier = this.interactions.filter((c) => c !== call && c.payload === call.payload).length;
    call.timestampS ??= Math.floor(Date.now() / 1000) + earlier;
    try {
      const res = await postSigned(url, call.raw, {
        secret: this.signingSecret,
        signing: call.signing ?? 'valid',
        contentType: 'application/x-www-form-urlencoded',
        timestampS: call.timestampS,
        timeoutMs,
      });
      call.status = res.status;
      call.body = res.body;
    } catch (err) {
      call.status = 0;
      call.body = String(err);
    }
    call.ackedAt = Date.now();
    return call;
  }

  /** Parent and replies of a thread, oldest first. */
  threadMessages(channel: string, ts: string): TwinMessage[] {
    return this.store.thread(channel, ts);
  }

  /** The bot's messages in a thread (current texts), oldest first. */
  botTexts(channel: string, ts: string): string[] {
    return this.threadMessages(channel, ts)
      .filter((m) => m.bot_id === this.botId)
      .map((m) => m.text);
  }

  message(channel: string, ts: string): TwinMessage | undefined {
    return this.store.get(channel, ts);
  }

  /**
   * Registers a file a person uploads (name, bytes, MIME type — default `text/plain`); @returns
   * Slack's file object (`id` `F…`, `name`, `mimetype`, `size`, `url_private`,
   * `url_private_download` on this twin), for {@link UserPostInput.files}.
   */
  addFile(input: HostedFileInput): Record<string, unknown> {
    return this.hostedFiles.add(input);
  }

  /** The next `times` downloads of attached file `id` answer HTTP `status` instead of the file. */
  failDownloads(id: string, status: number, times = 1): void {
    this.hostedFiles.failDownloads(id, status, times);
  }

  /** Recorded downloads of attached files (all, or of file `id`), oldest first. */
  downloadsOf(id?: string): ApiCall[] {
    return this.calls.filter((c) => c.method === FILE_DOWNLOAD && (id === undefined || c.params.file === id));
  }

  /** Recorded calls of one method. */
  callsOf(method: string): ApiCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** The next `times` calls of `method` get `fault` instead of their answer. */
  failNext(method: string, fault: Fault, times = 1): void {
    const list = this.faults.get(method) ?? [];
    for (let i = 0; i < times; i++) list.push(fault);
    this.faults.set(method, list);
  }

  /** Removes every fault not yet used. */
  clearFaults(): void {
    this.faults.clear();
  }

  /** Drops every Socket Mode connection abruptly. */
  dropConnection(): void {
    this.socket.drop();
  }

  /** Sends `disconnect` (`refresh_requested`) to the connected client. */
  requestRefresh(): void {
    this.socket.requestRefresh();
  }

  /** Delivers an event again as Slack's retry would (Socket Mode: by envelope or event id; HTTP: by event id). */
  async redeliver(id: string): Promise<HttpDelivery | undefined> {
    if (!this.eventsUrl) {
      this.socket.redeliver(id);
      return undefined;
    }
    const previous = this.httpDeliveries.filter((d) => d.event_id === id);
    const payload = this.sentPayloads.get(id);
    if (!payload) throw new Error(`no event ${id} was delivered`);
    return this.postEvent(payload, previous.length);
  }

  /** POSTs a raw body to {@link eventsUrl}, signed as asked (for forged, stale and malformed requests). */
  async sendHttp(body: string | Record<string, unknown>, signing: Signing = 'valid'): Promise<HttpDelivery> {
    if (!this.eventsUrl) throw new Error('eventsUrl is not set');
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await postSigned(this.eventsUrl, raw, { secret: this.signingSecret, signing });
    this.httpDeliveries.push({ status: res.status });
    return res;
  }

  /** Builds an `event_callback` envelope (for {@link sendHttp}). */
  envelope(event: Record<string, unknown>): Record<string, unknown> {
    return eventEnvelope({ teamId: this.teamId, appId: 'A0TWIN', botUserId: this.botUserId }, event, `Ev${String(++this.eventCounter).padStart(8, '0')}`);
  }

  /** The calls the rate tiers refused, counted by method and channel (e.g. `chat.update C0GENERAL ×3`), most first. */
  rateLimitedSummary(): string[] {
    const counts = new Map<string, number>();
    for (const r of this.rateLimited) counts.set(`${r.method} ${r.channel || '-'}`, (counts.get(`${r.method} ${r.channel || '-'}`) ?? 0) + 1);
    return [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`);
  }

  /** Stops the twin; says on stderr when the rate tiers refused calls (a test that did not look would not notice). */
  async close(): Promise<void> {
    if (this.rateLimited.length)
      console.warn(`slack twin: ${this.rateLimited.length} call(s) refused by the rate tiers: ${this.rateLimitedSummary().join(', ')}`);
    this.socket.close();
    // Calls still waiting out the latency are dropped (their connections close below).
    for (const t of this.delayed) clearTimeout(t);
    this.delayed.clear();
    await Promise.allSettled([...this.inflight]);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private readonly sentPayloads = new Map<string, Record<string, unknown>>();

  private async deliver(event: Record<string, unknown>): Promise<{ eventId: string; http?: HttpDelivery }> {
    const payload = this.envelope(event);
    const eventId = String(payload.event_id);
    this.sentPayloads.set(eventId, payload);
    if (!this.eventsUrl) {
      this.socket.send(payload);
      return { eventId };
    }
    return { eventId, http: await this.postEvent(payload, 0) };
  }

  private async postEvent(payload: Record<string, unknown>, retryNum: number): Promise<HttpDelivery> {
    const eventId = String(payload.event_id);
    let res: HttpDelivery;
    try {
      // Slack's retry comes seconds later with a new timestamp (so a new signature); the twin
      // redelivers at once, so it dates a retry `retryNum` seconds ahead (well within the window).
      const timestampS = retryNum ? Math.floor(Date.now() / 1000) + retryNum : undefined;
      res = await postSigned(this.eventsUrl!, JSON.stringify(payload), { secret: this.signingSecret, retryNum, timestampS });
    } catch (err) {
      res = { status: 0, body: String(err) };
    }
    this.httpDeliveries.push({ event_id: eventId, status: res.status, retryNum });
    return res;
  }

  /** Echoes the bot's own changes as `message` events (see the module doc). */
  private onBotChange(kind: BotChange, m: TwinMessage, previousText?: string): void {
    if (!this.echo) return;
    const event = botEchoEvent(
      kind,
      m,
      { teamId: this.teamId, botUserId: this.botUserId, botId: this.botId, botName: this.botName, eventTs: this.store.nextTs() },
      previousText,
    );
    const p = this.deliver(event).catch(() => {});
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://twin');
      const response = /^\/response\/([\w-]+)$/.exec(url.pathname);
      if (req.method === 'POST' && response) return this.onResponseUrl(response[1]!, Buffer.concat(chunks).toString('utf8'), res);
      if (req.method === 'GET' && url.pathname.startsWith('/files-pri/')) return this.onFileDownload(url.pathname, req.headers.authorization, res);
      const upload = /^\/upload\/(\w+)$/.exec(url.pathname);
      if (req.method === 'POST' && upload) return this.onUpload(upload[1]!, Buffer.concat(chunks), res);
      const match = /^\/api\/([\w.]+)$/.exec(url.pathname);
      if (req.method !== 'POST' || !match) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error: 'not_found' }));
        return;
      }
      const method = match[1]!;
      const params = parseParams(Buffer.concat(chunks).toString('utf8'), req.headers['content-type']);
      for (const [k, v] of url.searchParams) params[k] ??= v;
      const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const token = bearer ?? params.token;
      delete params.token;
      const receivedAt = Date.now();
      if (this.latencyMs <= 0) return this.onWebApi(method, params, token, res, receivedAt);
      const timer = setTimeout(() => {
        this.delayed.delete(timer);
        this.onWebApi(method, params, token, res, receivedAt);
      }, this.latencyMs);
      this.delayed.add(timer);
    });
  }

  /** Carries out (or refuses) one Web API call, records it and answers it. */
  private onWebApi(method: string, params: Params, token: string | undefined, res: http.ServerResponse, receivedAt: number): void {
    const limited = this.limitedByTier(method, params);
    const result = limited ?? this.answer(method, params, token);
    const auth = !token ? 'none' : token === this.botToken ? 'bot' : token === this.appToken ? 'app' : 'unknown';
    this.calls.push({
      method,
      params,
      auth,
      status: result.status,
      response: result.body,
      at: Date.now(),
      receivedAt,
      ...(limited ? { rateLimited: true as const } : {}),
    });
    const send = () => {
      if (res.destroyed) return;
      const text = JSON.stringify(result.body);
      res.writeHead(result.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...result.headers });
      res.end(text);
    };
    const i = this.holds.findIndex((h) => h.method === method);
    if (i < 0) return send();
    const [hold] = this.holds.splice(i, 1);
    hold!.send = send;
    hold!.arrive();
    if (hold!.released) send();
  }

  /** The 429 for a call over its rate tier (recorded in {@link rateLimited}), or undefined when it may go ahead (then it is counted). */
  private limitedByTier(method: string, params: Params): ApiResult | undefined {
    if (!this.enforceTiers) return undefined;
    const channel = tierChannel(method, params);
    const decision = this.rateTiers.take(method, channel);
    if (decision.allowed) return undefined;
    this.rateLimited.push({ method, channel, retryAfterS: decision.retryAfterS, at: Date.now() });
    return { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': String(decision.retryAfterS) } };
  }

  /**
   * `POST /upload/<file id>`: the bytes of an external upload (raw body, as Slack accepts; no
   * token: the URL is the credential). 200 `OK - <length>` as Slack answers; 404 for an unknown
   * file; 400 when the body's length is not the announced `length`.
   */
  private onUpload(id: string, body: Buffer, res: http.ServerResponse): void {
    const file = this.store.files.get(id);
    this.uploads.push({ id, bytes: body.length, at: Date.now() });
    if (!file) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('file not found');
    if (body.length !== file.length) return void res.writeHead(400, { 'content-type': 'text/plain' }).end('length mismatch');
    file.bytes = body;
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`OK - ${body.length}`);
  }

  /**
   * `GET /files-pri/<team>-<id>/[download/]<name>`: an attached file's private URL (see
   * `hosted-files.ts`), recorded in {@link calls} as {@link FILE_DOWNLOAD} with the token used
   * (never the token itself).
   */
  private onFileDownload(pathname: string, authorization: string | undefined, res: http.ServerResponse): void {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    const auth = !token ? 'none' : token === this.botToken ? 'bot' : token === this.appToken ? 'app' : 'unknown';
    const answer = this.hostedFiles.serve(pathname, auth === 'bot') ?? {
      status: 404,
      headers: { 'content-type': 'text/plain' },
      body: Buffer.from('not found'),
    };
    const now = Date.now();
    this.calls.push({
      method: FILE_DOWNLOAD,
      params: { path: pathname, ...(answer.fileId ? { file: answer.fileId } : {}) },
      auth,
      status: answer.status,
      response: { contentType: answer.headers['content-type'] ?? '', bytes: answer.body.length },
      at: now,
      receivedAt: now,
    });
    res.writeHead(answer.status, { ...answer.headers, 'content-length': answer.body.length }).end(answer.body);
  }

  /**
   * Holds the answer of the next call of `method`: the call is carried out (e.g. the share message
   * is created) and recorded as usual, but its HTTP answer waits until `release()` — so a test can
   * kill agentbridge while its call is in flight. `arrived` resolves when the call came in.
   */
  holdNext(method: string): { arrived: Promise<void>; release(): void } {
    let arrive!: () => void;
    const arrived = new Promise<void>((r) => (arrive = r));
    const hold: Hold = { method, arrive, released: false };
    this.holds.push(hold);
    return {
      arrived,
      release: () => {
        hold.released = true;
        hold.send?.();
      },
    };
  }

  /** `POST /response/<id>`: a command's or a click's response_url (JSON body, as @slack/bolt's respond() and agentbridge send). */
  private onResponseUrl(id: string, raw: string, res: http.ServerResponse): void {
    const call: { responses: ResponsePost[] } | undefined = this.slashCommands.find((c) => c.id === id) ?? this.interactions.find((c) => c.id === id);
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    if (!call || !body) {
      res
        .writeHead(call ? 400 : 404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ok: false, error: call ? 'invalid_payload' : 'expired_url' }));
      return;
    }
    if (call.responses.length >= 5) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error: 'used_url' }));
      return;
    }
    call.responses.push({ body, at: Date.now() });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
  }

  private answer(method: string, params: Params, token: string | undefined): ApiResult {
    const before = this.faultRules.take(method, params, 'before');
    if (before) return before;
    const result = this.answerWithQueuedFaults(method, params, token);
    // A rule for "after": the call took effect (e.g. the message was created), then the answer is lost.
    return (result.body.ok === true && this.faultRules.take(method, params, 'after')) || result;
  }

  private answerWithQueuedFaults(method: string, params: Params, token: string | undefined): ApiResult {
    const fault = this.faults.get(method)?.shift();
    if (fault) {
      if (fault.applied) this.callMethod(method, params, token);
      if (fault.status === 429) {
        const after = fault.retryAfter ?? 1;
        return { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': String(after) } };
      }
      if (fault.status) return { status: fault.status, body: { ok: false, error: 'internal_error' } };
      return { status: 200, body: { ok: false, error: fault.error ?? 'internal_error' } };
    }
    return this.callMethod(method, params, token);
  }

  private callMethod(method: string, params: Params, token: string | undefined): ApiResult {
    return callWebApi(method, params, token, {
      store: this.store,
      teamId: this.teamId,
      botUserId: this.botUserId,
      botId: this.botId,
      botName: this.botName,
      botToken: this.botToken,
      appToken: this.appToken,
      socketUrl: () => this.socket.newUrl(this.url),
      uploadUrl: (id) => `${this.url}/upload/${id}`,
      onBotChange: (kind, m, prev) => this.onBotChange(kind, m, prev),
    });
  }
}

/** Starts a twin (see {@link SlackTwin}). */
export function startSlackTwin(o: SlackTwinOptions = {}): Promise<SlackTwin> {
  return SlackTwin.start(o);
}
