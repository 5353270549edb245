/**
 * The Discord platform: a discord.js client on the Gateway (intents Guilds, GuildMessages,
 * MessageContent — privileged —, DirectMessages; the Channel partial so DMs arrive) turning
 * messages into InboundMessages (./normalise.ts), and carrying out output (./output.ts).
 *
 * Where it listens: chat channels (`DISCORD_CHANNELS`) and their threads every message; other
 * channels only mentions; DMs always. `DISCORD_API_URL` (`http://host:port/api`) replaces the
 * REST base URL; the Gateway URL then comes from `GET /gateway/bot`.
 *
 * Files people attach: message attachments become `InboundMessage.files` (./attachments.ts);
 * `fetchFile` downloads one from Discord's CDN (./fetch-file.ts).
 *
 * Gateway and REST are separate: `start(sink, context, { gateway: false })` makes only the
 * outbound side usable (a discord.js client that never connects, with the bot token for REST);
 * {@link DiscordAdapter.startGateway} / {@link DiscordAdapter.stopGateway} (also as the
 * `gateway` capability) connect and drop the Gateway on demand — cluster mode holds it on one
 * instance at a time (the `discord-gateway` lease); each start catches up from the stored cursors.
 *
 * Exactly one reply per message, nothing said while disconnected lost: see ./inbound.ts (event
 * keys, per-channel cursors, catch-up after a new Gateway session — READY at start or after a
 * failed resume, not RESUMED). The `/agent` slash command: ./commands.ts. Card buttons: sent by
 * ./output.ts (./components.ts), their clicks handed to the core by ./buttons.ts.
 */
import { Client, Events, GatewayDispatchEvents, GatewayIntentBits, Partials } from 'discord.js';
import type { DiscordConfig } from './config.js';
import { DISCORD_LIMITS } from './limits.js';
import type { Logger } from '../../logger.js';
import type { InboundFile, ReplyTarget } from '../../core/messages.js';
import type {
  AdapterContext,
  AdapterStartOptions,
  LeaderOnlyGateway,
  EditOptions,
  InboundSink,
  OutgoingFile,
  PlatformAdapter,
  PlatformLimits,
  PostFileOptions,
  PostOptions,
  PostedMessage,
  ReactionState,
} from '../types.js';
import { attachButtons } from './buttons.js';
import { attachAgentCommand } from './commands.js';
import { neutraliseMentions } from './format.js';
import { fetchDiscordFile } from './fetch-file.js';
import { DiscordInbound } from './inbound.js';
import { conversationIdOf, takesPartIn, type NormalisePolicy } from './normalise.js';
import { DiscordOutput } from './output.js';
import { renderMessages } from '../render.js';

/** Gateway intents: Guilds (1<<0), GuildMessages (1<<9), DirectMessages (1<<12), MessageContent (1<<15). */
export const DISCORD_INTENTS = [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.DirectMessages, GatewayIntentBits.MessageContent];
/** Longest wait for GUILD_CREATE after READY before catching up anyway, ms. */
const GUILDS_WAIT_MS = 20_000;

export interface DiscordAdapterOptions {
  config: DiscordConfig;
  logger: Logger;
  /** Interval between typing requests while a status is set, ms (default `TYPING_REPEAT_MS` of ./output.ts; tests). */
  typingRepeatMs?: number;
}

/** One run of the Gateway (from {@link DiscordAdapter.startGateway} to {@link DiscordAdapter.stopGateway}): its own discord.js client. */
interface GatewayRun {
  client: Client;
  inbound: DiscordInbound;
  stopped: boolean;
  stopping: { promise: Promise<void>; resolve: () => void };
  /** Resolves when the run is connected and its first session's catch-up is done (or the run was stopped). */
  started: Promise<void>;
  /** The first session's catch-up of this run. */
  firstCatchUp?: Promise<void>;
  /** Sessions (READY) of this run. */
  sessions: number;
}

export class DiscordAdapter implements PlatformAdapter {
  readonly name = 'discord' as const;
  /** Discord: `content` ≤ 2,000 characters; about 5 edits per 5 s per channel. */
  readonly limits: PlatformLimits = DISCORD_LIMITS;
  /**
   * The Gateway is leader-only in cluster mode (two connections of one shard both get every
   * event; DMs arrive only on shard 0): `start(sink, context, { gateway: false })` on every
   * instance, then this on the holder of the `discord-gateway` lease.
   */
  readonly gateway: LeaderOnlyGateway = { start: () => this.startGateway(), stop: () => this.stopGateway() };

  private readonly config: DiscordConfig;
  private readonly logger: Logger;
  private readonly chatChannels: ReadonlySet<string>;
  private readonly output: DiscordOutput;
  /** A discord.js client that never connects to the Gateway: REST calls (posts, edits, reactions, files) while no Gateway run is ready. */
  private restClient?: Client;
  private context: AdapterContext = memoryContext();
  private sink?: InboundSink;
  private run?: GatewayRun;
  /** Gateway sessions of this process, across runs (catch-up treats threads differently in a later session). */
  private sessions = 0;
  private stopped = false;

