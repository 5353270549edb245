/** What the local web chat allows, for the renderer (through the adapter) and the platform module. */
import type { PlatformLimits } from '../types.js';

/** The local chat's limits (its own choice): 8,000 characters per posted message; an edit at most every 250 ms. */
export const LOCAL_LIMITS: PlatformLimits = { maxMessageChars: 8000, minEditIntervalMs: 250 };
