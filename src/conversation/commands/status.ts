/** `status`: the conversation's agent, model, agent session, running turn, queue, turns and cost. */
import { formatDuration, noArgs, reply, type Command } from './types.js';

export const status: Command<true> = {
  name: 'status',
  admin: false,
  needsConversation: true,
  args: '',
  summary: 'agent, model, agent session, running turn, queued messages, turns and cost of this conversation',
  parse: noArgs,
  run(ctx) {
    const { store, router, defaults } = ctx.deps;
    const id = ctx.place.conversationId!;
    const now = (ctx.deps.now ?? Date.now)();
    const conv = store.conversations.get(id);
    const bridge = router.status(id);
    const agent = conv?.agent ?? defaults.agent;
    const model = conv?.model ?? defaults.model;
    let turns = 0;
    let cost = 0;
    for (const e of conv ? store.entries.list(id) : []) {
      if (e.role === 'assistant') turns++;
      if (e.costUsd) cost += e.costUsd;
    }
    const session = conv?.agentSessionId
      ? `\`${conv.agentSessionId}\`${conv.agentSessionAgent ? ` (${conv.agentSessionAgent})` : ''}`
      : 'none yet (the next turn starts one)';
    const lines = [
      '*Status of this conversation*',
      `• agent: ${agent ?? 'none available'}${conv?.agent ? '' : ' (default)'}`,
      `• model: ${model ?? "the agent's default"}${conv?.model ? '' : model ? ' (default)' : ''}`,
      `• agent session: ${session}`,
      `• workdir: \`${conv?.workdir ?? defaults.workdir}\``,
      `• turn: ${bridge.running ? `running for ${formatDuration(now - (bridge.runningSince ?? now))}` : 'none running'}`,
      `• queued messages: ${bridge.queued}`,
      `• turns answered: ${turns} · cost so far: $${cost.toFixed(4)}`,
    ];
    return reply(lines.join('\n'), true);
  },
};
