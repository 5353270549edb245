/** What Slack allows, for the renderer (through the adapter) and the platform module. */
import type { PlatformLimits } from '../types.js';

/**
 * Slack's limits: a posted message is cut at 3,900 characters (Slack accepts up to 40,000 in
 * `text` but shows long messages poorly, so answers are chunked well below it); a message is
 * edited at most once a second.
 */
export const SLACK_LIMITS: PlatformLimits = { maxMessageChars: 3900, minEditIntervalMs: 1000 };
