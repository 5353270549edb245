/**
 * Clicks on card buttons (message components): a Gateway INTERACTION_CREATE of type 3
 * (MESSAGE_COMPONENT), which discord.js delivers as a `ButtonInteraction`, handed to the core
 * as an {@link ActionRequest} (`AdapterContext.onAction`) and answered through the interaction.
 *
 * Discord rules encoded (Discord API docs, "Interactions — Receiving and Responding"):
 * - An interaction must be answered within 3 s of its creation
 *   (`POST /interactions/{id}/{token}/callback`), and only once. As for `/agent`
 *   (./commands.ts), the 3 s count from the interaction's snowflake: the core gets until
 *   `DEFER_AFTER_MS` (2 s) after the creation; later, the click is acknowledged first.
 * - Type 6 DEFERRED_UPDATE_MESSAGE (component interactions only) acknowledges a click showing
 *   nothing; the core then edits the card through the normal edit path (`PATCH
 *   /channels/{c}/messages/{m}`, no interaction token needed). It is the answer to `ok`, and the
 *   acknowledgement when the core is slow.
 * - Type 4 CHANNEL_MESSAGE_WITH_SOURCE with flag 64 (EPHEMERAL) shows a message to the clicker
 *   only: the answer to `decided`, `forbidden` and `unknown`. After a type 6 the same goes out as
 *   an ephemeral follow-up (`POST /webhooks/{app}/{token}`, flag 64).
 * - Every reply carries `allowed_mentions: {parse: []}` and at most 2,000 characters.
 * - The same interaction can be delivered twice (a Gateway replay); a repeat is ignored (the
 *   last {@link REMEMBERED_CLICKS} interaction ids are remembered), so the core sees one click.
 * - Malformed input is logged, never a crash. A raw INTERACTION_CREATE that discord.js would
 *   throw on while building its `Interaction` (no user, no data, a click without `custom_id` or
 *   message: {@link checkRawInteraction}) is dropped before discord.js sees it
 *   ({@link guardInteractions}); a click whose fields do not validate ({@link parseButtonClick})
 *   is answered "no longer active" (best effort). A `custom_id` that is not an agentbridge action
 *   id (`parseActionId`) gets {@link INACTIVE_BUTTON} without asking the core.
 */
import { Events, GatewayDispatchEvents, MessageFlags, type ButtonInteraction, type Client } from 'discord.js';
import type { Logger } from '../../logger.js';
import { parseActionId, type ActionReply, type ActionRequest } from '../../core/interactions.js';
import { deferDelay } from './commands.js';
import { actionRequestOf, checkRawInteraction, parseButtonClick } from './components.js';
import { NO_MENTIONS } from './format.js';
import { DISCORD_LIMITS } from './limits.js';

/** What a click on a button agentbridge does not know (any more) is told. */
export const INACTIVE_BUTTON = 'This button is no longer active.';
/** What the clicker is told when the core failed to take the click. */
export const CLICK_FAILED = 'Could not take your choice just now; please try again.';
/** How many interaction ids are remembered to ignore a repeated delivery. */
export const REMEMBERED_CLICKS = 1_000;

export interface ButtonDeps {
  /** The core's click handler (`AdapterContext.onAction`); absent: every button is inactive. */
  onAction?(req: ActionRequest): Promise<ActionReply>;
  /** False once the adapter stops: clicks are then ignored. */
  active(): boolean;
  logger: Logger;
}

/** The fields a click needs, read from discord.js's interaction (validated by {@link parseButtonClick}). */
export function clickFacts(interaction: ButtonInteraction): Record<string, unknown> {
  const channel = interaction.channel;
  const threadParentId = channel?.isThread() ? (channel.parentId ?? undefined) : undefined;
  const member = interaction.member;
  const memberName = member && 'displayName' in member ? member.displayName : (member?.nick ?? undefined);
  return {
    interactionId: interaction.id,
    customId: interaction.customId,
    // discord.js: `user` is `data.user ?? data.member.user`.
    userId: interaction.user?.id,
    userName: memberName ?? interaction.user?.displayName,
    guildId: interaction.guildId ?? null,
    channelId: interaction.channelId ?? interaction.message?.channelId,
    ...(threadParentId ? { threadParentId } : {}),
    messageId: interaction.message?.id,
  };
}

