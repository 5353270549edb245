/** Discord's environment variables (README "Discord"). Discord runs when DISCORD_BOT_TOKEN is set. */
import { optionalHttpUrl, optionalString, onOff } from '../../core/env-schema.js';
import { platformConfig } from '../module.js';

/** Discord's settings (`config.discord`). */
export interface DiscordConfig {
  botToken: string;
  /** REST base URL, e.g. `http://127.0.0.1:PORT/api` (default Discord's own). */
  apiUrl?: string;
  /** Channels where the bot takes part in every message. */
  channels: string[];
  allowBots: boolean;
}

/** Discord's variables; settings when DISCORD_BOT_TOKEN is set. */
export const discordConfig = platformConfig({
  env: {
    DISCORD_BOT_TOKEN: optionalString,
    DISCORD_API_URL: optionalHttpUrl,
    DISCORD_CHANNELS: optionalString.refine((v) => v === undefined || /^\d+(\s*,\s*\d+)*$/.test(v), 'must be a comma-separated list of channel ids (digits)'),
    DISCORD_ALLOW_BOTS: onOff.optional(),
  },
  read: (e): DiscordConfig | undefined =>
    e.DISCORD_BOT_TOKEN
      ? {
          botToken: e.DISCORD_BOT_TOKEN,
          apiUrl: e.DISCORD_API_URL?.replace(/\/+$/, ''),
          channels: e.DISCORD_CHANNELS ? e.DISCORD_CHANNELS.split(',').map((c) => c.trim()) : [],
          allowBots: e.DISCORD_ALLOW_BOTS ?? false,
        }
      : undefined,
  agentEnvDeny: ['DISCORD_*'],
});
