/** What the local web chat allows, for the renderer (through the adapter) and the platform module. */
import type { PlatformLimits } from '../types.js';

/** Default largest file of the local chat, MiB (AGENTBRIDGE_MAX_FILE_MB; the adapter uses the configured value). */
export const DEFAULT_MAX_FILE_MB = 25;

/**
 * The local chat's limits (its own choice): 8,000 characters per posted message; an edit at most
 * every 250 ms; files up to {@link DEFAULT_MAX_FILE_MB} MiB unless AGENTBRIDGE_MAX_FILE_MB says otherwise.
 */
export const LOCAL_LIMITS: PlatformLimits = { maxMessageChars: 8000, minEditIntervalMs: 250, maxFileBytes: DEFAULT_MAX_FILE_MB * 1024 * 1024 };