  constructor(opts: DiscordAdapterOptions) {
    this.config = opts.config;
    this.logger = opts.logger;
    this.chatChannels = new Set(opts.config.channels);
    this.output = new DiscordOutput(() => this.outputClient(), this.logger, opts.typingRepeatMs);
  }

  /**
   * Makes the outbound side usable (REST with the bot token) and, unless `opts.gateway` is
   * false, starts the Gateway ({@link startGateway}): it then resolves once the guilds are loaded
   * and the first session's catch-up handed what was said since the last run to `sink`.
   * @throws when discord.js cannot log in (e.g. "An invalid token was provided.")
   */
  async start(sink: InboundSink, context?: AdapterContext, opts?: AdapterStartOptions): Promise<void> {
    if (context) this.context = context;
    this.sink = sink;
    this.stopped = false;
    if (!this.restClient) {
      this.restClient = this.newClient();
      this.reportFailedCalls(this.restClient);
    }
    this.restClient.rest.setToken(this.config.botToken);
    if (opts?.gateway !== false) await this.startGateway();
  }

  /**
   * Connects to the Gateway (a new discord.js client) and resolves once the guilds are loaded and
   * the first session's catch-up (from the stored cursors `discord:cursor:<channel>`) handed what
   * was said while no Gateway was held to the sink; registers `/agent` and answers commands and
   * button clicks while it runs. Idempotent while running (resolves with the run in progress).
   * @throws Error before {@link start}; when discord.js cannot log in (e.g. "An invalid token was provided.")
   */
  startGateway(): Promise<void> {
    if (!this.sink || this.stopped) return Promise.reject(new Error('discord: start() the adapter before its gateway'));
    if (this.run && !this.run.stopped) return this.run.started;
    const run = this.newRun(this.sink);
    this.run = run;
    return run.started;
  }

  /**
   * Drops the Gateway connection at once (no further event is taken) and waits for the message
   * being handed to the core. Posting goes on through REST. Idempotent.
   */
  async stopGateway(): Promise<void> {
    const run = this.run;
    if (!run) return;
    if (!run.stopped) {
      run.stopped = true;
      run.stopping.resolve();
      this.logger.info('discord: gateway stopped');
    }
    await run.client.destroy();
    await run.inbound.stop();
    if (this.run === run) this.run = undefined;
  }

  async stop(): Promise<void> {
    await this.stopGateway();
    this.stopped = true;
    this.output.stopAll();
    await this.restClient?.destroy();
  }

  private newClient(): Client {
    return new Client({
      intents: DISCORD_INTENTS,
      partials: [Partials.Channel],
      allowedMentions: { parse: [], repliedUser: false },
      failIfNotExists: false,
      ...(this.config.apiUrl ? { rest: { api: this.config.apiUrl } } : {}),
    });
  }

  /** A Gateway run: a new client with its inbound, commands and buttons, logging in. */
  private newRun(sink: InboundSink): GatewayRun {
    const client = this.newClient();
    const inbound = new DiscordInbound({
      client,
      sink,
      context: this.context,
      chatChannels: this.chatChannels,
      policy: () => this.policy(),
      logger: this.logger,
    });
    const run: GatewayRun = { client, inbound, stopped: false, stopping: deferred(), started: Promise.resolve(), sessions: 0 };
    client.on(Events.MessageCreate, (m) => !run.stopped && inbound.live(m));
    // READY is a session's first dispatch: queue its catch-up before any of its messages.
    client.ws.on(GatewayDispatchEvents.Ready, () => !run.stopped && this.onNewSession(run));
    client.on(Events.ShardResume, (_id, replayed) => this.logger.info({ replayed }, 'discord: gateway session resumed'));
    client.on(Events.ShardReconnecting, () => !run.stopped && this.logger.info('discord: gateway reconnecting'));
    client.on(
      Events.ShardDisconnect,
      (e) => !run.stopped && this.logger.error({ code: e.code }, 'discord: gateway closed for good (check the token and the intents)'),
    );
    client.on(Events.ShardError, (err) => this.logger.warn({ err: err.message }, 'discord: gateway error'));
    client.on(Events.Error, (err) => this.logger.error({ err: err.message }, 'discord: client error'));
    client.on(Events.Warn, (w) => this.logger.warn({ warning: w }, 'discord: warning'));
    this.reportFailedCalls(client);
    const runCommand = this.context.runCommand?.bind(this.context);
    if (runCommand) {
      attachAgentCommand(client, {
        runCommand,
        logger: this.logger,
        active: () => !run.stopped,
        post: (target, text, opts) => this.output.post(target, text, opts),
        render: (markdown) => renderMessages(this, markdown),
        conversationFor: async (place) => {
          const id = conversationIdOf(place);
          return (await takesPartIn(place, this.policy())) || (await this.context.hasConversation(id)) ? id : undefined;
        },
      });
    }
    const onAction = this.context.onAction?.bind(this.context);
    attachButtons(client, { ...(onAction ? { onAction } : {}), logger: this.logger, active: () => !run.stopped });
    const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
    run.started = (async () => {
      try {
        await client.login(this.config.botToken);
      } catch (err) {
        run.stopped = true;
        if (this.run === run) this.run = undefined;
        await client.destroy();
        throw explainLoginError(err);
      }
      await Promise.race([ready, run.stopping.promise]);
      await Promise.race([run.firstCatchUp, run.stopping.promise]);
      if (!run.stopped) this.logger.info({ bot: client.user?.id, chatChannels: [...this.chatChannels] }, 'discord: connected');
    })();
    return run;
  }

