/**
 * End-to-end helpers for Discord: the environment that points agentbridge (its own process,
 * the real `claude` CLI, the scripted Anthropic model) at a {@link DiscordTwin}, and waits on
 * what the twin sees.
 */
import type { AnthropicModel } from '../../models/anthropic.js';
import { claudeServiceEnv } from '../../helpers/agentbridge.js';
import type { Sandbox } from '../../helpers/sandbox.js';
import { waitFor } from '../../helpers/sandbox.js';
import type { ApiMessage, DiscordTwin, Interaction } from './index.js';

/** Environment for `agentbridge start` with Discord on the twin; `chatChannels` are ids. */
export function discordEnv(sb: Sandbox, model: AnthropicModel, twin: DiscordTwin, chatChannels: string[]): NodeJS.ProcessEnv {
  return claudeServiceEnv(sb, model.url, {
    LOG_LEVEL: 'debug',
    DISCORD_BOT_TOKEN: twin.token,
    DISCORD_API_URL: twin.apiUrl,
    DISCORD_CHANNELS: chatChannels.join(','),
  });
}

/** The bot's final messages in a channel or thread (progress messages, `⏳ Working…`, left out). */
export function botAnswers(twin: DiscordTwin, channel: string): ApiMessage[] {
  return twin.botMessages(channel).filter((m) => !m.content.startsWith('⏳'));
}

/** Waits for a bot message in `channel` whose text starts with `prefix`; returns it. */
export function answer(twin: DiscordTwin, channel: string, prefix: string, timeoutMs = 45_000): Promise<ApiMessage> {
  return waitFor(
    () => botAnswers(twin, channel).find((m) => m.content.startsWith(prefix)),
    timeoutMs,
    `a bot message starting "${prefix.slice(0, 60)}" in ${channel}`,
  );
}

/** How many bot messages in `channel` contain `text`. */
export function countAnswers(twin: DiscordTwin, channel: string, text: string): number {
  return twin.botMessages(channel).filter((m) => m.content.includes(text) && !m.content.startsWith('⏳')).length;
}

/** Every message create and edit the bot sent (REST calls with a body), for mention checks. */
export function botWrites(
  twin: DiscordTwin,
): Array<{ path: string; body: { content?: string; allowed_mentions?: { parse?: unknown[]; replied_user?: boolean } } }> {
  return twin.calls
    .filter(
      (c) => (c.method === 'POST' && /^\/channels\/\d+\/messages$/.test(c.path)) || (c.method === 'PATCH' && /^\/channels\/\d+\/messages\/\d+$/.test(c.path)),
    )
    .map((c) => ({ path: c.path, body: c.body as { content?: string; allowed_mentions?: { parse?: unknown[] } } }));
}

/** How agentbridge answered a slash command: at once (type 4) or deferred (type 5) and then edited. */
export interface SlashReply {
  /** Callback type: 4 answered at once, 5 deferred ("thinking…"). */
  type: number;
  /** Flags of the answer (64 = ephemeral; for a deferred answer, those of the deferral). */
  flags: number;
  /** The answer's text (for a deferred one, the `@original` edit). */
  content: string;
  /**
   * A deferred answer for everyone is posted in the channel instead (the deferred response,
   * ephemeral, only points to it): the text of those bot messages (found by their nonce
   * `i<interaction id>-<n>`), joined by a blank line; absent when none.
   */
  posted?: string;
}

/** Waits for agentbridge's answer to `interaction` (run with `twin.slashCommand`). */
export function slashReply(twin: DiscordTwin, interaction: Interaction, timeoutMs = 10_000): Promise<SlashReply> {
  return waitFor(
    () => {
      const cb = twin.calls.find((c) => c.method === 'POST' && c.path === `/interactions/${interaction.id}/${interaction.token}/callback` && c.status < 300);
      if (!cb) return undefined;
      const body = cb.body as { type: number; data?: { content?: string; flags?: number } };
      const flags = body.data?.flags ?? 0;
      if (body.type !== 5) return { type: body.type, flags, content: body.data?.content ?? '' };
      const edit = twin.calls.find(
        (c) => c.method === 'PATCH' && c.path === `/webhooks/${twin.applicationId}/${interaction.token}/messages/@original` && c.status < 300,
      );
      if (!edit) return undefined;
      const posts = twin.botMessages(interaction.channelId).filter((m) => typeof m.nonce === 'string' && m.nonce.startsWith(`i${interaction.id}-`));
      return {
        type: 5,
        flags,
        content: (edit.body as { content?: string }).content ?? '',
        ...(posts.length ? { posted: posts.map((m) => m.content).join('\n\n') } : {}),
      };
    },
    timeoutMs,
    `the answer to interaction ${interaction.id}`,
  );
}

/** Runs `/agent <text>` as `user` in `channel` and waits for the answer. */
export function agentCommand(twin: DiscordTwin, user: string, channel: string, text: string, opts: { lateByMs?: number } = {}): Promise<SlashReply> {
  const i = twin.slashCommand({ user, channel, name: 'agent', options: [{ name: 'command', type: 3, value: text }], ...opts });
  return slashReply(twin, i);
}
