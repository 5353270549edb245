/**
 * The display name of an anonymous page (no login: the loopback default; `../auth.ts`). The page
 * asks for it once — on the first visit — keeps it in `localStorage` (`agentbridge.user`) and
 * sends it as `user` with every message and click; the server checks it (`../api.ts`: 1–40
 * characters, no control characters) and the core knows the writer as `local:<name>`. "Change"
 * in the account box asks again. A logged-in page never asks: the server names the writer.
 *
 * Test hooks: `data-testid` = name-prompt, name-input, name-save, name-error.
 */
import { $ } from './dom.js';

/** The `localStorage` key of the name. */
export const NAME_KEY = 'agentbridge.user';
/** Longest name, in characters (the server's limit, `../api.ts`). */
export const MAX_NAME_CHARS = 40;

/** What is wrong with `name` (the server's rule), or null when it is fine. */
export function nameProblem(name: string): string | null {
  const trimmed = name.trim();
  if (trimmed.length === 0) return 'Type a name (1–40 characters).';
  if ([...trimmed].length > MAX_NAME_CHARS) return `That is ${[...trimmed].length} characters; use at most ${MAX_NAME_CHARS}.`;
  // eslint-disable-next-line no-control-regex -- the server refuses control characters
  if (/[\u0000-\u001f\u007f-\u009f]/.test(trimmed)) return 'Use letters, digits, spaces and punctuation only.';
  return null;
}

/** The kept name, or null (first visit, or storage unavailable). */
export function storedName(): string | null {
  try {
    const name = localStorage.getItem(NAME_KEY);
    return name && nameProblem(name) === null ? name.trim() : null;
  } catch {
    return null;
  }
}

/**
 * Shows the name prompt (filled with `current`) and resolves with the name once it is saved
 * (kept in `localStorage` when the browser allows). The prompt stays until a valid name is given.
 */
export function askName(current: string | null): Promise<string> {
  const prompt = $('name-prompt');
  const form = $('name-form', HTMLFormElement);
  const input = $('name-input', HTMLInputElement);
  const error = $('name-error');
  input.value = current ?? '';
  error.textContent = '';
  prompt.hidden = false;
  input.focus();
  input.select();
  return new Promise((resolve) => {
    const onSubmit = (e: Event) => {
      e.preventDefault();
      const problem = nameProblem(input.value);
      if (problem) {
        error.textContent = problem;
        input.focus();
        return;
      }
      const name = input.value.trim();
      try {
        localStorage.setItem(NAME_KEY, name);
      } catch {
        /* kept for this page only */
      }
      form.removeEventListener('submit', onSubmit);
      prompt.hidden = true;
      resolve(name);
    };
    form.addEventListener('submit', onSubmit);
  });
}