  /** Failed API calls for metrics (429s are waited out and retried by discord.js). */
  private reportFailedCalls(client: Client): void {
    client.rest.on('response', (req, res) => {
      if (res.status === 429) this.context.reportApiError?.('rate_limited', `${req.method.toUpperCase()} ${req.route}`);
      else if (res.status >= 400) this.context.reportApiError?.('error', `${req.method.toUpperCase()} ${req.route}`);
    });
  }

  post(target: ReplyTarget, text: string, opts?: PostOptions): Promise<PostedMessage> {
    return this.output.post(target, text, opts);
  }
  postFile(target: ReplyTarget, file: OutgoingFile, opts?: PostFileOptions): Promise<PostedMessage> {
    return this.output.postFile(target, file, opts);
  }
  /**
   * Opens an attachment's bytes from its CDN URL, without the bot token; only Discord's file
   * hosts and the origin of `DISCORD_API_URL` are fetched from (./fetch-file.ts).
   * @throws Error `refused: …` (another host), `download failed: HTTP <status>`, `download failed: <reason>`
   */
  fetchFile(file: InboundFile, opts?: { signal?: AbortSignal }): Promise<AsyncIterable<Uint8Array>> {
    return fetchDiscordFile(file, { ...(this.config.apiUrl ? { apiUrl: this.config.apiUrl } : {}), ...(opts?.signal ? { signal: opts.signal } : {}) });
  }
  edit(target: ReplyTarget, ref: string, text: string, opts?: EditOptions): Promise<void> {
    return this.output.edit(target, ref, text, opts);
  }
  delete(target: ReplyTarget, ref: string): Promise<void> {
    return this.output.delete(target, ref);
  }
  react(target: ReplyTarget, messageRef: string, state: ReactionState): Promise<void> {
    return this.output.react(target, messageRef, state);
  }
  setStatus(target: ReplyTarget, status: string | null): Promise<void> {
    return this.output.setStatus(target, status);
  }
  /** Markdown as is (Discord renders it), `@everyone`/`@here` broken outside code; every message also goes out with `allowed_mentions: { parse: [] }`. */
  render(markdown: string): string {
    return neutraliseMentions(markdown);
  }
  neutraliseMentions(text: string): string {
    return neutraliseMentions(text);
  }

  /** The client output goes through: the Gateway run's once it is ready (its channel cache is filled), else the REST-only one. */
  private outputClient(): Client {
    const run = this.run;
    if (run && !run.stopped && run.client.isReady()) return run.client;
    if (!this.restClient || this.stopped) throw new Error('discord: not started');
    return this.restClient;
  }

  private onNewSession(run: GatewayRun): void {
    const n = ++this.sessions;
    const first = ++run.sessions === 1;
    this.logger.info(
      { session: n },
      n === 1
        ? 'discord: gateway session started'
        : first
          ? 'discord: gateway started again; catching up'
          : 'discord: new gateway session (resume failed); catching up',
    );
    const guilds = Promise.race([
      new Promise<void>((resolve) => run.client.once(Events.ShardReady, () => resolve())),
      new Promise<void>((resolve) => setTimeout(resolve, GUILDS_WAIT_MS).unref()),
      run.stopping.promise,
    ]);
    const done = run.inbound.newSession(guilds, n > 1);
    if (first) run.firstCatchUp = done;
  }

  private policy(): NormalisePolicy {
    return {
      botUserId: this.run?.client.user?.id ?? '',
      chatChannels: this.chatChannels,
      allowBots: this.config.allowBots,
      hasConversation: (id) => this.context.hasConversation(id),
      isBotMessage: (key) => this.context.isBotMessage(key),
    };
  }
}

/** discord.js login errors, with what to do about them (never containing the token). */
function explainLoginError(err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  if (/disallowed intents/i.test(message)) {
    return new Error(
      'Discord refused the Message Content intent (close 4014): enable it in the Developer Portal → your application → Bot → Privileged Gateway Intents',
    );
  }
  if (/invalid token/i.test(message))
    return new Error('Discord rejected DISCORD_BOT_TOKEN (An invalid token was provided.): copy a new one from the Developer Portal → Bot → Reset Token');
  return err instanceof Error ? err : new Error(message);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Context for a start() without one (tests): no conversations, no posted messages, state in memory. */
function memoryContext(): AdapterContext {
  const map = new Map<string, string>();
  return {
    hasConversation: () => Promise.resolve(false),
    isBotMessage: () => Promise.resolve(false),
    state: {
      get: (k) => Promise.resolve(map.get(k)),
      set: (k, v) => {
        map.set(k, v);
        return Promise.resolve();
      },
    },
  };
}
