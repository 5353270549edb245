/**
 * Discord message components for cards, and button clicks read back. Pure functions.
 *
 * Discord rules encoded (Discord API docs, "Message Components" — Action Rows and Buttons):
 * - Buttons live in action rows (component type 1); a row holds at most
 *   {@link MAX_BUTTONS_PER_ROW} buttons (type 2), a message at most {@link MAX_ACTION_ROWS} rows.
 * - A button that sends an interaction has a `custom_id` of 1–{@link MAX_CUSTOM_ID_CHARS}
 *   characters, unique within the message, and a `label` of at most
 *   {@link MAX_BUTTON_LABEL_CHARS} characters.
 * - Styles: 1 Primary (blurple), 2 Secondary (grey), 3 Success (green), 4 Danger (red), 5 Link.
 *   A card's `primary` is 1, `danger` 4, a plain button 2.
 * - A message edit with `components: []` removes every component; an edit without the field
 *   keeps them.
 * - A click arrives as an interaction of type 3 (MESSAGE_COMPONENT) with `data.custom_id`, the
 *   `message` the button is on, and `member.user` in a guild or `user` in a DM (Discord API docs,
 *   "Interactions — Interaction Object").
 */
import { z } from 'zod';
import { ButtonStyle, ComponentType, type APIActionRowComponent, type APIButtonComponentWithCustomId } from 'discord.js';
import type { ActionRequest, CardAction } from '../../core/interactions.js';

/** Most buttons in one action row (Discord). */
export const MAX_BUTTONS_PER_ROW = 5;
/** Most action rows on one message (Discord). */
export const MAX_ACTION_ROWS = 5;
/** Longest button `custom_id`, characters (Discord). */
export const MAX_CUSTOM_ID_CHARS = 100;
/** Longest button label, characters (Discord). */
export const MAX_BUTTON_LABEL_CHARS = 80;

/** An action row of buttons as sent in a message's `components`. */
export type ButtonRow = APIActionRowComponent<APIButtonComponentWithCustomId>;

/**
 * The action rows for `actions`, in order, {@link MAX_BUTTONS_PER_ROW} per row. A label over
 * {@link MAX_BUTTON_LABEL_CHARS} characters is cut to fit, ending in `…`. `[]` for no actions
 * (which, on an edit, removes the buttons).
 * @throws Error for more than 25 actions, an empty label, or an id that is empty, longer than
 *   {@link MAX_CUSTOM_ID_CHARS} characters or repeated (Discord would refuse the message)
 */
export function buttonRows(actions: readonly CardAction[]): ButtonRow[] {
  const max = MAX_ACTION_ROWS * MAX_BUTTONS_PER_ROW;
  if (actions.length > max) throw new Error(`discord: at most ${max} buttons fit on a message, got ${actions.length}`);
  const ids = new Set<string>();
  const buttons = actions.map((a): APIButtonComponentWithCustomId => {
    if (a.id.length < 1 || a.id.length > MAX_CUSTOM_ID_CHARS)
      throw new Error(`discord: button id must be 1–${MAX_CUSTOM_ID_CHARS} characters: "${a.id.slice(0, 40)}…"`);
    if (ids.has(a.id)) throw new Error(`discord: button id "${a.id}" is used twice on one message`);
    ids.add(a.id);
    if (!a.label) throw new Error(`discord: button "${a.id}" has no label`);
    const label = a.label.length > MAX_BUTTON_LABEL_CHARS ? `${a.label.slice(0, MAX_BUTTON_LABEL_CHARS - 1)}…` : a.label;
    return { type: ComponentType.Button, style: buttonStyle(a.style), label, custom_id: a.id };
  });
  const rows: ButtonRow[] = [];
  for (let i = 0; i < buttons.length; i += MAX_BUTTONS_PER_ROW)
    rows.push({ type: ComponentType.ActionRow, components: buttons.slice(i, i + MAX_BUTTONS_PER_ROW) });
  return rows;
}

/** Discord button style of a card action style: primary → 1, danger → 4, plain → 2 (secondary). */
export function buttonStyle(style: CardAction['style']): ButtonStyle.Primary | ButtonStyle.Danger | ButtonStyle.Secondary {
  if (style === 'primary') return ButtonStyle.Primary;
  if (style === 'danger') return ButtonStyle.Danger;
  return ButtonStyle.Secondary;
}

