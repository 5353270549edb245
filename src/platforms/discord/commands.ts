/**
 * Discord's `/agent` application command: registered per guild, run through the core's
 * command service (`AdapterContext.runCommand`), answered through the interaction.
 *
 * Discord rules encoded:
 * - Guild commands are set with a bulk overwrite, `PUT /applications/{app}/guilds/{guild}/commands`
 *   (effective at once; global commands take up to an hour). It needs the bot to have been
 *   invited with the `applications.commands` scope.
 * - An interaction must be answered within 3 s (`POST /interactions/{id}/{token}/callback`):
 *   type 4 with the message, or type 5 "thinking…" and later
 *   `PATCH /webhooks/{app}/{token}/messages/@original`; more messages are follow-ups
 *   (`POST /webhooks/{app}/{token}`). Flag 64 makes a reply ephemeral (only the caller sees it).
 *   The 3 s run from the interaction's creation (its snowflake), not from when the bot got
 *   it: a command not done {@link DEFER_AFTER_MS} after the creation is deferred (ephemeral);
 *   an interaction that arrives that late (Gateway or event-loop lag, under 1 s left) is
 *   deferred at once — the small acknowledgement first, the answer without time pressure
 *   ({@link deferDelay}).
 * - A deferred response keeps the visibility chosen at defer time (the edit cannot change it),
 *   and it is deferred ephemeral. So a late answer meant for everyone (stop, reset, model,
 *   cron add, …) is posted as a normal bot message in the channel (or thread) and the deferred
 *   response edited to {@link POSTED_IN_CHANNEL}; should that post fail (e.g. the bot may not
 *   send messages there), the answer goes into the deferred response, seen by the caller only.
 * - Content ≤ 2,000 characters per message; no pings (`allowed_mentions.parse: []`).
 *
 * The interaction responses are a transport detail of Discord (they must come within 3 s and
 * can be ephemeral), so they are sent here rather than through the outbox; their text is the
 * adapter's `render()` chunked to its limit (`InteractionDeps.render` = `platforms/render.ts`),
 * the same rendering as every post of the outbound path.
 */
import {
  ApplicationCommandOptionType,
  Events,
  MessageFlags,
  type ChatInputApplicationCommandData,
  type ChatInputCommandInteraction,
  type Client,
} from 'discord.js';
import type { Logger } from '../../logger.js';
import type { ReplyTarget } from '../../core/messages.js';
import type { CommandReply, CommandRequest, PostOptions, PostedMessage } from '../types.js';
import { NO_MENTIONS } from './format.js';

/** The `/agent [command]` application command. */
export const AGENT_COMMAND: ChatInputApplicationCommandData = {
  name: 'agent',
  description: 'Talk to agentbridge: status, stop, model, help, …',
  options: [{ type: ApplicationCommandOptionType.String, name: 'command', description: 'e.g. "status", "stop", "model <name>", "help"', required: false }],
};

/** The deferred (ephemeral) response once a late answer for everyone was posted in the channel. */
export const POSTED_IN_CHANNEL = 'Done — posted in the channel.';

/** Answer directly when the command is done this long after the interaction was created, ms; else defer (Discord's limit is 3 s). */
export const DEFER_AFTER_MS = 2_000;

/**
 * How long to wait for the command before deferring, ms: what is left of {@link DEFER_AFTER_MS}
 * since the interaction was created (`createdTimestamp`, from its id), between 0 and
 * DEFER_AFTER_MS (a clock behind Discord's never waits longer than that).
 */
export function deferDelay(createdTimestamp: number, now = Date.now()): number {
  return Math.min(DEFER_AFTER_MS, Math.max(0, DEFER_AFTER_MS - (now - createdTimestamp)));
}

/** Bulk-overwrites `/agent` in every guild the client is in. Failures are logged, not thrown. */
export async function registerAgentCommand(client: Client, guildIds: Iterable<string>, logger: Logger): Promise<void> {
  const app = client.application;
  if (!app) return;
  for (const guildId of guildIds) {
    try {
      await app.commands.set([AGENT_COMMAND], guildId);
    } catch (err) {
      logger.warn(
        { guild: guildId, err: err instanceof Error ? err.message : String(err) },
        'discord: could not register /agent (was the bot invited with the applications.commands scope?)',
      );
    }
  }
}

export interface InteractionDeps {
  runCommand(req: CommandRequest): Promise<CommandReply>;
  /** False once the adapter stops: interactions are then ignored. */
  active(): boolean;
  /** The conversation a command in this place is about, if any (chat channel, thread, DM); rejects on a store error. */
  conversationFor(place: { guildId: string | null; channelId: string; threadParentId?: string }): Promise<string | undefined>;
  /** Posts a bot message (no pings), for late answers meant for everyone; absent: they stay in the ephemeral response. */
  post?(target: ReplyTarget, text: string, opts?: PostOptions): Promise<PostedMessage>;
  /** The reply's Markdown rendered for Discord (mentions neutralised) and chunked to 2,000 characters: `renderMessages(adapter, …)`. */
  render(markdown: string): string[];
  logger: Logger;
}

