/**
 * Rendering a post for a platform: {@link PlatformAdapter.render} (platform format, mentions
 * neutralised), then Markdown-aware chunking to the platform's message limit (`core/chunk.ts`:
 * fenced code blocks are closed at a cut and reopened in the next chunk). Pure.
 *
 * The one place text for a platform is prepared: the outbound path (`conversation/outbound.ts`)
 * uses it for every post and notice, and the adapters for the slash-command responses they
 * must send themselves within Slack's and Discord's 3 s (interaction responses, `response_url`).
 */
import { chunkMarkdown } from '../core/chunk.js';
import type { PlatformAdapter } from './types.js';

/**
 * `markdown` rendered for the platform of `adapter` and split into messages of at most
 * `maxChars` characters (default `adapter.limits.maxMessageChars`; JS string length).
 * Returns [] when nothing is left to post (empty or whitespace-only after rendering).
 */
export function renderMessages(adapter: Pick<PlatformAdapter, 'render' | 'limits'>, markdown: string, maxChars = adapter.limits.maxMessageChars): string[] {
  return chunkMarkdown(adapter.render(markdown), maxChars);
}
