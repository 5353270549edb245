/**
 * The Slack platform adapter, on @slack/bolt.
 *
 * Transport (one of):
 * - Socket Mode when `appToken` is set: Bolt's SocketModeReceiver; `apps.connections.open` and
 *   every Web API call go to `apiUrl`. Bolt's reconnect logic is kept (on `disconnect`
 *   messages and dropped sockets it opens a new connection after ~5 s), and so is its
 *   heartbeat: no pong for 5 s, or Slack's pings stopping for `socketIdleMs` (60 s), reconnects
 *   a connection that stayed open but went silent.
 * - else the Events API over HTTP: `POST /slack/events` on agentbridge's shared server
 *   (`http-events.ts`: signature check, url_verification), feeding `app.processEvent`.
 *
 * Inbound: every `app_mention` / `message` envelope goes through {@link AckAfterListenersApp}
 * (acked only after the listener resolved) to {@link SlackAdapter.onEvent}: events of one
 * channel are handled strictly one after another (so a thread reply sees the conversation its
 * mention just created, and bursts keep their order), normalised (`events.ts`), user names
 * resolved (`users.ts`), and handed to the sink. A sink failure propagates: no ack, Slack
 * redelivers; the inbox's unique event key (`slack:<team>:<channel>:<ts>`) drops duplicates.
 * Files on a message (`file_share`) go on `InboundMessage.files` (`files.ts`); their bytes are
 * fetched later, when the turn starts, by {@link SlackAdapter.fetchFile} (`download.ts`: the bot
 * token to Slack's file host only; scope `files:read`).
 *
 * Slash command `/agent <subcommand>` (`commands.ts`): Bolt's `app.command('/agent')` listener,
 * fed by Socket Mode `slash_commands` envelopes or, over HTTP, by form-encoded requests at
 * `POST /slack/commands` (or `/slack/events`); run through `AdapterContext.runCommand` and
 * answered in the acknowledgement within 3 s (later replies go to `response_url`). Commands in
 * a DM are about the DM conversation the person used last (remembered in the adapter state).
 *
 * Cards (`PostOptions.actions`, `EditOptions.actions`): the post or update carries Block Kit
 * `blocks` (`blocks.ts`: a mrkdwn section with the text and an actions block of buttons) and
 * `text` as the notification fallback. A click (`block_actions`, `interactions.ts`) reaches
 * Bolt's `app.action({type: 'block_actions'})` listener over Socket Mode (`interactive`
 * envelopes) or, over HTTP, through `POST /slack/interactions` (`http-events.ts`: signature,
 * replay cache) and `app.processEvent`; malformed payloads are dropped before Bolt (zod, logged).
 * The listener acknowledges at once (Slack allows 3 s and never redelivers a click), then hands
 * each click of an agentbridge button to `AdapterContext.onAction` with the user from the payload;
 * a reply other than `ok` is shown to the clicker only ({@link SlackAdapter.tellClicker}).
 *
 * Outbound: `chat.postMessage` in the thread (ref = `ts`), `chat.update`, `chat.delete`,
 * reactions 👀, ✅/❌ (added only), `assistant.threads.setStatus` (best effort). Every call goes
 * through the adapter's Web API budget (`../budget.ts`; per channel for posting, per method for the
 * workspace for the tiers; limits in
 * `limits.ts`): answers and notices first, decoration (reactions, status, the progress message
 * and its edits) when there is room, so Slack's tiers are not exceeded. The Web API client waits
 * out a 429's `Retry-After` and retries a few times ({@link RETRY_CONFIG}); after that the
 * call fails and the core's outbox retries later, also across restarts.
 * `chat.postMessage` is the exception: it is not idempotent, so it goes through a client that
 * never retries by itself, and {@link SlackAdapter.post} retries it with a metadata key lookup
 * after ambiguous failures (`idempotent-post.ts`), so a post shows once. Texts are sent as
 * given: the core renders them first ({@link SlackAdapter.render}: mrkdwn, mentions neutralised;
 * the progress message through {@link SlackAdapter.neutraliseMentions}).
 */
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { SocketModeReceiver, webApi, type App } from '@slack/bolt';
import type { SlackConfig } from './config.js';
import { SLACK_LIMITS, SLACK_MAX_FILE_BYTES, slackBucket } from './limits.js';
import { isDroppedCall, WebApiBudget } from '../budget.js';
import type { HttpServer } from '../../http/server.js';
import type { Logger } from '../../logger.js';
import type { InboundFile, ReplyTarget } from '../../core/messages.js';
import type { ActionReply } from '../../core/interactions.js';
import type {
  AdapterContext,
  EditOptions,
  InboundSink,
  OutgoingFile,
  PlatformAdapter,
  PlatformLimits,
  PostedMessage,
  PostFileOptions,
  PostOptions,
  ReactionState,
} from '../types.js';
import { AckAfterListenersApp, boltLogger, PassiveReceiver } from './bolt.js';
import { cardBlocks } from './blocks.js';
import { clicksOf, isBlockActionsBody, parseBlockActions, payloadUserName, type BlockActionsPayload, type SlackClick } from './interactions.js';
import { handleSlashCommand, NAME_LOOKUP_MS, postToResponseUrl, type SlashCommandPayload, type SlashResponse } from './commands.js';
import { isDmChannel, mentionedUserIds, normaliseSlackEvent, renderInboundText, toInboundMessage, type SlackEventEnvelope, type SlackSelf } from './events.js';
import { escapeSlackText, formatSlackMarkdown, neutraliseSlackMentions } from './format.js';
import { registerSlackEventsRoute } from './http-events.js';
import { downloadSlackFile } from './download.js';
import { slackFileOrigins } from './files.js';
import { classifyPostFailure, findFileShare, findPostByKey, oldestTs, postMetadata, uploadStateKey } from './idempotent-post.js';
import { errorCode, UserDirectory } from './users.js';

