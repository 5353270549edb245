/**
 * Which platform adapters run, from the configuration. Slack and Discord are loaded only when
 * configured; the local web chat runs when neither is (or with AGENTBRIDGE_LOCAL_CHAT=on).
 */
import type { Config } from '../core/config.js';
import type { HttpServer } from '../http/server.js';
import type { Logger } from '../logger.js';
import type { LocalUsersRepo } from '../store/repos/local-users.js';
import type { LocalMessagesRepo } from '../store/types.js';
import { LocalAdapter } from './local/adapter.js';
import { LocalAuth, loginRequiredByConfig } from './local/auth.js';
import type { PlatformAdapter } from './types.js';

export interface PlatformDeps {
  http: HttpServer;
  logger: Logger;
  localMessages: LocalMessagesRepo;
  /** Local chat logins (`agentbridge users …`). */
  localUsers: LocalUsersRepo;
}

/** Whether the local web chat runs: `on`/`off`, or with `auto` only when no platform is configured. */
export function localChatEnabled(config: Config): boolean {
  if (config.localChat === 'on') return true;
  if (config.localChat === 'off') return false;
  return !config.slack && !config.discord;
}

/** Creates the configured adapters (not started). */
export async function createAdapters(config: Config, deps: PlatformDeps): Promise<PlatformAdapter[]> {
  const adapters: PlatformAdapter[] = [];
  if (config.slack) {
    const { SlackAdapter } = await import('./slack/adapter.js');
    adapters.push(new SlackAdapter({ config: config.slack, http: deps.http, logger: deps.logger.child({ platform: 'slack' }) }));
  }
  if (config.discord) {
    const { DiscordAdapter } = await import('./discord/adapter.js');
    adapters.push(new DiscordAdapter({ config: config.discord, logger: deps.logger.child({ platform: 'discord' }) }));
  }
  if (localChatEnabled(config)) {
    const auth = new LocalAuth({
      users: deps.localUsers,
      requiredByConfig: loginRequiredByConfig(config),
      secureCookie: config.publicUrl?.startsWith('https:') ?? false,
      logger: deps.logger.child({ platform: 'local' }),
    });
    adapters.push(new LocalAdapter({ repo: deps.localMessages, http: deps.http, logger: deps.logger, auth }));
  }
  return adapters;
}
