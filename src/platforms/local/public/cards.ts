/**
 * Card buttons of the local chat page: the buttons under a bot message that has `actions`
 * (an approval, question or plan card; `../api.ts`), and what a click does.
 *
 * A click disables the card's buttons, POSTs `/api/local/actions` (through the caller's
 * `send`) and enables them again when the answer is in; a refused click (403 not allowed, 409
 * already decided, 404 gone, …) shows the server's text in the card's error line, never an
 * alert. The card's final state arrives as a `message.updated` event: {@link renderCard} is
 * called again and, once the message has no actions, the buttons are gone.
 *
 * Test hooks: `data-testid` = card-actions, card-action (with `data-action`), card-error.
 */
import { el } from './dom.js';

/** A button as `../api.ts` sends it (`CardAction`). */
export interface ApiAction {
  id: string;
  label: string;
  style?: 'primary' | 'danger';
}

/** What a card needs of a message. */
export interface CardMessage {
  id: string;
  channel: string;
  thread: string;
  /** Omitted (or empty) when the message has no buttons. */
  actions?: ApiAction[];
}

/** Sends a click; rejects with an Error whose message is the server's `error` text. */
export type SendClick = (msg: CardMessage, action: ApiAction) => Promise<unknown>;

/** Ids of the messages with a click in flight: their buttons stay disabled across re-renders. */
const pending = new Set<string>();

/** The card's child element with this class, created (appended to `li`) when missing. */
function part(li: HTMLElement, cls: string, make: () => HTMLElement): HTMLElement {
  const found = li.querySelector<HTMLElement>(':scope > .' + cls);
  if (found) return found;
  const node = make();
  li.appendChild(node);
  return node;
}

function setDisabled(li: HTMLElement, disabled: boolean): void {
  li.querySelectorAll<HTMLButtonElement>(':scope > .msg-actions > button').forEach((b) => {
    b.disabled = disabled;
  });
}

/**
 * Shows `msg`'s buttons in its rendered `<li>` (appended after the body), or removes them when
 * it has none; the error line is kept (it explains the last refused click).
 */
export function renderCard(li: HTMLElement, msg: CardMessage, send: SendClick): void {
  const actions = msg.actions ?? [];
  const row = part(li, 'msg-actions', () => {
    const div = el('div', 'msg-actions');
    div.setAttribute('data-testid', 'card-actions');
    div.setAttribute('role', 'group');
    div.setAttribute('aria-label', 'Actions');
    return div;
  });
  const error = part(li, 'card-error', () => {
    const p = el('p', 'card-error');
    p.setAttribute('data-testid', 'card-error');
    p.setAttribute('role', 'alert');
    return p;
  });
  row.textContent = '';
  row.hidden = actions.length === 0;
  actions.forEach((action) => {
    const button = el('button', action.style ? 'card-button ' + action.style : 'card-button secondary', action.label);
    button.type = 'button';
    button.setAttribute('data-testid', 'card-action');
    button.setAttribute('data-action', action.id);
    button.disabled = pending.has(msg.id);
    button.addEventListener('click', () => {
      if (pending.has(msg.id)) return;
      pending.add(msg.id);
      setDisabled(li, true);
      error.textContent = '';
      void send(msg, action)
        .catch((e: unknown) => {
          error.textContent = e instanceof Error ? e.message : String(e);
        })
        .then(() => {
          pending.delete(msg.id);
          setDisabled(li, false);
        });
    });
    row.appendChild(button);
  });
  // Keep the error line after the buttons.
  li.appendChild(error);
}
