/**
 * The Slack platform module (see `../module.ts`): Socket Mode or the Events API over HTTP,
 * threads as conversations, `/agent` slash commands, cards with buttons (Block Kit interactions).
 * The adapter (and `@slack/bolt`) is loaded only when Slack is configured.
 */
import { definePlatform } from '../module.js';
import { slackConfig, type SlackConfig } from './config.js';
import { SLACK_COMMANDS_PATH, SLACK_EVENTS_PATH, SLACK_INTERACTIONS_PATH } from './http-events.js';
import { parseSlackConversationId, SLACK_CHANNEL_PATTERN, SLACK_CONVERSATION_ID_FORMAT } from './ids.js';
import { SLACK_LIMITS } from './limits.js';

declare module '../../core/platforms.js' {
  interface PlatformConfigs {
    slack: SlackConfig;
  }
}

export const slackPlatform = definePlatform({
  name: 'slack',
  title: 'Slack',
  config: slackConfig,
  ids: { format: SLACK_CONVERSATION_ID_FORMAT, parse: parseSlackConversationId },
  channel: { pattern: SLACK_CHANNEL_PATTERN, description: 'a Slack channel id such as C0123ABCD', label: 'Slack channel id' },
  userIdExample: 'slack:U123',
  limits: SLACK_LIMITS,
  capabilities: { edit: true, delete: true, threads: true, reactions: true, status: true, ephemeralReplies: true, slashCommands: true, idempotentPosts: true },
  // Signed with the signing secret, reached at the public name Slack was given.
  hostCheckExemptPaths: [SLACK_EVENTS_PATH, SLACK_COMMANDS_PATH, SLACK_INTERACTIONS_PATH],
  async create(settings, deps) {
    const { SlackAdapter } = await import('./adapter.js');
    return new SlackAdapter({ config: settings, http: deps.http, logger: deps.logger.child({ platform: 'slack' }) });
  },
});
