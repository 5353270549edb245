/** Small text helpers for the CLI's help texts. Pure. */

/** `a, b and c` (or `a, b or c` with `conjunction` `or`); one item alone; empty for none. */
export function listText(items: readonly string[], conjunction: 'and' | 'or'): string {
  return items.length > 1 ? `${items.slice(0, -1).join(', ')} ${conjunction} ${items.at(-1)}` : (items[0] ?? '');
}
