/**
 * Card buttons in the local web chat: the zod schemas of a {@link CardAction} (checked when the
 * core posts or edits a card) and of a click (`POST /api/local/actions`, `./api.ts`), and the
 * mapping of the core's {@link ActionReply} to an HTTP answer. Pure.
 *
 * The limits are the contract's (`src/core/interactions.ts`): an id is 1–{@link MAX_ACTION_ID_CHARS}
 * characters of `[A-Za-z0-9:_-]`, a label 1–{@link MAX_ACTION_LABEL_CHARS} characters.
 */
import { z } from 'zod';
import { MAX_ACTION_ID_CHARS, MAX_ACTION_LABEL_CHARS, type ActionReply, type CardAction } from '../../core/interactions.js';

/** Characters of a {@link CardAction.id}. */
const ACTION_ID = /^[A-Za-z0-9:_-]+$/;

/** A {@link CardAction.id}. */
export const actionIdSchema = z
  .string({ error: (iss) => (iss.input === undefined ? 'action is required' : 'action must be a string') })
  .min(1, 'action must not be empty')
  .max(MAX_ACTION_ID_CHARS, `action must be at most ${MAX_ACTION_ID_CHARS} characters`)
  .regex(ACTION_ID, 'action must be characters of A-Z, a-z, 0-9, ":", "_" or "-"');

/** The buttons of one message: ids unique. */
const cardActionsSchema = z
  .array(
    z.strictObject({
      id: actionIdSchema,
      label: z
        .string()
        .min(1, 'a button label must not be empty')
        .max(MAX_ACTION_LABEL_CHARS, `a button label must be at most ${MAX_ACTION_LABEL_CHARS} characters`),
      style: z.enum(['primary', 'danger']).optional(),
    }),
  )
  .refine((list) => new Set(list.map((a) => a.id)).size === list.length, 'button ids must be unique within a message');

/**
 * The buttons the core gave `post`/`edit`, checked, with only the known fields kept.
 * @throws Error naming the problem (a bad id, an empty or too long label, an unknown style, two
 *   buttons with one id): a bug in the caller, so the post/edit fails instead of storing a card
 *   whose buttons cannot be clicked.
 */
export function checkCardActions(actions: readonly CardAction[]): CardAction[] {
  const result = cardActionsSchema.safeParse(actions);
  if (!result.success) throw new Error(`local chat: invalid card buttons: ${result.error.issues[0]?.message ?? 'invalid'}`);
  return result.data.map(({ id, label, style }) => (style ? { id, label, style } : { id, label }));
}

/** The HTTP answer to a click: status and JSON body. */
export interface ActionHttpAnswer {
  status: 200 | 403 | 404 | 409;
  body: { ok: true } | { ok: false; error: string };
}

/**
 * Maps the core's reply to a click to the answer of `POST /api/local/actions`: `ok` → 200
 * `{ok: true}`; `decided` → 409, `forbidden` → 403, `unknown` → 404, each `{ok: false, error: text}`
 * (the text is shown near the card; a missing text gets a generic one).
 */
export function actionAnswer(reply: ActionReply): ActionHttpAnswer {
  if (reply.status === 'ok') return { status: 200, body: { ok: true } };
  const fallback = { decided: 'this was already decided', forbidden: 'you may not decide this', unknown: 'this button is no longer active' }[reply.status];
  const error = reply.text || fallback;
  const status = reply.status === 'decided' ? 409 : reply.status === 'forbidden' ? 403 : 404;
  return { status, body: { ok: false, error } };
}
