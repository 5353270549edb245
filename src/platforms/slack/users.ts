/**
 * User id → display name, from Slack's `users.info`, cached.
 *
 * Slack facts: `users.info {user}` → `{ ok, user: { id, name, real_name, profile: { display_name,
 * real_name } } }` (scope `users:read`); `display_name` is what Slack shows and may be empty, then
 * `real_name`, then the legacy `name` handle. `users.info` is Tier 4 (100+/min), but a 429 makes
 * the Web API client wait and pause its queue, so every lookup is bounded by a timeout and
 * falls back to the id: inbound events must be acknowledged within 3 seconds.
 */
import type { Logger } from '../../logger.js';

/** What the directory needs from a Web API client. */
export interface UsersInfoClient {
  users: { info(args: { user: string }): Promise<{ ok?: boolean; user?: SlackUser }> };
}

export interface SlackUser {
  id?: string;
  name?: string;
  real_name?: string;
  profile?: { display_name?: string; real_name?: string };
}

export interface UserDirectoryOptions {
  client: UsersInfoClient;
  logger: Logger;
  /** How long a looked-up name is kept, ms (default 1 h). */
  ttlMs?: number;
  /** Longest wait for one lookup before falling back to the id, ms (default 1,500). */
  timeoutMs?: number;
  /** After a failed lookup, how long the id is used without asking again, ms (default 60 s). */
  failureTtlMs?: number;
  /** Most names kept; the oldest are forgotten first (default 5,000). */
  maxEntries?: number;
  now?: () => number;
}

/** The name Slack shows for a user: display name, else real name, else handle, else the id. */
export function displayNameOf(user: SlackUser | undefined, fallback: string): string {
  const pick = [user?.profile?.display_name, user?.profile?.real_name, user?.real_name, user?.name].find((n) => typeof n === 'string' && n.trim() !== '');
  return pick?.trim() ?? fallback;
}

interface Entry {
  name: string;
  /** ms since the epoch after which the entry is looked up again. */
  expires: number;
}

/** A cache of display names in front of `users.info`. */
export class UserDirectory {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly failureTtlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly opts: UserDirectoryOptions) {
    this.ttlMs = opts.ttlMs ?? 3_600_000;
    this.timeoutMs = opts.timeoutMs ?? 1_500;
    this.failureTtlMs = opts.failureTtlMs ?? 60_000;
    this.maxEntries = opts.maxEntries ?? 5_000;
    this.now = opts.now ?? Date.now;
  }

  /** The cached name of `userId`, without asking Slack (undefined when unknown or expired). */
  cached(userId: string): string | undefined {
    const e = this.entries.get(userId);
    return e && e.expires > this.now() ? e.name : undefined;
  }

  /** The display name of `userId`; never rejects (falls back to the id). */
  async name(userId: string): Promise<string> {
    const hit = this.cached(userId);
    if (hit !== undefined) return hit;
    let pending = this.inflight.get(userId);
    if (!pending) {
      pending = this.fetch(userId).finally(() => this.inflight.delete(userId));
      this.inflight.set(userId, pending);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(userId), this.timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([pending, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Names of several users at once, as a map id → name. */
  async names(userIds: Iterable<string>): Promise<Map<string, string>> {
    const ids = [...new Set(userIds)];
    const names = await Promise.all(ids.map((id) => this.name(id)));
    return new Map(ids.map((id, i) => [id, names[i]!]));
  }

  private async fetch(userId: string): Promise<string> {
    try {
      const res = await this.opts.client.users.info({ user: userId });
      const name = displayNameOf(res.user, userId);
      this.remember(userId, name, this.ttlMs);
      return name;
    } catch (err) {
      this.opts.logger.debug({ err: errorCode(err), user: userId }, 'slack: users.info failed; using the user id as name');
      this.remember(userId, userId, this.failureTtlMs);
      return userId;
    }
  }

  private remember(userId: string, name: string, ttl: number): void {
    this.entries.delete(userId);
    this.entries.set(userId, { name, expires: this.now() + ttl });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}

/** A short description of a Web API error: Slack's `error` code when there is one. */
export function errorCode(err: unknown): string {
  const data = (err as { data?: { error?: unknown } } | undefined)?.data;
  if (data && typeof data.error === 'string') return data.error;
  return err instanceof Error ? err.message : String(err);
}
