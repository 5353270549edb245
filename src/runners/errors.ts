/**
 * Turning agent failures into {@link RunError}s. The text a person sees for one is
 * `describeRunError` (./registry.ts, which knows the agents' names).
 */
import type { RunError, RunErrorKind } from './types.js';

/**
 * Classifies a provider/CLI error text (any casing) into an error kind.
 * Rules: authentication words/401/403 → not_authenticated; usage/rate limit, quota, 429,
 * "credit balance" → usage_limit; anything else → api_error.
 */
export function classifyErrorText(text: string): RunErrorKind {
  const t = text.toLowerCase();
  if (
    /\b(401|403)\b|unauthori[sz]ed|authenticat|invalid (x-)?api[ -]?key|api key not valid|not logged in|please run \/login|login required|permission_error/.test(
      t,
    )
  ) {
    return 'not_authenticated';
  }
  if (/\b429\b|rate[ _-]?limit|usage limit|quota|resource_exhausted|too many requests|credit balance|insufficient_quota|limit reached/.test(t)) {
    return 'usage_limit';
  }
  return 'api_error';
}

/** Builds a RunError, trimming the message to one readable paragraph (≤ 500 characters). */
export function runError(kind: RunErrorKind, message: string): RunError {
  const oneLine = message.replace(/\s+/g, ' ').trim();
  return { kind, message: oneLine.length > 500 ? `${oneLine.slice(0, 497)}…` : oneLine };
}

/** The last `lines` non-empty lines of a CLI's stderr, joined by spaces (its error is usually at the end). */
export function stderrTail(text: string, lines = 3): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-lines)
    .join(' ');
}