/** Hands a click to the core and answers it (see the module comment). Never throws. */
export async function handleButton(interaction: ButtonInteraction, deps: ButtonDeps): Promise<void> {
  const log = (err: unknown, msg: string, extra: Record<string, unknown> = {}) =>
    deps.logger.warn({ err: err instanceof Error ? err.message : String(err), interaction: interaction.id, ...extra }, msg);
  const parsed = parseButtonClick(clickFacts(interaction));
  if (!parsed.ok) {
    deps.logger.warn({ interaction: interaction.id, error: parsed.error }, 'discord: malformed button click ignored');
    return void (await tell(interaction, INACTIVE_BUTTON).catch((err: unknown) => log(err, 'discord: could not answer a malformed button click')));
  }
  const req = actionRequestOf(parsed.click);
  if (!deps.onAction || !parseActionId(req.actionId)) {
    return void (await tell(interaction, INACTIVE_BUTTON).catch((err: unknown) => log(err, 'discord: could not answer a button click')));
  }
  const wait = deferDelay(interaction.createdTimestamp);
  // A click that arrived late is acknowledged before the core runs; should that fail (past its
  // 3 s), the click still counts, only the answer cannot be shown.
  if (wait === 0 && !(await acknowledge(interaction, log))) return void (await decide(deps, req, log));
  const running = decide(deps, req, log);
  let timer: NodeJS.Timeout | undefined;
  const quick = wait === 0 ? undefined : await Promise.race([running, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), wait)))]);
  clearTimeout(timer);
  try {
    if (quick) {
      if (quick.status === 'ok') await interaction.deferUpdate();
      else await tell(interaction, quick.text);
      return;
    }
    if (!interaction.deferred && !(await acknowledge(interaction, log))) return void (await running);
    const reply = await running;
    if (reply.status !== 'ok') await interaction.followUp({ content: clip(reply.text), allowedMentions: NO_MENTIONS, flags: MessageFlags.Ephemeral });
  } catch (err) {
    log(err, 'discord: could not answer a button click', { action: req.actionId });
  }
}

/** Runs the core's handler; a failure becomes an `unknown` reply telling the clicker to retry. */
async function decide(deps: ButtonDeps, req: ActionRequest, log: (err: unknown, msg: string) => void): Promise<ActionReply> {
  try {
    return await deps.onAction!(req);
  } catch (err) {
    log(err, 'discord: the core failed to take a button click');
    return { status: 'unknown', text: CLICK_FAILED };
  }
}

/** Type 6: acknowledged, nothing shown. False (logged) when Discord refused it. */
function acknowledge(interaction: ButtonInteraction, log: (err: unknown, msg: string) => void): Promise<boolean> {
  return interaction.deferUpdate().then(
    () => true,
    (err: unknown) => (log(err, 'discord: button click arrived too late to be answered; taking it anyway'), false),
  );
}

/** Type 4, ephemeral: `text` to the clicker only. */
async function tell(interaction: ButtonInteraction, text: string): Promise<void> {
  await interaction.reply({ content: clip(text), allowedMentions: NO_MENTIONS, flags: MessageFlags.Ephemeral });
}

function clip(text: string): string {
  const max = DISCORD_LIMITS.maxMessageChars;
  if (!text) return INACTIVE_BUTTON;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Drops malformed INTERACTION_CREATE payloads before discord.js handles them. discord.js emits a
 * Gateway dispatch on `client.ws` (synchronously, with the same object) right before its own
 * handler builds the `Interaction`, which throws on a payload without a user or data (an
 * unhandled rejection inside its event emitter). A payload failing {@link checkRawInteraction}
 * is logged (issues and id only, never the token) and its `type` set to 0 and `channel` removed,
 * which discord.js skips as an unknown interaction type (verified with discord.js 14.28.1).
 */
export function guardInteractions(client: Client, logger: Logger): void {
  client.ws.on(GatewayDispatchEvents.InteractionCreate, (d: unknown) => {
    const check = checkRawInteraction(d);
    if (check.ok || typeof d !== 'object' || d === null) return;
    const raw = d as Record<string, unknown>;
    logger.warn({ interaction: typeof raw.id === 'string' ? raw.id.slice(0, 30) : undefined, error: check.error }, 'discord: malformed interaction dropped');
    raw.type = 0;
    delete raw.channel;
  });
}

/** Answers button clicks on the bot's messages (each interaction once, see {@link REMEMBERED_CLICKS}); drops malformed interactions ({@link guardInteractions}). */
export function attachButtons(client: Client, deps: ButtonDeps): void {
  guardInteractions(client, deps.logger);
  const seen = new Set<string>();
  client.on(Events.InteractionCreate, (interaction) => {
    if (!deps.active() || !interaction.isButton()) return;
    if (seen.has(interaction.id)) return void deps.logger.debug({ interaction: interaction.id }, 'discord: repeated button click ignored');
    seen.add(interaction.id);
    if (seen.size > REMEMBERED_CLICKS) seen.delete(seen.values().next().value!);
    handleButton(interaction, deps).catch((err: unknown) =>
      deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'discord: button click handling failed'),
    );
  });
}
