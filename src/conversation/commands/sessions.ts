/** `sessions` (admin): conversations with a running turn or queued messages, from the router. */
import { formatDuration, noArgs, reply, type Command } from './types.js';

const MAX_LISTED = 25;

export const sessions: Command<true> = {
  name: 'sessions',
  admin: true,
  needsConversation: false,
  args: '',
  summary: 'active conversations and running turns',
  parse: noArgs,
  async run(ctx) {
    const { router, store, defaults } = ctx.deps;
    const now = (ctx.deps.now ?? Date.now)();
    const active = router.active().sort((a, b) => (a.runningSince ?? Infinity) - (b.runningSince ?? Infinity));
    if (!active.length) return reply('No active conversations: no turn is running and nothing is queued.', true);
    const running = active.filter((s) => s.running).length;
    const lines = [`**Active conversations**: ${active.length} (${running} running turn${running === 1 ? '' : 's'})`, ''];
    for (const s of active.slice(0, MAX_LISTED)) {
      const conv = await store.conversations.get(s.conversationId);
      const agent = conv?.agent ?? defaults.agent ?? '-';
      const state = s.running ? `running for ${formatDuration(now - (s.runningSince ?? now))}` : 'waiting for a turn slot';
      lines.push(`- \`${s.conversationId}\` — ${agent} — ${state}${s.queued ? ` — ${s.queued} queued` : ''}`);
    }
    if (active.length > MAX_LISTED) lines.push('', `… and ${active.length - MAX_LISTED} more`);
    return reply(lines.join('\n'), true);
  },
};
