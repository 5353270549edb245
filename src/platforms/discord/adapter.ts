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

export class DiscordAdapter implements PlatformAdapter {
  readonly name = 'discord' as const;
  /** Discord: `content` ≤ 2,000 characters; about 5 edits per 5 s per channel. */
  readonly limits: PlatformLimits = DISCORD_LIMITS;

  private readonly config: DiscordConfig;
  private readonly logger: Logger;
  private readonly chatChannels: ReadonlySet<string>;
  private readonly output: DiscordOutput;
  private client?: Client;
  private context: AdapterContext = memoryContext();
  private inbound?: DiscordInbound;
  private sessions = 0;
  /** The first session's catch-up (start() waits for it, so missed messages are in the inbox before recovery). */
  private firstCatchUp?: Promise<void>;
  private stopped = false;
  private readonly stopping = deferred();

  constructor(opts: DiscordAdapterOptions) {
    this.config = opts.config;
    this.logger = opts.logger;
    this.chatChannels = new Set(opts.config.channels);
    this.output = new DiscordOutput(() => this.requireClient(), this.logger, opts.typingRepeatMs);
  }

  /**
   * Logs in and resolves once the guilds are loaded and the first session's catch-up handed
   * what was said since the last run to `sink`.
   * @throws when discord.js cannot log in (e.g. "An invalid token was provided.")
   */
  async start(sink: InboundSink, context?: AdapterContext): Promise<void> {
    if (context) this.context = context;
    const client = new Client({
      intents: DISCORD_INTENTS,
      partials: [Partials.Channel],
      allowedMentions: { parse: [], repliedUser: false },
      failIfNotExists: false,
      ...(this.config.apiUrl ? { rest: { api: this.config.apiUrl } } : {}),
    });
    this.client = client;
    const inbound = new DiscordInbound({
      client,
      sink,
      context: this.context,
      chatChannels: this.chatChannels,
      policy: () => this.policy(),
      logger: this.logger,
    });
    this.inbound = inbound;
    client.on(Events.MessageCreate, (m) => inbound.live(m));
    // READY is a session's first dispatch: queue its catch-up before any of its messages.
    client.ws.on(GatewayDispatchEvents.Ready, () => this.onNewSession(client, inbound));
    client.on(Events.ShardResume, (_id, replayed) => this.logger.info({ replayed }, 'discord: gateway session resumed'));
    client.on(Events.ShardReconnecting, () => !this.stopped && this.logger.info('discord: gateway reconnecting'));
    client.on(Events.ShardDisconnect, (e) => this.logger.error({ code: e.code }, 'discord: gateway closed for good (check the token and the intents)'));
    client.on(Events.ShardError, (err) => this.logger.warn({ err: err.message }, 'discord: gateway error'));
    client.on(Events.Error, (err) => this.logger.error({ err: err.message }, 'discord: client error'));
    client.on(Events.Warn, (w) => this.logger.warn({ warning: w }, 'discord: warning'));
    // Failed API calls for metrics (429s are waited out and retried by discord.js).
    client.rest.on('response', (req, res) => {
      if (res.status === 429) this.context.reportApiError?.('rate_limited', `${req.method.toUpperCase()} ${req.route}`);
      else if (res.status >= 400) this.context.reportApiError?.('error', `${req.method.toUpperCase()} ${req.route}`);
    });
    const runCommand = this.context.runCommand?.bind(this.context);
    if (runCommand) {
      attachAgentCommand(client, {
        runCommand,
        logger: this.logger,
        active: () => !this.stopped,
        post: (target, text, opts) => this.output.post(target, text, opts),
        render: (markdown) => renderMessages(this, markdown),
        conversationFor: async (place) => {
          const id = conversationIdOf(place);
          return (await takesPartIn(place, this.policy())) || (await this.context.hasConversation(id)) ? id : undefined;
        },
      });
    }
    const onAction = this.context.onAction?.bind(this.context);
    attachButtons(client, { ...(onAction ? { onAction } : {}), logger: this.logger, active: () => !this.stopped });
    const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
    try {
      await client.login(this.config.botToken);
    } catch (err) {
      await client.destroy();
      throw explainLoginError(err);
    }
    await Promise.race([ready, this.stopping.promise]);
    await Promise.race([this.firstCatchUp, this.stopping.promise]);
    this.logger.info({ bot: client.user?.id, chatChannels: [...this.chatChannels] }, 'discord: connected');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.resolve();
    this.output.stopAll();
    await this.client?.destroy();
    await this.inbound?.stop();
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

  private requireClient(): Client {
    if (!this.client) throw new Error('discord: not started');
    return this.client;
  }

  private onNewSession(client: Client, inbound: DiscordInbound): void {
    const n = ++this.sessions;
    this.logger.info({ session: n }, n === 1 ? 'discord: gateway session started' : 'discord: new gateway session (resume failed); catching up');
    const guilds = Promise.race([
      new Promise<void>((resolve) => client.once(Events.ShardReady, () => resolve())),
      new Promise<void>((resolve) => setTimeout(resolve, GUILDS_WAIT_MS).unref()),
      this.stopping.promise,
    ]);
    const done = inbound.newSession(guilds, n > 1);
    if (n === 1) this.firstCatchUp = done;
  }

  private policy(): NormalisePolicy {
    return {
      botUserId: this.client?.user?.id ?? '',
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
