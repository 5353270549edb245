/**
 * C0 control characters in user text. Chat text may hold tab (U+0009), line feed (U+000A) and
 * carriage return (U+000D, part of a CRLF line end); every other C0 character (U+0000–U+001F,
 * NUL included) is refused on the local API and stripped from platform messages, so it never
 * reaches an agent's input (a NUL cannot travel in a process argument or most terminals).
 */

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g;

/**
 * Index (UTF-16 code units) of the first forbidden C0 control character in `text`, or -1.
 * Pure.
 */
export function findControlChar(text: string): number {
  CONTROL.lastIndex = 0;
  const m = CONTROL.exec(text);
  return m ? m.index : -1;
}

/** `text` without its forbidden C0 control characters (tab, LF and CR are kept). Pure. */
export function stripControlChars(text: string): string {
  return text.replace(CONTROL, '');
}
