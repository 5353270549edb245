/**
 * discord.js `Message` → {@link DiscordMessageFacts} (plain data for ./normalise.ts), for live
 * messages and for messages fetched during catch-up alike.
 *
 * Display names: the guild nickname, else the global display name, else the username
 * (`GuildMember#displayName` / `User#displayName`). Gateway messages carry the author's guild
 * `member`; messages fetched over REST (catch-up) do not, so there the nickname comes from the
 * member cache when known, else the global name is used. Mentioned users come from the
 * message's `mentions` (which include a pinged replied-to author); `<#id>` channel names from
 * the channel cache.
 */
import type { Channel, Client, Message } from 'discord.js';
import type { DiscordMessageFacts } from './normalise.js';

/** The plain facts of a discord.js message (live or fetched) for {@link normaliseMessage}. */
export function factsOf(message: Message, client: Client): DiscordMessageFacts {
  const channel: Channel | null = message.channel ?? null;
  const threadParentId = channel?.isThread() ? (channel.parentId ?? undefined) : undefined;
  const userNames: Record<string, string> = {};
  for (const [id, user] of message.mentions.users) userNames[id] = message.mentions.members?.get(id)?.displayName ?? user.displayName;
  const channelNames: Record<string, string> = {};
  for (const m of message.content.matchAll(/<#(\d+)>/g)) {
    const c = client.channels.cache.get(m[1]!);
    if (c && 'name' in c && c.name) channelNames[m[1]!] = c.name;
  }
  return {
    id: message.id,
    channelId: message.channelId,
    guildId: message.guildId ?? null,
    ...(threadParentId ? { threadParentId } : {}),
    type: message.type,
    content: message.content ?? '',
    author: { id: message.author.id, displayName: message.member?.displayName ?? message.author.displayName, bot: message.author.bot },
    webhookId: message.webhookId,
    mentionedUserIds: [...message.mentions.users.keys()],
    userNames,
    channelNames,
    // Plain values, checked by ./attachments.ts (a malformed attachment object leaves fields undefined).
    attachments: [...message.attachments.values()].map((a) => ({ id: a.id, name: a.name, contentType: a.contentType, size: a.size, url: a.url })),
    createdTimestamp: message.createdTimestamp,
  };
}