const snowflake = z.string().regex(/^\d{5,25}$/, 'a snowflake');

/**
 * A button click as read from the interaction (discord.js `ButtonInteraction`, itself built from
 * the Gateway's INTERACTION_CREATE): who clicked which button on which message, where.
 */
export const ButtonClickSchema = z.object({
  /** Interaction snowflake. */
  interactionId: snowflake,
  /** The button's `custom_id`. */
  customId: z.string().min(1).max(MAX_CUSTOM_ID_CHARS),
  /** The clicker: `member.user.id` in a guild, `user.id` in a DM. */
  userId: snowflake,
  /** Server nickname, else global display name, else username. */
  userName: z.string().min(1).max(100),
  /** Guild snowflake; null in a DM. */
  guildId: snowflake.nullable(),
  /** Where the message is: a text channel, a thread (its own id) or a DM channel. */
  channelId: snowflake,
  /** Set when `channelId` is a thread: its parent channel. */
  threadParentId: snowflake.optional(),
  /** The message the button is on. */
  messageId: snowflake,
});

export type ButtonClick = z.infer<typeof ButtonClickSchema>;

/** The click, or the zod issues (as one line) when a field is missing or malformed. */
export function parseButtonClick(facts: unknown): { ok: true; click: ButtonClick } | { ok: false; error: string } {
  const r = ButtonClickSchema.safeParse(facts);
  if (r.success) return { ok: true, click: r.data };
  return { ok: false, error: issues(r.error) };
}

const looseUser = z.looseObject({ id: snowflake });
/** The parts of a Gateway INTERACTION_CREATE that discord.js reads without checking (it throws on a payload without them). */
const RawInteractionSchema = z
  .looseObject({
    id: snowflake,
    token: z.string().min(1),
    type: z.number().int(),
    data: z.looseObject({}).optional(),
    user: looseUser.optional(),
    member: z.looseObject({ user: looseUser }).optional(),
  })
  .refine((d) => d.user !== undefined || d.member !== undefined, { message: 'neither user nor member.user', path: ['user'] })
  .refine((d) => d.type < 2 || d.data !== undefined, { message: 'no data', path: ['data'] });
/** …and of a component (type 3) one: the component and the message it is on. */
const RawComponentSchema = z.looseObject({
  data: z.looseObject({ custom_id: z.string().min(1).max(MAX_CUSTOM_ID_CHARS), component_type: z.number().int() }),
  message: z.looseObject({ id: snowflake, channel_id: snowflake }),
});

/**
 * Checks a raw Gateway INTERACTION_CREATE payload (`d`) before discord.js builds an
 * `Interaction` from it: an id and token, a `user` or `member.user` with an id, `data` (types ≥ 2),
 * and for a component click (type 3) `data.custom_id` (≤ 100 characters), `data.component_type`
 * and the `message` (id, channel_id). Returns the zod issues as one line when something is off.
 */
export function checkRawInteraction(d: unknown): { ok: true } | { ok: false; error: string } {
  const base = RawInteractionSchema.safeParse(d);
  if (!base.success) return { ok: false, error: issues(base.error) };
  if (base.data.type !== 3) return { ok: true };
  const component = RawComponentSchema.safeParse(d);
  return component.success ? { ok: true } : { ok: false, error: issues(component.error) };
}

function issues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/**
 * The core's {@link ActionRequest} for a click. Channel and thread as for inbound messages
 * (./normalise.ts): in a thread `channel` is the parent channel and `thread` the thread's id;
 * elsewhere `channel` is the channel (or DM channel) and there is no thread.
 */
export function actionRequestOf(click: ButtonClick): ActionRequest {
  const thread = click.threadParentId ? click.channelId : undefined;
  return {
    platform: 'discord',
    userId: click.userId,
    userName: click.userName,
    channel: click.threadParentId ?? click.channelId,
    ...(thread ? { thread } : {}),
    messageRef: click.messageId,
    actionId: click.customId,
  };
}