export interface SlackAdapterOptions {
  config: SlackConfig;
  /** The shared server; required for the Events API over HTTP (no app token). */
  http?: HttpServer;
  logger: Logger;
  /** How long `start()` waits for the first Socket Mode connection before going on, ms (default 30 s). */
  connectTimeoutMs?: number;
}

/**
 * Web API retries: a 429 is waited out (`Retry-After`) and retried, as are network errors and
 * 5xx, at most 4 times with 0.5–10 s backoff. Beyond that the call throws (outbox retries).
 */
export const RETRY_CONFIG = { retries: 4, factor: 2, minTimeout: 500, maxTimeout: 10_000, randomize: true };
/** Attempts of one {@link SlackAdapter.post} call (429s waited out, ambiguous failures looked up) before it throws. */
const POST_ATTEMPTS = 5;
/** Delay before the n-th repeat of a post after an ambiguous failure, ms (0.5, 1, 2, 4 s…, at most 10 s). */
const postBackoffMs = (n: number) => Math.min(10_000, 500 * 2 ** n);
/** Socket Mode: reconnect when Slack's pings stop for this long, ms (default of AGENTBRIDGE_SLACK_SOCKET_IDLE_S). */
export const SOCKET_IDLE_MS = 60_000;
/** Socket Mode: reconnect when a ping of ours got no pong for this long, ms (@slack/socket-mode's default). */
const PONG_TIMEOUT_MS = 5_000;
/** Per-request timeout of the Web API client, ms. */
const REQUEST_TIMEOUT_MS = 30_000;
/** What the clicker is told when agentbridge could not handle a click. */
const CLICK_FAILED_TEXT = '⚠️ agentbridge could not handle this click; try again in a moment.';

/** Reaction names per state (Slack emoji short names). */
export const REACTIONS: Record<ReactionState, string> = { working: 'eyes', done: 'white_check_mark', failed: 'x', steered: 'leftwards_arrow_with_hook' };
/** setStatus errors after which the adapter stops calling it (the app lacks the feature). */
const STATUS_DISABLING_ERRORS = new Set(['missing_scope', 'not_allowed_token_type', 'unknown_method', 'no_permission', 'invalid_auth']);
/** Most messages whose reaction state is remembered. */
const MAX_REACTION_STATES = 2_000;
/** The slash command agentbridge answers (slack/manifest.yml). */
export const SLASH_COMMAND = '/agent';
/** Adapter-state key of the DM conversation a person used last (`/agent …` in a DM is about it). */
export function dmConversationKey(team: string, channel: string): string {
  return `slack:dm-conversation:${team}:${channel}`;
}

type WebClient = InstanceType<typeof webApi.WebClient>;

export class SlackAdapter implements PlatformAdapter {
  readonly name = 'slack' as const;
  readonly limits: PlatformLimits = SLACK_LIMITS;

  private readonly config: SlackConfig;
  private readonly logger: Logger;
  private readonly connectTimeoutMs: number;
  private readonly mode: 'socket' | 'http';
  private app?: App;
  private socket?: SocketModeReceiver;
  private client?: WebClient;
  /** `chat.postMessage` only: no retries of its own (a retry after a lost answer would post twice). */
  private postClient?: WebClient;
  private self?: SlackSelf & { teamId?: string };
  private users?: UserDirectory;
  private sink?: InboundSink;
  private context?: AdapterContext;
  private accepting = false;
  /** Tail of the per-channel handling chain. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Last reaction state per `<channel>:<ts>`. */
  private readonly reactionStates = new Map<string, ReactionState>();
  private statusDisabled = false;
  /** Slash command replies still being posted to `response_url` (awaited, bounded, by stop()). */
  private readonly followUps = new Set<Promise<void>>();
  /** Web API calls per method (and channel, for posting): answers first, decoration when there is room (`limits.ts` `slackBucket`). */
  private readonly budget = new WebApiBudget({ spec: slackBucket });
  /** Where the bot token may go for file downloads (`files.ts` → `slackFileOrigins`). */
  private readonly fileOrigins: readonly string[];

