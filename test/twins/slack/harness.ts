/**
 * Helpers for the Slack end-to-end tests: the environment that points agentbridge (its own
 * process), the real `claude` CLI and @slack/bolt at the scripted model and the Slack twin, and
 * waits on what the twin saw.
 */
import { claudeServiceEnv } from '../../helpers/agentbridge.js';
import type { AnthropicModel } from '../../models/anthropic.js';
import type { Sandbox } from '../../helpers/sandbox.js';
import { waitFor } from '../../helpers/sandbox.js';
import type { SlackTwin, TwinMessage } from './twin.js';

export const CHANNEL = 'C0GENERAL';

/** People in the twin's workspace. */
export const USERS = [
  { id: 'U0ALICE', name: 'alice', display_name: 'Alice' },
  { id: 'U0BOB', name: 'bob', real_name: 'Bob Builder' },
];

/**
 * Environment for `agentbridge start`: isolated HOME/data dir, claude against the model server,
 * Slack against the twin (Socket Mode, or the Events API over HTTP with the signing secret).
 */
export function slackEnv(sb: Sandbox, model: AnthropicModel, twin: SlackTwin, mode: 'socket' | 'http'): NodeJS.ProcessEnv {
  return claudeServiceEnv(sb, model.url, {
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'debug',
    SLACK_BOT_TOKEN: twin.botToken,
    // Without the trailing "/api/": agentbridge normalises the base URL.
    SLACK_API_URL: `${twin.url}/api`,
    ...(mode === 'socket' ? { SLACK_APP_TOKEN: twin.appToken } : { SLACK_SIGNING_SECRET: twin.signingSecret }),
  });
}

/** The bot's messages in a thread (current state), oldest first. */
export function botMessages(twin: SlackTwin, channel: string, threadTs: string): TwinMessage[] {
  return twin.threadMessages(channel, threadTs).filter((m) => m.bot_id === twin.botId);
}

/** Waits until a bot message in the thread starts with `prefix`; returns it. */
export function waitForAnswer(twin: SlackTwin, channel: string, threadTs: string, prefix: string, timeoutMs = 45_000): Promise<TwinMessage> {
  return waitFor(
    () => botMessages(twin, channel, threadTs).find((m) => m.text.startsWith(prefix)),
    timeoutMs,
    `an answer starting ${JSON.stringify(prefix)} in thread ${threadTs}`,
  );
}

/** Bot messages in the thread whose current text starts with `prefix` (answers, not progress). */
export function answersStartingWith(twin: SlackTwin, channel: string, threadTs: string, prefix: string): TwinMessage[] {
  return botMessages(twin, channel, threadTs).filter((m) => m.text.startsWith(prefix));
}

/** Waits until every event delivered so far (Socket Mode) has an acknowledged envelope. */
export function waitForAcks(twin: SlackTwin, eventIds: string[], timeoutMs = 10_000): Promise<true> {
  return waitFor(
    () => eventIds.every((id) => twin.socket.envelopes.some((e) => e.event_id === id && e.acked)) || undefined,
    timeoutMs,
    `acks of ${eventIds.join(', ')}`,
  );
}

/** The inbox row counts of a running agentbridge (`GET /healthz`), summed over states. */
export async function inboxTotal(url: string): Promise<number> {
  const res = await fetch(`${url}/healthz`);
  const body = (await res.json()) as { inbox: Record<string, number> };
  return Object.values(body.inbox).reduce((a, b) => a + b, 0);
}

/** A promise with its resolve function (to hold a scripted model answer until the test releases it). */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}
