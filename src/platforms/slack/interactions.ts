/**
 * Button clicks on cards: Slack `block_actions` interaction payloads, validated and turned into
 * the core's {@link ActionRequest}s. Pure, no I/O (the adapter wires them to Bolt and to
 * `AdapterContext.onAction`).
 *
 * Slack rules encoded (api.slack.com / docs.slack.dev "Handling user interaction", "block_actions
 * payload", Socket Mode docs; verified with @slack/bolt 5.1.0 and the twin in
 * test/unit/slack-interactions.test.ts):
 * - a click arrives over Socket Mode as the `payload` of an envelope `{type: "interactive",
 *   envelope_id, payload}`, or over HTTP as a signed `application/x-www-form-urlencoded` POST to
 *   the app's Interactivity Request URL whose single field `payload` is the JSON payload (signed
 *   like every request: `signature.ts`);
 * - the payload is `{type: "block_actions", user: {id, username, name, team_id}, team: {id},
 *   channel: {id, name}, container: {type: "message", message_ts, channel_id, thread_ts?,
 *   is_ephemeral}, message: {ts, thread_ts?, text, blocks, …}, response_url, trigger_id,
 *   actions: [{type: "button", action_id, block_id, value, action_ts, …}]}` — a button click
 *   carries exactly one action;
 * - it must be acknowledged within 3 seconds (an empty ack / HTTP 200), else the person sees an
 *   error; Slack does not redeliver it.
 * The identity of the clicker is the payload's `user.id`, which Slack vouches for (Socket Mode
 * connection or request signature); nothing in the card or the button value is trusted for it.
 */
import { z } from 'zod';
import { parseActionId, type ActionRequest } from '../../core/interactions.js';

/** Slack ids and timestamps as they appear in a payload (bounded, no control characters). */
const id = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^\s\p{Cc}]+$/u);

const action = z.object({
  type: z.string().max(100),
  action_id: z.string().min(1).max(255),
  block_id: z.string().max(255).optional(),
  value: z.string().max(2_000).optional(),
  action_ts: z.string().max(100).optional(),
});

/** The fields of a `block_actions` payload agentbridge reads (others are ignored). */
export const blockActionsPayload = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id, username: z.string().max(255).optional(), name: z.string().max(255).optional(), team_id: id.optional() }),
  team: z.object({ id }).nullish(),
  channel: z.object({ id, name: z.string().max(255).optional() }).nullish(),
  container: z
    .object({
      type: z.string().max(100),
      message_ts: id.optional(),
      channel_id: id.optional(),
      thread_ts: id.optional(),
      is_ephemeral: z.boolean().optional(),
    })
    .optional(),
  message: z.object({ ts: id, thread_ts: id.optional() }).nullish(),
  response_url: z
    .url({ protocol: /^https?$/ })
    .max(2_000)
    .optional(),
  actions: z.array(action).min(1).max(25),
});

export type BlockActionsPayload = z.infer<typeof blockActionsPayload>;

/** The outcome of {@link parseBlockActions}. */
export type ParsedInteraction = { ok: true; payload: BlockActionsPayload } | { ok: false; reason: string };

/** True for a body Bolt would treat as an interaction of type `block_actions` (before validation). */
export function isBlockActionsBody(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as { type?: unknown }).type === 'block_actions';
}

/** Validates a `block_actions` payload; the reason names the first problem (a path, never the payload's values). */
export function parseBlockActions(body: unknown): ParsedInteraction {
  const result = blockActionsPayload.safeParse(body);
  if (result.success) return { ok: true, payload: result.data };
  const issue = result.error.issues[0];
  return { ok: false, reason: issue ? `${issue.path.join('.') || '(payload)'}: ${issue.code}` : 'invalid payload' };
}

/** A click of one of agentbridge's buttons, before the clicker's display name is known. */
export type SlackClick = Omit<ActionRequest, 'userName'>;

/** What {@link clicksOf} found: agentbridge's clicks and the action ids it does not know. */
export interface ClickList {
  clicks: SlackClick[];
  /** Action ids that are not agentbridge's (`parseActionId` fails), or clicks not on a message. */
  ignored: string[];
}

/**
 * The clicks of agentbridge's buttons in a validated payload: one {@link SlackClick} per action
 * whose `action_id` parses with `parseActionId`, on a message (`channel.id` or
 * `container.channel_id`; `message.ts` or `container.message_ts`; thread `message.thread_ts` or
 * `container.thread_ts`). The user is the payload's `user.id`. Pure.
 */
export function clicksOf(payload: BlockActionsPayload): ClickList {
  const channel = payload.channel?.id ?? payload.container?.channel_id;
  const messageRef = payload.message?.ts ?? payload.container?.message_ts;
  const thread = payload.message?.thread_ts ?? payload.container?.thread_ts;
  const out: ClickList = { clicks: [], ignored: [] };
  for (const a of payload.actions) {
    if (!parseActionId(a.action_id) || !channel || !messageRef) {
      out.ignored.push(a.action_id);
      continue;
    }
    out.clicks.push({ platform: 'slack', userId: payload.user.id, channel, ...(thread ? { thread } : {}), messageRef, actionId: a.action_id });
  }
  return out;
}

/** The name to show for the clicker when the directory has none: the payload's `user.name` / `username`, else the id. */
export function payloadUserName(payload: BlockActionsPayload): string {
  return payload.user.name || payload.user.username || payload.user.id;
}
