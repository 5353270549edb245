/** What Discord allows, for the renderer (through the adapter) and the platform module. */
import type { PlatformLimits } from '../types.js';

/** Discord's limits: 2,000 characters per message (its `content` limit); an edit at most every 1.5 s. */
export const DISCORD_LIMITS: PlatformLimits = { maxMessageChars: 2000, minEditIntervalMs: 1500 };
