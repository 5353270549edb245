/**
 * The Discord twin's check of message components (the `components` of a message create or edit).
 *
 * Discord rules encoded (Discord API docs, "Message Components": Action Row, Button):
 * - `components` is an array of at most 5 action rows (type 1); a row holds 1–5 buttons (type 2).
 * - A button has a `style`: 1 primary, 2 secondary, 3 success, 4 danger (these need a
 *   `custom_id` of 1–100 characters) or 5 link (needs a `url`, has no `custom_id`).
 * - A `label` is at most 80 characters; `custom_id`s are unique within the message.
 * - Anything else is 400 code 50035 "Invalid Form Body" with the path of the bad field.
 */
import { ApiError } from './rest.js';

/** Most action rows per message, and buttons per row. */
export const MAX_ROWS = 5;
export const MAX_BUTTONS_PER_ROW = 5;
export const MAX_CUSTOM_ID = 100;
export const MAX_LABEL = 80;

/**
 * The message's components as given, after checking them.
 * @throws ApiError 400 code 50035 for anything Discord would refuse (see the module comment)
 */
export function validateComponents(value: unknown): unknown[] {
  const bad = (path: string, code: string, message: string): never => {
    throw new ApiError(400, { message: 'Invalid Form Body', code: 50035, errors: { [path]: { _errors: [{ code, message }] } } });
  };
  if (!Array.isArray(value)) return bad('components', 'BASE_TYPE_ARRAY', 'Must be an array.');
  if (value.length > MAX_ROWS) bad('components', 'BASE_TYPE_BAD_LENGTH', `Must be ${MAX_ROWS} or fewer in length.`);
  const ids = new Set<string>();
  value.forEach((row: unknown, r) => {
    const rowObj = row as { type?: unknown; components?: unknown };
    if (rowObj?.type !== 1) bad(`components.${r}.type`, 'COMPONENT_TYPE_INVALID', 'Top-level components must be action rows.');
    const items = rowObj.components;
    if (!Array.isArray(items) || items.length < 1 || items.length > MAX_BUTTONS_PER_ROW)
      bad(`components.${r}.components`, 'BASE_TYPE_BAD_LENGTH', `Must be between 1 and ${MAX_BUTTONS_PER_ROW} in length.`);
    (items as unknown[]).forEach((item: unknown, i) => {
      const path = `components.${r}.components.${i}`;
      const b = item as { type?: unknown; style?: unknown; label?: unknown; custom_id?: unknown; url?: unknown };
      if (b?.type !== 2) bad(`${path}.type`, 'COMPONENT_TYPE_INVALID', 'Only buttons are supported by the twin.');
      if (typeof b.style !== 'number' || b.style < 1 || b.style > 5) bad(`${path}.style`, 'BASE_TYPE_CHOICES', 'Value must be one of (1, 2, 3, 4, 5).');
      if (b.label !== undefined && (typeof b.label !== 'string' || b.label.length > MAX_LABEL))
        bad(`${path}.label`, 'BASE_TYPE_MAX_LENGTH', `Must be ${MAX_LABEL} or fewer in length.`);
      if (b.style === 5) {
        if (typeof b.url !== 'string' || b.custom_id !== undefined)
          bad(`${path}.url`, 'BUTTON_COMPONENT_URL_REQUIRED', 'A link button needs a url and no custom_id.');
        return;
      }
      const id = b.custom_id;
      if (typeof id !== 'string' || id.length < 1 || id.length > MAX_CUSTOM_ID)
        bad(`${path}.custom_id`, 'BASE_TYPE_BAD_LENGTH', `Must be between 1 and ${MAX_CUSTOM_ID} in length.`);
      if (ids.has(id as string)) bad(`${path}.custom_id`, 'COMPONENT_CUSTOM_ID_DUPLICATED', 'Component custom id cannot be duplicated');
      ids.add(id as string);
    });
  });
  return value;
}
