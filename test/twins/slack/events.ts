/**
 * Events API payloads the Slack twin sends, and their signed delivery over HTTP.
 *
 * Wire facts (api.slack.com Events API; docs/ARCHITECTURE.md §7): the envelope is `{token, team_id, api_app_id,
 * event, type: "event_callback", event_id, event_time, authorizations, …}`; over Socket Mode it
 * is the `payload` of `{envelope_id, type: "events_api", payload, accepts_response_payload,
 * retry_attempt, retry_reason}`. Over HTTP it is the JSON body, signed with
 * `X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:<ts>:<body>"))` and
 * `X-Slack-Request-Timestamp: <unix seconds>`; retries add `X-Slack-Retry-Num` and
 * `X-Slack-Retry-Reason`. The HMAC is computed here independently of agentbridge's code.
 * Slash commands over HTTP are form-encoded (`application/x-www-form-urlencoded`) and signed the
 * same way (over the raw form body), as are interactions (a single form field `payload` holding
 * the JSON payload).
 *
 * A button click is a `block_actions` payload (docs.slack.dev "block_actions payload"):
 * `{type, user: {id, username, name, team_id}, api_app_id, token, container: {type: "message",
 * message_ts, channel_id, is_ephemeral, thread_ts?}, trigger_id, team: {id, domain}, enterprise,
 * is_enterprise_install, channel: {id, name}, message: {…the message, with blocks}, state:
 * {values}, response_url, actions: [{action_id, block_id, text, value, style?, type: "button",
 * action_ts}]}`.
 */
import { createHmac } from 'node:crypto';
import { channelType, type TwinMessage } from './store.js';

export interface EnvelopeIds {
  teamId: string;
  appId: string;
  botUserId: string;
}

/** An `event_callback` envelope around `event`. */
export function eventEnvelope(ids: EnvelopeIds, event: Record<string, unknown>, eventId: string): Record<string, unknown> {
  return {
    token: 'twin-verification-token',
    team_id: ids.teamId,
    api_app_id: ids.appId,
    event,
    type: 'event_callback',
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ enterprise_id: null, team_id: ids.teamId, user_id: ids.botUserId, is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
    event_context: `4-twin-${eventId}`,
  };
}

export interface ClickIds {
  teamId: string;
  appId: string;
  user: { id: string; name: string };
  /** The message as the Web API shows it (with `blocks`), plus its channel. */
  message: Record<string, unknown> & { channel: string; ts?: unknown; thread_ts?: unknown; blocks?: unknown };
  actionId: string;
  /** Build the click even when the message has no button with `actionId`. */
  anyActionId?: boolean;
  responseUrl: string;
  actionTs: string;
}

/**
 * The `block_actions` payload of a click on button `actionId` of `message`.
 * @throws when the message has no such button and `anyActionId` is not set.
 */
export function blockActionsPayload(c: ClickIds): Record<string, unknown> {
  const { channel, ...message } = c.message;
  const found = findButton(message.blocks, c.actionId);
  if (!found && !c.anyActionId) throw new Error(`message ${String(message.ts)} has no button ${c.actionId}`);
  const button = found?.button ?? { type: 'button', action_id: c.actionId, text: { type: 'plain_text', text: c.actionId }, value: c.actionId };
  const thread = typeof message.thread_ts === 'string' ? { thread_ts: message.thread_ts } : {};
  return {
    type: 'block_actions',
    user: { id: c.user.id, username: c.user.name, name: c.user.name, team_id: c.teamId },
    api_app_id: c.appId,
    token: 'twin-verification-token',
    container: { type: 'message', message_ts: message.ts, channel_id: channel, is_ephemeral: false, ...thread },
    trigger_id: `${c.actionTs}.twintrigger`,
    team: { id: c.teamId, domain: 'twin' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: channel, name: channelType(channel) === 'im' ? 'directmessage' : channel.toLowerCase() },
    message,
    state: { values: {} },
    response_url: c.responseUrl,
    actions: [{ ...button, block_id: found?.blockId ?? 'twin-block', action_ts: c.actionTs }],
  };
}

