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
 * same way (over the raw form body).
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