/** Runs `/agent …` and shows the reply (first message as the response, the rest as follow-ups). */
export async function handleAgentCommand(interaction: ChatInputCommandInteraction, deps: InteractionDeps): Promise<void> {
  const channel = interaction.channel;
  const threadParentId = channel?.isThread() ? (channel.parentId ?? undefined) : undefined;
  const place = { guildId: interaction.guildId ?? null, channelId: interaction.channelId, ...(threadParentId ? { threadParentId } : {}) };
  const replyTarget: ReplyTarget = { platform: 'discord', channel: interaction.channelId, ...(threadParentId ? { thread: interaction.channelId } : {}) };
  const member = interaction.member && 'displayName' in interaction.member ? interaction.member.displayName : undefined;
  const req: CommandRequest = {
    platform: 'discord',
    userId: interaction.user.id,
    userName: member ?? interaction.user.displayName,
    channel: threadParentId ?? interaction.channelId,
    conversationId: await deps.conversationFor(place),
    text: interaction.options.getString('command') ?? '',
    replyTarget,
  };
  const wait = deferDelay(interaction.createdTimestamp);
  // An interaction that arrived late (wait 0) is acknowledged before the command runs. Should that
  // fail (past its 3 s), the command still runs; only its answer cannot be shown.
  let acknowledged = true;
  if (wait === 0) {
    acknowledged = await interaction.deferReply({ flags: MessageFlags.Ephemeral }).then(
      () => true,
      (err: unknown) => {
        deps.logger.warn(
          { err: err instanceof Error ? err.message : String(err), command: req.text.slice(0, 40) },
          'discord: /agent arrived too late to be answered; running it anyway',
        );
        return false;
      },
    );
  }
  const running = deps.runCommand(req);
  if (!acknowledged) return void (await running);
  let timer: NodeJS.Timeout | undefined;
  const quick = wait === 0 ? undefined : await Promise.race([running, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), wait)))]);
  clearTimeout(timer);
  if (!quick && !interaction.deferred) await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  const result = quick ?? (await running);
  const chunks = deps.render(result.text);
  const [first = '(no reply)', ...rest] = chunks;
  if (!quick && !result.ephemeral && deps.post) {
    // Deferred, so ephemeral: the answer for everyone goes into the channel instead.
    const posted = await postInChannel(interaction.id, replyTarget, [first, ...rest], deps);
    if (posted === rest.length + 1) return void (await interaction.editReply({ content: POSTED_IN_CHANNEL, allowedMentions: NO_MENTIONS }));
    const [left = '(no reply)', ...more] = [first, ...rest].slice(posted);
    await interaction.editReply({ content: left, allowedMentions: NO_MENTIONS });
    for (const m of more) await interaction.followUp({ content: m, allowedMentions: NO_MENTIONS, flags: MessageFlags.Ephemeral });
    return;
  }
  const flags = result.ephemeral ? MessageFlags.Ephemeral : undefined;
  if (quick) await interaction.reply({ content: first, allowedMentions: NO_MENTIONS, ...(flags ? { flags } : {}) });
  else await interaction.editReply({ content: first, allowedMentions: NO_MENTIONS });
  for (const more of rest) await interaction.followUp({ content: more, allowedMentions: NO_MENTIONS, ...(flags ? { flags } : {}) });
}

/**
 * Posts `chunks` in order as bot messages; returns how many were posted (all, or up to the first
 * failure, which is logged). Chunk n's idempotency key is `i<interaction id>-<n>`, so a
 * @discordjs/rest retry of a create that Discord did carry out shows it once.
 */
async function postInChannel(interactionId: string, target: ReplyTarget, chunks: string[], deps: InteractionDeps): Promise<number> {
  let n = 0;
  try {
    for (; n < chunks.length; n++) await deps.post!(target, chunks[n]!, { idempotencyKey: `i${interactionId}-${n}` });
  } catch (err) {
    deps.logger.warn(
      { err: err instanceof Error ? err.message : String(err), channel: target.channel, posted: n },
      'discord: could not post the /agent answer in the channel; showing it to the caller only',
    );
  }
  return n;
}

/** Registers `/agent` at ready (and in guilds joined later) and answers its interactions. */
export function attachAgentCommand(client: Client, deps: InteractionDeps): void {
  client.once(Events.ClientReady, (c) => void registerAgentCommand(c, c.guilds.cache.keys(), deps.logger));
  client.on(Events.GuildCreate, (g) => {
    if (client.isReady()) void registerAgentCommand(client, [g.id], deps.logger);
  });
  client.on(Events.InteractionCreate, (interaction) => {
    if (!deps.active() || !interaction.isChatInputCommand() || interaction.commandName !== AGENT_COMMAND.name) return;
    handleAgentCommand(interaction, deps).catch((err: unknown) =>
      deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'discord: /agent reply failed'),
    );
  });
}
