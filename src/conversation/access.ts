/**
 * Access control: who may talk to the agent, where, and who is an admin.
 *
 * Ids are platform-qualified (`slack:U123`, `discord:456`, `local:alice`) so the same raw id on
 * two platforms never grants access by accident. Empty allow-lists mean "everyone" / "every
 * channel the bot is in". Admins are always allowed as users (the channel list still applies).
 * Messages from the scheduler (`origin: 'scheduler'`) are trusted — set up by an allowed user or
 * an admin — and never reach this policy (the command service lets them through first).
 *
 * Every decision is logged with the user and channel ids: refusals at info, ordinary allows at
 * debug (allowed admin commands are logged at info by the command service).
 */
import type { AccessConfig } from '../core/config.js';
import type { Logger } from '../logger.js';
import type { PlatformName } from '../core/messages.js';

/** Who is asking, where. `userId`/`channel` are the platform's own ids (not qualified). */
export interface AccessSubject {
  platform: PlatformName;
  userId: string;
  channel: string;
  /** Other channel ids that identify the same place (e.g. a Discord thread's own id besides its parent channel). */
  alsoChannels?: string[];
}

export type AccessDecision = { allowed: true; admin: boolean } | { allowed: false; admin: boolean; reason: 'user' | 'channel' };

/** `platform:id`. */
export function qualify(platform: PlatformName, id: string): string {
  return `${platform}:${id}`;
}

/** The polite refusal a disallowed person sees (once per conversation). */
export function refusalText(reason: 'user' | 'channel'): string {
  return reason === 'channel'
    ? "Sorry, agentbridge isn't enabled in this channel, so I can't pass messages from here to the agent. An agentbridge admin can enable it."
    : "Sorry, I can only work with people this agentbridge is set up for, so I can't pass your messages to the agent. An agentbridge admin can give you access.";
}

export class AccessPolicy {
  private readonly admins: Set<string>;
  private readonly users: Set<string>;
  private readonly channels: Set<string>;

  /**
   * @param isExtraAdmin admins besides `config.admins`, asked with a qualified id (agentbridge
   *   passes local users added with `agentbridge users add NAME --admin`, who log in).
   */
  constructor(
    config: AccessConfig,
    private readonly logger: Logger,
    private readonly isExtraAdmin: (qualifiedId: string) => Promise<boolean> = () => Promise.resolve(false),
  ) {
    this.admins = new Set(config.admins);
    this.users = new Set(config.allowedUsers);
    this.channels = new Set(config.allowedChannels);
  }

  /** True when the user is an admin (AGENTBRIDGE_ADMINS, or an extra admin such as a local `--admin` user). */
  async isAdmin(platform: PlatformName, userId: string): Promise<boolean> {
    const id = qualify(platform, userId);
    return this.admins.has(id) || (await this.isExtraAdmin(id));
  }

  /** Decides without logging. Rejects when `isExtraAdmin` does (e.g. the store cannot be read). */
  async decide(s: AccessSubject): Promise<AccessDecision> {
    const admin = await this.isAdmin(s.platform, s.userId);
    if (this.channels.size > 0 && ![s.channel, ...(s.alsoChannels ?? [])].some((c) => this.channels.has(qualify(s.platform, c)))) {
      return { allowed: false, admin, reason: 'channel' };
    }
    if (!admin && this.users.size > 0 && !this.users.has(qualify(s.platform, s.userId))) return { allowed: false, admin, reason: 'user' };
    return { allowed: true, admin };
  }

  /** Decides and logs the decision (refusal: info; allow: debug). `what` names the request, e.g. "message". */
  async check(s: AccessSubject, what: string, extra: Record<string, unknown> = {}): Promise<AccessDecision> {
    const d = await this.decide(s);
    const fields = { platform: s.platform, userId: s.userId, channel: s.channel, what, ...extra };
    if (d.allowed) this.logger.debug({ ...fields, admin: d.admin }, 'access allowed');
    else this.logger.info({ ...fields, reason: d.reason }, d.reason === 'channel' ? 'access refused: channel not allowed' : 'access refused: user not allowed');
    return d;
  }
}