  constructor(opts: SlackAdapterOptions) {
    this.config = opts.config;
    this.logger = opts.logger;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 30_000;
    this.mode = opts.config.appToken ? 'socket' : 'http';
    this.fileOrigins = slackFileOrigins(opts.config.apiUrl);
    if (this.mode === 'http') {
      if (!opts.http || !opts.config.signingSecret) throw new Error('Slack Events API over HTTP needs the HTTP server and SLACK_SIGNING_SECRET');
      registerSlackEventsRoute(opts.http, {
        signingSecret: opts.config.signingSecret,
        logger: this.logger,
        ready: () => this.accepting && this.app !== undefined,
        handle: (body, retry) => this.app!.processEvent({ body, ack: async () => {}, retryNum: retry.num, retryReason: retry.reason }),
        handleCommand: (fields) => this.commandOverHttp(fields),
        handleInteraction: (payload) => this.interactionOverHttp(payload),
      });
    }
  }

  /**
   * Checks the bot token (`auth.test`), then connects (Socket Mode) or starts accepting
   * `POST /slack/events`. @throws when the token is rejected or Slack cannot be reached.
   */
  async start(sink: InboundSink, context?: AdapterContext): Promise<void> {
    if (!context) throw new Error('the Slack adapter needs the adapter context');
    const log = boltLogger(this.logger);
    const apiUrl = this.config.apiUrl ? { slackApiUrl: this.config.apiUrl } : {};
    const clientOptions = { ...apiUrl, retryConfig: RETRY_CONFIG, timeout: REQUEST_TIMEOUT_MS };

    const probe = new webApi.WebClient(this.config.botToken, { ...clientOptions, logger: log });
    let auth: Awaited<ReturnType<WebClient['auth']['test']>>;
    try {
      auth = await probe.auth.test();
    } catch (err) {
      throw new Error(`Slack rejected the bot token or is unreachable (auth.test: ${errorCode(err)}); check SLACK_BOT_TOKEN and SLACK_API_URL`, { cause: err });
    }
    if (!auth.user_id) throw new Error('Slack auth.test returned no user_id; is SLACK_BOT_TOKEN a bot token?');
    this.self = { userId: auth.user_id, botId: auth.bot_id, teamId: auth.team_id };

    // A cluster instance without the ingress role posts only: no Socket Mode connection.
    const inbound = context.inbound !== false;
    if (this.mode === 'socket' && inbound) {
      // Its own client options: without retryConfig the Socket Mode client keeps retrying
      // apps.connections.open (its default), so an outage does not end reconnecting.
      // Liveness (@slack/socket-mode's own heartbeat): it pings Slack every clientPingTimeout/3
      // and reconnects when no pong came for clientPingTimeout; it also reconnects when Slack's
      // pings, once seen, stop for serverPingTimeout. A connection that stays open but goes silent
      // is so replaced. clientPingTimeout is also the library's delay before reconnecting.
      const idleMs = this.config.socketIdleMs ?? SOCKET_IDLE_MS;
      this.socket = new SocketModeReceiver({
        appToken: this.config.appToken!,
        logger: log,
        clientPingTimeout: Math.min(PONG_TIMEOUT_MS, idleMs),
        serverPingTimeout: idleMs,
        installerOptions: { clientOptions: { ...apiUrl, timeout: REQUEST_TIMEOUT_MS } },
      });
      for (const state of ['connected', 'reconnecting', 'disconnected'] as const) {
        this.socket.client.on(state, () => this.logger.info(`slack: Socket Mode ${state}`));
      }
    }
    const app = new AckAfterListenersApp(
      {
        token: this.config.botToken,
        botId: auth.bot_id,
        botUserId: auth.user_id,
        // auth.test already ran: no second, unawaited call at construction.
        tokenVerificationEnabled: false,
        clientOptions,
        logger: log,
        convoStore: false,
        receiver: this.socket ?? new PassiveReceiver(),
      },
      // Malformed clicks never reach Bolt's listeners (Socket Mode; HTTP checks before processEvent).
      { screenInteraction: (body) => !isBlockActionsBody(body) || this.validInteraction(body) },
    );
    app.event('app_mention', async ({ body }) => this.onEvent(body as SlackEventEnvelope));
    app.event('message', async ({ body }) => this.onEvent(body as SlackEventEnvelope));
    app.command(SLASH_COMMAND, async ({ command, ack }) => this.onSlashCommand(command, (r) => ack(r)));
    app.action({ type: 'block_actions' }, async ({ body, ack }) => this.onBlockActions(body, () => ack()));
    app.error(async (err) => {
      throw err;
    });
    this.app = app;
    this.client = app.client;
    this.postClient = new webApi.WebClient(this.config.botToken, {
      ...apiUrl,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: REQUEST_TIMEOUT_MS,
      logger: log,
    });
    // Every 429 the Web API clients see counts for /metrics (method from the URL).
    for (const client of [app.client, this.postClient]) {
      client.on(webApi.WebClientEvent.RATE_LIMITED, (_retryAfter: number, info?: { url?: string }) =>
        context.reportApiError?.('rate_limited', String(info?.url ?? '').replace(/^.*\//, '') || 'unknown'),
      );
    }
    this.users = new UserDirectory({ client: app.client, logger: this.logger });
    this.sink = sink;
    this.context = context;
    this.accepting = inbound;

    if (this.mode === 'socket' && inbound) await this.connect(app);
    this.logger.info({ mode: this.mode, team: auth.team_id, botUser: auth.user_id }, 'slack: started');
  }

  /** Stops taking events and disconnects Socket Mode. */
  async stop(): Promise<void> {
    this.accepting = false;
    if (this.socket) {
      const closed = this.socket.client.disconnect().catch(() => {});
      await Promise.race([closed, delay(3_000)]);
    }
    await Promise.allSettled([...this.chains.values()]);
    // Replies of slash commands (e.g. `/agent restart`'s) still on their way to response_url.
    if (this.followUps.size) await Promise.race([Promise.allSettled([...this.followUps]), delay(5_000)]);
  }

  /**
   * Posts `text` in the target's thread (or as a new channel message without `thread`).
   * @returns the message's `ts` as ref.
   *
   * Lands once: the post carries `opts.idempotencyKey` (or a random key for this call) as
   * message metadata. A 429 is waited out (`Retry-After`) and posted again; after an ambiguous
   * failure (5xx, timeout, connection error) — and first of all when `opts.maybePostedSince` is
   * set — the bot's messages since then are searched for the key, and a message found is the
   * result. At most {@link POST_ATTEMPTS} attempts. @throws the last error (the outbox retries).
   *
   * With `opts.actions` the message is a card: `blocks` (`blocks.ts`: the text in a section, cut
   * to 3,000 characters, and one button per action) with `text` kept as the notification
   * fallback; the metadata key and the lookup work the same.
   */
  async post(target: ReplyTarget, text: string, opts?: PostOptions): Promise<PostedMessage> {
    const channel = this.check(target);
    const key = opts?.idempotencyKey ?? `ab-r${randomUUID()}`;
    const args = {
      channel,
      text,
      ...(opts?.actions ? { blocks: cardBlocks(text, opts.actions) } : {}),
      ...(target.thread ? { thread_ts: target.thread } : {}),
      unfurl_links: false,
      unfurl_media: false,
      metadata: postMetadata(key),
    };
    let since = opts?.maybePostedSince;
    let ambiguous = 0;
    for (let attempt = 1; ; attempt++) {
      if (since !== undefined) {
        const found = await this.findPost(channel, target.thread, key, since);
        if (found) {
          this.logger.info({ channel, thread: target.thread, key, ts: found }, 'slack: post found by its key; not posting again');
          return { ref: found, channel };
        }
      }
      const startedAt = Date.now();
      try {
        // Every attempt takes its place in the budget (a repeat too); only the first can be decoration.
        const call = () => this.postWeb().chat.postMessage(args);
        const res =
          attempt === 1 && opts?.decoration
            ? await this.budget.decoration('chat.postMessage', channel, call, { signal: opts.decoration.signal })
            : await this.budget.urgent('chat.postMessage', channel, call);
        if (!res.ts) throw new Error('Slack chat.postMessage returned no ts');
        return { ref: res.ts, channel };
      } catch (err) {
        if (isDroppedCall(err)) throw err;
        const failure = classifyPostFailure(err);
        if (failure.kind === 'definite' || attempt >= POST_ATTEMPTS) throw err;
        if (failure.kind === 'rate_limited') {
          this.logger.info({ channel, retryAfterS: failure.retryAfterS }, 'slack: chat.postMessage rate limited; waiting');
          await delay(failure.retryAfterS * 1000);
          continue;
        }
        this.logger.warn({ channel, key, err: errorCode(err) }, 'slack: chat.postMessage failed ambiguously; looking for the post before posting again');
        since ??= startedAt;
        await delay(postBackoffMs(ambiguous++));
      }
    }
  }

  /**
   * Uploads a file into the target's thread with Slack's external upload flow (Slack docs,
   * "Uploading files"; what @slack/web-api's `filesUploadV2` does, in steps so the file id can be
   * recorded): `files.getUploadURLExternal {filename, length}` → the file id is written to the
   * adapter's durable state under the idempotency key ({@link uploadStateKey}) → POST of the bytes
   * to the `upload_url` → `files.completeUploadExternal {files: [{id, title}], channel_id,
   * thread_ts, initial_comment}` (through the client without retries, like `chat.postMessage`).
   * @returns the `ts` of the share message (from the answer's `shares`, else looked up in the
   *   thread), or `file:<id>` when Slack has not shown it yet.
   *
   * Lands once: when the state already names a file for this key (an earlier attempt got that far
   * and then failed, or the process died), the thread is searched for the bot's message sharing
   * that file first, and a message found is the result. Otherwise the file is uploaded anew.
   * @throws Error for a file over {@link SLACK_MAX_FILE_BYTES}, when not started, or Slack's error
   *   (the outbox retries).
   */
  async postFile(target: ReplyTarget, file: OutgoingFile, opts?: PostFileOptions): Promise<PostedMessage> {
    const channel = this.check(target);
    const context = this.context;
    if (!context || !this.self) throw new Error('the Slack adapter is not started');
    if (file.size > SLACK_MAX_FILE_BYTES) throw new Error(`${file.name} is larger than Slack's file limit`);
    const stateKey = opts?.idempotencyKey ? uploadStateKey(opts.idempotencyKey) : undefined;
    const earlier = stateKey ? await context.state.get(stateKey) : undefined;
    const startedAt = Date.now();
    if (earlier) {
      const found = await this.findShare(channel, target.thread, earlier, opts?.maybePostedSince ?? startedAt - 3_600_000);
      if (found) {
        this.logger.info({ channel, thread: target.thread, file: earlier, ts: found }, 'slack: file already shared by an earlier attempt; not uploading again');
        return { ref: found, channel };
      }
    }
    const bytes = await fs.promises.readFile(file.path);
    const up = await this.budget.urgent('files.getUploadURLExternal', channel, () =>
      this.web().files.getUploadURLExternal({ filename: file.name, length: bytes.length }),
    );
    if (!up.upload_url || !up.file_id) throw new Error('Slack files.getUploadURLExternal returned no upload_url / file_id');
    if (stateKey) await context.state.set(stateKey, up.file_id);
    const sent = await fetch(up.upload_url, { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    if (!sent.ok) throw new Error(`Slack file upload answered HTTP ${sent.status}`);
    const done = await this.budget.urgent('files.completeUploadExternal', channel, () =>
      this.postWeb().files.completeUploadExternal({
        files: [{ id: up.file_id!, title: file.name }],
        channel_id: channel,
        ...(target.thread ? { thread_ts: target.thread } : {}),
        ...(opts?.comment ? { initial_comment: opts.comment } : {}),
      }),
    );
    const shares = (done.files?.[0] as { shares?: Record<string, Record<string, Array<{ ts?: string }>>> } | undefined)?.shares;
    const shared = shares?.public?.[channel]?.[0]?.ts ?? shares?.private?.[channel]?.[0]?.ts;
    const ts = shared ?? (await this.findShare(channel, target.thread, up.file_id, startedAt));
    return { ref: ts ?? `file:${up.file_id}`, channel };
  }

  /**
   * Opens the bytes of a file someone attached (`InboundFile.url`: its `url_private_download` or
   * `url_private`) with the bot token as `Authorization: Bearer` (`download.ts`). The token goes
   * only to Slack's file host and the Web API's host (`files.ts` → `slackFileOrigins`), never
   * across a redirect to another host, and is never logged. Needs the `files:read` scope
   * (slack/manifest.yml). Not rate limited by the Web API budget (file downloads are not Web API
   * methods). Works before `start()`.
   * @throws Error starting `download failed:` for a URL on another host (nothing sent), a network
   *   error, a non-2xx status (`HTTP <status>`), Slack's HTML sign-in page instead of the file
   *   (the scope is missing), or a download silent for 30 s; `signal`'s reason when it aborts.
   */
  fetchFile(file: InboundFile, opts?: { signal?: AbortSignal }): Promise<AsyncIterable<Uint8Array>> {
    return downloadSlackFile(file, { token: this.config.botToken, origins: this.fileOrigins, signal: opts?.signal });
  }

  /** The ts of the bot's message sharing `fileId` in the thread (or, without one, the channel) since `sinceMs`, or undefined. */
  private findShare(channel: string, thread: string | undefined, fileId: string, sinceMs: number): Promise<string | undefined> {
    const web = this.web();
    const oldest = oldestTs(sinceMs);
    return findFileShare({
      fileId,
      self: { userId: this.self!.userId, botId: this.self!.botId },
      page: (cursor) =>
        thread
          ? web.conversations.replies({ channel, ts: thread, oldest, limit: 200, ...(cursor ? { cursor } : {}) })
          : web.conversations.history({ channel, oldest, limit: 200, ...(cursor ? { cursor } : {}) }),
    });
  }

  /** The ts of the bot's message with `key` in the thread (or, without one, the channel) posted since `sinceMs`, or undefined. */
  private findPost(channel: string, thread: string | undefined, key: string, sinceMs: number): Promise<string | undefined> {
    const web = this.web();
    const oldest = oldestTs(sinceMs);
    return findPostByKey({
      key,
      self: { userId: this.self!.userId, botId: this.self!.botId },
      page: (cursor) =>
        thread
          ? web.conversations.replies({ channel, ts: thread, oldest, include_all_metadata: true, limit: 200, ...(cursor ? { cursor } : {}) })
          : web.conversations.history({ channel, oldest, include_all_metadata: true, limit: 200, ...(cursor ? { cursor } : {}) }),
    });
  }

  /**
   * `chat.update` of a bot message. With `opts.actions` the update always carries explicit
   * `blocks` (the section and the buttons, or only the section for `[]`: the buttons are gone),
   * because what Slack does with a message's blocks when `blocks` is left out is documented
   * differently over time (older `chat.update` docs: "previous blocks will be retained"; current
   * docs: retained only when `text` is not given either, else removed and `text` rendered).
   * Without `opts.actions` only `text` is sent, as before cards existed (so, per the current
   * docs, an edit of a card without `actions` leaves a plain text message).
   */
  async edit(target: ReplyTarget, ref: string, text: string, opts?: EditOptions): Promise<void> {
    const blocks = opts?.actions ? { blocks: cardBlocks(text, opts.actions) } : {};
    const channel = this.check(target);
    const run = async () => {
      await this.web().chat.update({ channel, ts: ref, text, ...blocks });
    };
    if (opts?.decoration) await this.budget.decoration('chat.update', channel, run, { slot: ref, signal: opts.decoration.signal });
    else await this.budget.urgent('chat.update', channel, run);
  }

  /** Deletes a bot message; one that is already gone (`message_not_found`) counts as deleted. */
  async delete(target: ReplyTarget, ref: string): Promise<void> {
    const channel = this.check(target);
    try {
      await this.budget.urgent('chat.delete', channel, () => this.web().chat.delete({ channel, ts: ref }));
    } catch (err) {
      if (errorCode(err) === 'message_not_found') return;
      throw err;
    }
  }

  /**
   * 👀 while working, ✅ or ❌ at the end, ↪ on a message taken into a running turn: added only,
   * never removed (`reactions.add` and `reactions.remove` are Tier 3 each; a removal would double
   * the decoration calls per answer). Decoration in the budget: a later state of the same message
   * replaces one still waiting (✅ alone when 👀 never got out); a dropped state resolves quietly.
   */
  async react(target: ReplyTarget, messageRef: string, state: ReactionState): Promise<void> {
    const channel = this.check(target);
    const key = `${channel}:${messageRef}`;
    if (this.reactionStates.get(key) === state) return;
    try {
      await this.budget.decoration('reactions.add', channel, () => this.addReaction(channel, messageRef, REACTIONS[state]), { slot: messageRef });
    } catch (err) {
      if (isDroppedCall(err)) return;
      throw err;
    }
    this.reactionStates.delete(key);
    this.reactionStates.set(key, state);
    if (this.reactionStates.size > MAX_REACTION_STATES) this.reactionStates.delete(this.reactionStates.keys().next().value!);
  }

  /**
   * The thread's "is working…" status (`assistant.threads.setStatus`); best effort (decoration in
   * the budget; errors logged at debug). `null` calls nothing: Slack clears the status when the
   * app replies in the thread (Slack docs, assistant.threads.setStatus), and the core sets a
   * status only while it shows no progress message, so an answer always follows.
   */
  async setStatus(target: ReplyTarget, status: string | null): Promise<void> {
    if (!target.thread || this.statusDisabled || status === null) return;
    const channel = this.check(target);
    try {
      await this.budget.decoration(
        'assistant.threads.setStatus',
        channel,
        () => this.web().assistant.threads.setStatus({ channel_id: channel, thread_ts: target.thread!, status }),
        { slot: target.thread },
      );
    } catch (err) {
      if (isDroppedCall(err)) return;
      const code = errorCode(err);
      if (STATUS_DISABLING_ERRORS.has(code)) this.statusDisabled = true;
      this.logger.debug({ err: code, disabled: this.statusDisabled }, 'slack: assistant.threads.setStatus failed');
    }
  }

  /** Slack mrkdwn (`format.ts`), mentions neutralised with the cached display names. */
  render(markdown: string): string {
    return this.neutraliseMentions(formatSlackMarkdown(markdown));
  }

  neutraliseMentions(text: string): string {
    return neutraliseSlackMentions(text, (id) => this.users?.cached(id));
  }

  /** Waits for the first connection (bounded); connection errors after that are Bolt's to retry. */
  private async connect(app: App): Promise<void> {
    const started = app.start().then(
      () => 'connected' as const,
      (err: unknown) => {
        throw new Error(`Slack Socket Mode could not connect (${errorCode(err)}); check SLACK_APP_TOKEN (xapp-…, scope connections:write) and SLACK_API_URL`);
      },
    );
    const outcome = await Promise.race([started, delay(this.connectTimeoutMs).then(() => 'timeout' as const)]);
    if (outcome === 'timeout') {
      started.catch((err: unknown) => this.logger.error({ err: String(err) }, 'slack: Socket Mode failed'));
      this.logger.warn({ waitedMs: this.connectTimeoutMs }, 'slack: Socket Mode not connected yet; still trying in the background');
    }
  }

  /** Bolt listener: queue the envelope behind earlier events of its channel. Rejects when the sink did. */
  private onEvent(body: SlackEventEnvelope): Promise<void> {
    const event = body?.event;
    const key = typeof event?.channel === 'string' ? event.channel : '';
    // Start name lookups now, in parallel with earlier events of the channel (they never reject).
    if (this.users && typeof event?.user === 'string' && event.user !== this.self?.userId) {
      void this.users.names([event.user, ...mentionedUserIds(event.text ?? '')].filter((id) => id !== this.self?.userId));
    }
    const previous = this.chains.get(key) ?? Promise.resolve();
    const run = previous.then(() => this.handle(body));
    const tail = run.catch(() => {});
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return run;
  }

  /**
   * Bolt listener of `/agent`: runs the command (commands.ts), acknowledges with the reply or
   * "working on it", then posts a late reply to `response_url`. Never throws.
   */
  private async onSlashCommand(payload: SlashCommandPayload, ack: (response: SlashResponse) => Promise<void>): Promise<void> {
    const context = this.context;
    const users = this.users;
    if (!this.accepting || !context?.runCommand || !users) {
      await ack({ response_type: 'ephemeral', text: 'agentbridge is not taking commands right now (starting or shutting down). Try again in a moment.' }).catch(
        () => {},
      );
      return;
    }
    let result: Awaited<ReturnType<typeof handleSlashCommand>>;
    try {
      result = await handleSlashCommand(payload, {
        runCommand: (req) => context.runCommand!(req),
        displayName: (id) => users.name(id),
        dmConversation: async (team, channel) => {
          const id = await context.state.get(dmConversationKey(team, channel));
          return id && (await context.hasConversation(id)) ? id : undefined;
        },
        isDm: isDmChannel,
        format: (markdown) => this.render(markdown),
        respond: (url, body) => postToResponseUrl(url, body, { onError: (kind) => context.reportApiError?.(kind, 'response_url') }),
        logger: this.logger,
      });
    } catch (err) {
      this.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'slack: slash command failed');
      result = { ack: { response_type: 'ephemeral', text: '⚠️ agentbridge could not run this command; see its log.' } };
    }
    try {
      await ack(result.ack);
    } catch (err) {
      this.logger.warn({ err: errorCode(err) }, 'slack: could not acknowledge a slash command');
    }
    if (result.followUp) {
      const p = result.followUp();
      this.followUps.add(p);
      void p.finally(() => this.followUps.delete(p));
    }
  }

  /** True when `body` is a valid `block_actions` payload; logs (warn) the first problem otherwise. */
  private validInteraction(body: unknown): boolean {
    const parsed = parseBlockActions(body);
    if (!parsed.ok) this.logger.warn({ reason: parsed.reason }, 'slack: malformed interaction payload dropped');
    return parsed.ok;
  }

  /**
   * A verified interaction over HTTP (`POST /slack/interactions`): a malformed `block_actions`
   * payload → 400 (logged); else through Bolt like Socket Mode, answered 200 as soon as the
   * listener acknowledged (the click is handled after that). 200 also for interactions
   * agentbridge has no listener for (Slack then shows nothing).
   */
  private async interactionOverHttp(payload: Record<string, unknown>): Promise<number> {
    const app = this.app;
    if (!app) throw new Error('the Slack adapter is not started');
    if (isBlockActionsBody(payload) && !this.validInteraction(payload)) return 400;
    let acknowledge!: () => void;
    const acked = new Promise<'acked'>((resolve) => (acknowledge = () => resolve('acked')));
    const processed = app.processEvent({ body: payload, ack: async () => acknowledge() });
    const first = await Promise.race([acked, processed.then(() => 'done' as const)]);
    processed.catch((err: unknown) => this.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'slack: interaction listener failed'));
    if (first === 'done') this.logger.debug({ type: String(payload.type) }, 'slack: interaction without a listener; answered 200');
    return 200;
  }

  /**
   * Bolt listener of `block_actions` (both transports): acknowledges at once, then hands every
   * click of an agentbridge button (`parseActionId`) to `onAction` and tells the clicker the reply
   * when it is not `ok`. Action ids that are not agentbridge's are ignored (debug log). Never
   * throws; the work after the ack is awaited by `stop()` (bounded).
   */
  private async onBlockActions(body: unknown, ack: () => Promise<void>): Promise<void> {
    try {
      await ack();
    } catch (err) {
      this.logger.warn({ err: errorCode(err) }, 'slack: could not acknowledge an interaction');
    }
    const parsed = parseBlockActions(body);
    if (!parsed.ok) return; // screened before Bolt; kept for type narrowing
    const { clicks, ignored } = clicksOf(parsed.payload);
    if (ignored.length) this.logger.debug({ actionIds: ignored }, 'slack: clicks on buttons that are not agentbridge cards ignored');
    if (!clicks.length) return;
    const work = this.handleClicks(parsed.payload, clicks);
    this.followUps.add(work);
    void work.finally(() => this.followUps.delete(work));
    await work;
  }

  private async handleClicks(payload: BlockActionsPayload, clicks: SlackClick[]): Promise<void> {
    const context = this.context;
    if (!context?.onAction) {
      this.logger.debug({ actionIds: clicks.map((c) => c.actionId) }, 'slack: click ignored (no action handler)');
      return;
    }
    if (!this.accepting) {
      this.logger.info({ actionIds: clicks.map((c) => c.actionId) }, 'slack: click not handled (shutting down)');
      await this.tellClicker(payload, 'agentbridge is not taking button clicks right now (shutting down). Try again in a moment.');
      return;
    }
    const userName = await this.clickerName(payload);
    for (const click of clicks) {
      let reply: ActionReply;
      try {
        reply = await context.onAction({ ...click, userName });
      } catch (err) {
        this.logger.error({ err: err instanceof Error ? err.message : String(err), actionId: click.actionId }, 'slack: click not handled');
        reply = { status: 'unknown', text: CLICK_FAILED_TEXT };
      }
      this.logger.debug({ actionId: click.actionId, user: click.userId, status: reply.status }, 'slack: click handled');
      if (reply.status !== 'ok' && reply.text.trim()) await this.tellClicker(payload, reply.text);
    }
  }

  /** The clicker's display name (directory, at most {@link NAME_LOOKUP_MS}), else the payload's name. */
  private async clickerName(payload: BlockActionsPayload): Promise<string> {
    const fallback = payloadUserName(payload);
    const users = this.users;
    if (!users) return fallback;
    let timer: NodeJS.Timeout | undefined;
    const looked = await Promise.race([
      users.name(payload.user.id).catch(() => undefined),
      new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), NAME_LOOKUP_MS))),
    ]).finally(() => clearTimeout(timer));
    return looked && looked !== payload.user.id ? looked : fallback;
  }

  /**
   * Shows `text` (plain text: `&`, `<`, `>` escaped, mentions neutralised) to the clicker only:
   * `chat.postEphemeral` in the card's channel and thread (Slack docs, chat.postEphemeral: visible
   * only to `user`, who must be in the channel; `thread_ts` is the parent's ts; not kept across
   * reloads). When that fails and the payload has a `response_url`, it is posted there instead
   * with `response_type: "ephemeral"`, `replace_original: false` (Slack docs, "Handling user
   * interaction": up to 5 times within 30 minutes), so the card itself is not replaced. Never
   * throws (logged).
   */
  private async tellClicker(payload: BlockActionsPayload, text: string): Promise<void> {
    const safe = neutraliseSlackMentions(escapeSlackText(text));
    const channel = payload.channel?.id ?? payload.container?.channel_id;
    const thread = payload.message?.thread_ts ?? payload.container?.thread_ts;
    if (channel) {
      try {
        await this.budget.urgent('chat.postEphemeral', channel, () =>
          this.web().chat.postEphemeral({ channel, user: payload.user.id, text: safe, ...(thread ? { thread_ts: thread } : {}) }),
        );
        return;
      } catch (err) {
        this.logger.warn({ err: errorCode(err) }, 'slack: chat.postEphemeral to the clicker failed');
      }
    }
    if (!payload.response_url) return;
    try {
      await postToResponseUrl(
        payload.response_url,
        { response_type: 'ephemeral', text: safe, replace_original: false },
        { onError: (kind) => this.context?.reportApiError?.(kind, 'response_url') },
      );
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'slack: could not tell the clicker');
    }
  }

  /** A verified slash command over HTTP: through Bolt like Socket Mode; resolves with what the listener acknowledged. */
  private async commandOverHttp(fields: Record<string, string>): Promise<Record<string, unknown> | undefined> {
    const app = this.app;
    if (!app) throw new Error('the Slack adapter is not started');
    let acknowledge!: (response: unknown) => void;
    const acked = new Promise<unknown>((resolve) => (acknowledge = resolve));
    const processed = app.processEvent({ body: fields, ack: async (response?: unknown) => acknowledge(response) });
    const NOT_ACKED = Symbol('not acked');
    const first = await Promise.race([acked, processed.then(() => NOT_ACKED)]);
    processed.catch((err: unknown) => this.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'slack: slash command listener failed'));
    if (first === NOT_ACKED || first === undefined || first === null) return undefined;
    return typeof first === 'string' ? { text: first } : (first as Record<string, unknown>);
  }

  private async handle(body: SlackEventEnvelope): Promise<void> {
    const { sink, context, self, users } = this;
    if (!this.accepting || !sink || !context || !self || !users) throw new Error('the Slack adapter is not accepting events');
    const receivedAt = Date.now();
    const result = await normaliseSlackEvent(body, {
      self,
      allowBots: this.config.allowBots,
      hasConversation: (id) => context.hasConversation(id),
      isBotMessage: (key) => context.isBotMessage(key),
    });
    if (result.kind === 'ignore') {
      this.logger.debug({ eventId: body?.event_id, reason: result.reason }, 'slack: event ignored');
      return;
    }
    const draft = result.draft;
    for (const skipped of draft.skippedFiles) {
      this.logger.warn({ eventId: body.event_id, file: skipped.label, reason: skipped.reason }, 'slack: malformed file entry of a message left out');
    }
    const ids = mentionedUserIds(draft.rawText).filter((id) => id !== self.userId);
    if (draft.botName === undefined) ids.push(draft.authorId);
    const names = await users.names(ids);
    const text = renderInboundText(draft.rawText, self.userId, names, draft.files.length ? '' : undefined);
    const message = toInboundMessage(draft, text, draft.botName ?? names.get(draft.authorId) ?? draft.authorId, receivedAt);
    const outcome = await sink(message);
    if (draft.isDm) {
      try {
        await context.state.set(dmConversationKey(draft.team, draft.channel), message.conversationId);
      } catch (err) {
        this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'slack: could not remember the DM conversation');
      }
    }
    this.logger.debug(
      { eventId: body.event_id, eventKey: message.eventKey, conversationId: message.conversationId, outcome },
      'slack: message handed to the core',
    );
  }

  private async addReaction(channel: string, timestamp: string, name: string): Promise<void> {
    try {
      await this.web().reactions.add({ channel, timestamp, name });
    } catch (err) {
      if (errorCode(err) === 'already_reacted') return;
      throw err;
    }
  }

  private postWeb(): WebClient {
    if (!this.postClient) throw new Error('the Slack adapter is not started');
    return this.postClient;
  }

  private web(): WebClient {
    if (!this.client) throw new Error('the Slack adapter is not started');
    return this.client;
  }

  private check(target: ReplyTarget): string {
    if (target.platform !== 'slack') throw new Error(`the Slack adapter cannot deliver to platform ${target.platform}`);
    return target.channel;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
