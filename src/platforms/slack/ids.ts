/**
 * Slack conversation ids: one thread in a channel of a workspace,
 * `slack:<team>:<channel>:<thread_ts>` (e.g. `slack:T01:C02:1700000000.000100`), and the shape
 * of Slack channel ids. Pure functions.
 */
import { idPart, InvalidConversationIdError } from '../../core/ids.js';

/** The parts of a Slack conversation id. */
export interface SlackConversationRef {
  platform: 'slack';
  team: string;
  channel: string;
  thread: string;
}

/** The format of a Slack conversation id. */
export const SLACK_CONVERSATION_ID_FORMAT = 'slack:<team>:<channel>:<thread_ts>';

/**
 * Slack conversation: one thread in a channel of a workspace.
 * Format `slack:<team>:<channel>:<thread_ts>`, e.g. `slack:T01:C02:1700000000.000100`.
 * @param team workspace id (`team_id` of the event envelope, `T…`)
 * @param channel channel id (`C…`, `G…`, `D…` for DMs)
 * @param threadTs `ts` of the thread's parent message (the message's own `ts` when it
 *   starts a thread, else its `thread_ts`; Slack API docs, "Threading messages")
 * @throws InvalidIdComponentError for an empty part or one with `:`
 */
export function slackConversationId(team: string, channel: string, threadTs: string): string {
  return `slack:${idPart('Slack team', team)}:${idPart('Slack channel', channel)}:${idPart('Slack thread_ts', threadTs)}`;
}

/**
 * The parts of a Slack conversation id (`parts`: after `slack:`).
 * @throws InvalidConversationIdError unless there are exactly three
 */
export function parseSlackConversationId(id: string, parts: readonly string[]): SlackConversationRef {
  const [team, channel, thread] = parts;
  if (parts.length !== 3 || !team || !channel || !thread) throw new InvalidConversationIdError(id, `expected ${SLACK_CONVERSATION_ID_FORMAT}`);
  return { platform: 'slack', team, channel, thread };
}

/** Slack channel ids start with `C` (public), `G` (private) or `D` (DM), then upper-case letters and digits. */
export const SLACK_CHANNEL_PATTERN = /^[CGD][A-Z0-9]{2,}$/;