/** The button with `actionId` in `blocks` (actions blocks and section accessories), with its block's id. */
function findButton(blocks: unknown, actionId: string): { button: Record<string, unknown>; blockId: string } | undefined {
  if (!Array.isArray(blocks)) return undefined;
  for (const [i, b] of (blocks as Array<Record<string, unknown>>).entries()) {
    const elements = [...(Array.isArray(b?.elements) ? (b.elements as unknown[]) : []), b?.accessory];
    for (const e of elements as Array<Record<string, unknown> | undefined>) {
      if (e?.type === 'button' && e.action_id === actionId) return { button: e, blockId: typeof b.block_id === 'string' ? b.block_id : `twin-block-${i}` };
    }
  }
  return undefined;
}

/** How a delivery is signed: correctly, with a wrong secret, 10 minutes old, or not at all. */
export type Signing = 'valid' | 'bad' | 'stale' | 'none';

export interface HttpDelivery {
  status: number;
  body: string;
}

/** `v0=` + hex HMAC-SHA256 over `v0:<timestamp>:<raw>`. */
export function slackSignature(secret: string, timestamp: string, raw: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${raw}`).digest('hex')}`;
}

/** POSTs `raw` to `url` like Slack's Events API would, signed as asked. */
export async function postSigned(
  url: string,
  raw: string,
  opts: { secret: string; signing?: Signing; retryNum?: number; retryReason?: string; timeoutMs?: number; contentType?: string; timestampS?: number },
): Promise<HttpDelivery> {
  const signing = opts.signing ?? 'valid';
  const now = opts.timestampS ?? Math.floor(Date.now() / 1000);
  const timestamp = String(signing === 'stale' ? now - 600 : now);
  const headers: Record<string, string> = {
    'content-type': opts.contentType ?? 'application/json',
    'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
  };
  if (signing !== 'none') {
    headers['x-slack-request-timestamp'] = timestamp;
    headers['x-slack-signature'] = slackSignature(signing === 'bad' ? `${opts.secret}-wrong` : opts.secret, timestamp, raw);
  }
  if (opts.retryNum) {
    headers['x-slack-retry-num'] = String(opts.retryNum);
    headers['x-slack-retry-reason'] = opts.retryReason ?? 'http_timeout';
  }
  const res = await fetch(url, { method: 'POST', headers, body: raw, signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000) });
  return { status: res.status, body: await res.text() };
}

export type BotChange = 'posted' | 'updated' | 'deleted';

/**
 * The `message` event Slack sends an app subscribed to `message.*` about the bot's own message:
 * a plain message with `bot_id`/`bot_profile` when posted, subtype `message_changed` (hidden,
 * new message under `message`) when updated, `message_deleted` (hidden, `deleted_ts`) when deleted.
 */
export function botEchoEvent(
  kind: BotChange,
  m: TwinMessage,
  ids: { teamId: string; botUserId: string; botId: string; botName: string; eventTs: string },
  previousText?: string,
): Record<string, unknown> {
  const common = { channel: m.channel, channel_type: channelType(m.channel), team: ids.teamId };
  const thread = m.thread_ts && m.thread_ts !== m.ts ? { thread_ts: m.thread_ts } : {};
  const bot = { user: ids.botUserId, bot_id: ids.botId, app_id: 'A0TWIN', bot_profile: { id: ids.botId, name: ids.botName } };
  if (kind === 'posted') return { type: 'message', ...common, ...bot, ...thread, text: m.text, ts: m.ts, event_ts: m.ts };
  if (kind === 'updated') {
    return {
      type: 'message',
      subtype: 'message_changed',
      hidden: true,
      ...common,
      ts: ids.eventTs,
      message: { type: 'message', ...bot, ...thread, text: m.text, ts: m.ts, edited: { user: ids.botUserId, ts: m.ts } },
      previous_message: { type: 'message', ...bot, text: previousText, ts: m.ts },
    };
  }
  return {
    type: 'message',
    subtype: 'message_deleted',
    hidden: true,
    ...common,
    ts: ids.eventTs,
    deleted_ts: m.ts,
    previous_message: { type: 'message', ...bot, text: m.text, ts: m.ts },
  };
}
