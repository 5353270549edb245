/**
 * The local web chat platform module (see `../module.ts`): the chat page and its HTTP API on
 * agentbridge's own server, channels and threads like Slack's, commands as `/agent …` messages.
 * Runs when AGENTBRIDGE_LOCAL_CHAT is `on`, or with `auto` when no other platform is configured.
 */
import { definePlatform } from '../module.js';
import { localConfig, type LocalChatConfig } from './config.js';
import { CHANNEL_PATTERN, LOCAL_CONVERSATION_ID_FORMAT, parseLocalConversationId } from './ids.js';
import { LOCAL_LIMITS } from './limits.js';

declare module '../../core/platforms.js' {
  interface PlatformConfigs {
    local: LocalChatConfig;
  }
}

export const localPlatform = definePlatform({
  name: 'local',
  title: 'the local web chat',
  config: localConfig,
  ids: { format: LOCAL_CONVERSATION_ID_FORMAT, parse: parseLocalConversationId },
  channel: { pattern: CHANNEL_PATTERN, description: 'a local chat channel name (lowercase letters, digits, "_" and "-")', label: 'local channel name' },
  userIdExample: 'local:alice',
  limits: LOCAL_LIMITS,
  capabilities: {
    edit: true,
    delete: false,
    threads: true,
    reactions: true,
    status: true,
    ephemeralReplies: false,
    slashCommands: false,
    idempotentPosts: false,
  },
  enabled: (settings, othersConfigured) => (settings?.chat ?? 'auto') === 'on' || ((settings?.chat ?? 'auto') === 'auto' && othersConfigured.length === 0),
  async create(_settings, deps) {
    const [{ LocalAdapter }, { LocalAuth, loginRequiredByConfig }, { LocalFiles }, { LocalUploads }] = await Promise.all([
      import('./adapter.js'),
      import('./auth.js'),
      import('./files.js'),
      import('./uploads.js'),
    ]);
    const auth = new LocalAuth({
      users: deps.localUsers,
      requiredByConfig: loginRequiredByConfig(deps.config),
      secureCookie: deps.config.publicUrl?.startsWith('https:') ?? false,
      logger: deps.logger.child({ platform: 'local' }),
    });
    return new LocalAdapter({
      repo: deps.localMessages,
      http: deps.http,
      logger: deps.logger,
      auth,
      files: new LocalFiles(deps.config.dataDir),
      maxFileBytes: deps.config.maxFileBytes,
      uploads: new LocalUploads(deps.config.dataDir, deps.localUploads),
      ...(deps.localRelay ? { relay: deps.localRelay } : {}),
    });
  },
});
