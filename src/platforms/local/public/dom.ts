/** DOM helpers of the local chat page. */

/**
 * The page's element with this id, checked to be of `type` (e.g. `HTMLTextAreaElement`).
 * @throws Error when there is no such element or it is of another type (a mismatch between index.html and the code).
 */
export function $<T extends HTMLElement = HTMLElement>(id: string, type?: new () => T): T {
  const node = document.getElementById(id);
  if (!node || !(node instanceof (type ?? HTMLElement))) throw new Error(`page element #${id} is missing or not a ${type?.name ?? 'HTMLElement'}`);
  return node as T;
}

/** A new `<tag>` element with an optional class and text (set as text, never parsed as HTML). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string | null, text?: string | null): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}
