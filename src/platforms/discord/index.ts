/**
 * The Discord platform module (see `../module.ts`): the Gateway, channels and threads as
 * conversations, `/agent` application commands. The adapter (and `discord.js`) is loaded only
 * when Discord is configured.
 */
import { definePlatform } from '../module.js';
import { discordConfig, type DiscordConfig } from './config.js';
import { DISCORD_CHANNEL_PATTERN, DISCORD_CONVERSATION_ID_FORMAT, parseDiscordConversationId } from './ids.js';
import { DISCORD_LIMITS } from './limits.js';

declare module '../../core/platforms.js' {
  interface PlatformConfigs {
    discord: DiscordConfig;
  }
}

export const discordPlatform = definePlatform({
  name: 'discord',
  title: 'Discord',
  config: discordConfig,
  ids: { format: DISCORD_CONVERSATION_ID_FORMAT, parse: parseDiscordConversationId },
  channel: { pattern: DISCORD_CHANNEL_PATTERN, description: 'a Discord channel id (a number such as 112233445566778899)', label: 'Discord channel id' },
  userIdExample: 'discord:456',
  limits: DISCORD_LIMITS,
  capabilities: { edit: true, delete: true, threads: true, reactions: true, status: true, ephemeralReplies: true, slashCommands: true, idempotentPosts: true },
  async create(settings, deps) {
    const { DiscordAdapter } = await import('./adapter.js');
    return new DiscordAdapter({ config: settings, logger: deps.logger.child({ platform: 'discord' }) });
  },
});
