/** Placeholder until the Slack adapter lands: fails clearly at start. */
import type { SlackConfig } from '../../config.js';
import type { HttpServer } from '../../http/server.js';
import type { Logger } from '../../logger.js';
import type { PlatformAdapter, PostedMessage } from '../types.js';

export class SlackAdapter implements PlatformAdapter {
  readonly name = 'slack' as const;
  readonly limits = { maxMessageChars: 2000, minEditIntervalMs: 1500 };
  constructor(_opts: { config: SlackConfig; http?: HttpServer; logger: Logger }) {}
  async start(): Promise<void> {
    throw new Error('the Slack adapter is not available in this build');
  }
  async stop(): Promise<void> {}
  async post(): Promise<PostedMessage> {
    throw new Error('not available');
  }
  async edit(): Promise<void> {
    throw new Error('not available');
  }
}
