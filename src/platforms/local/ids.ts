/**
 * Identifiers of the local web chat: conversation ids `local:<channel>:<thread>`, channel names,
 * message ids.
 *
 * Message ids sort in creation order as plain strings: `<ms>-<seq>-<rand>`, e.g.
 * `1712345678901-0003-k2x9` — a 13-digit zero-padded ms timestamp, a 4-digit counter within
 * that millisecond, and 4 random base-36 characters so two processes (or a restart within the
 * same millisecond) never collide. A message that starts a thread has the thread's id.
 */
import { randomInt } from 'node:crypto';
import { idPart, InvalidConversationIdError } from '../../core/ids.js';

/** Local channel names: lowercase letters, digits, `_` and `-`, 1–80 characters, not starting with `_`/`-`. */
export const CHANNEL_PATTERN = /^[a-z0-9][a-z0-9_-]{0,79}$/;

/** The parts of a local conversation id. */
export interface LocalConversationRef {
  platform: 'local';
  channel: string;
  thread: string;
}

/** The format of a local conversation id. */
export const LOCAL_CONVERSATION_ID_FORMAT = 'local:<channel>:<thread>';

/**
 * Local web chat conversation. Format `local:<channel>:<thread>`, e.g. `local:general:t1`.
 * @param channel local channel name
 * @param thread local thread id
 * @throws InvalidIdComponentError for an empty part or one with `:`
 */
export function localConversationId(channel: string, thread: string): string {
  return `local:${idPart('local channel', channel)}:${idPart('local thread', thread)}`;
}

/**
 * The parts of a local conversation id (`parts`: after `local:`).
 * @throws InvalidConversationIdError unless there are exactly two
 */
export function parseLocalConversationId(id: string, parts: readonly string[]): LocalConversationRef {
  const [channel, thread] = parts;
  if (parts.length !== 2 || !channel || !thread) throw new InvalidConversationIdError(id, `expected ${LOCAL_CONVERSATION_ID_FORMAT}`);
  return { platform: 'local', channel, thread };
}

/** Shape of the ids this module creates (and the only thread ids the API accepts). */
export const MESSAGE_ID_PATTERN = /^\d{13}-\d{4}-[0-9a-z]{4}$/;

/** The channel every local chat has, even before anything was posted. */
export const DEFAULT_CHANNEL = 'general';

/**
 * Returns a generator of strictly increasing, unique message ids.
 * @param now clock in ms since the epoch (injectable for tests). If the clock goes backwards
 *   the generator keeps counting from the last time it used, so ids stay increasing.
 */
export function createMessageIdGenerator(now: () => number = Date.now): () => string {
  let lastMs = 0;
  let seq = 0;
  return () => {
    const t = Math.floor(now());
    if (t > lastMs) {
      lastMs = t;
      seq = 0;
    } else if (++seq > 9999) {
      lastMs += 1; // more than 10,000 ids in one ms: borrow the next millisecond
      seq = 0;
    }
    let rand = '';
    for (let i = 0; i < 4; i++) rand += randomInt(36).toString(36);
    return `${String(lastMs).padStart(13, '0')}-${String(seq).padStart(4, '0')}-${rand}`;
  };
}
