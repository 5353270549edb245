/**
 * `status`: the conversation's agent, model, permission mode, agent session (and whether its
 * process is live), running turn, what it waits for (approvals, questions, plans), "always"
 * approvals, queue, turns and cost; in cluster mode the cluster's status after it
 * (`CommandDeps.clusterStatus`: instances, leases, turn queue, blocked conversations).
 */
import { inline } from '../cards.js';
import { formatDuration, noArgs, reply, type Command } from './types.js';

export const status: Command<true> = {
  name: 'status',
  admin: false,
  needsConversation: true,
  args: '',
  summary: 'agent, model, agent session, running turn, queued messages, turns and cost of this conversation',
  parse: noArgs,
  async run(ctx) {
    const { store, router, defaults } = ctx.deps;
    const id = ctx.place.conversationId!;
    const now = (ctx.deps.now ?? Date.now)();
    const conv = await store.conversations.get(id);
    const bridge = router.status(id);
    const agent = conv?.agent ?? defaults.agent;
    const model = conv?.model ?? defaults.model;
    let turns = 0;
    let cost = 0;
    for (const e of conv ? await store.entries.list(id) : []) {
      if (e.role === 'assistant') turns++;
      if (e.costUsd) cost += e.costUsd;
    }
    const live = ctx.deps.sessions?.get(id);
    const waiting = await store.interactions.pending(id);
    const rules = await store.approvalRules.list(id);
    const session = conv?.agentSessionId
      ? `\`${conv.agentSessionId}\`${conv.agentSessionAgent ? ` (${conv.agentSessionAgent})` : ''}`
      : 'none yet (the next turn starts one)';
    const lines = [
      '**Status of this conversation**',
      '',
      `- agent: ${agent ?? 'none available'}${conv?.agent ? '' : ' (default)'}`,
      `- model: ${model ?? "the agent's default"}${conv?.model ? '' : model ? ' (default)' : ''}`,
      `- agent session: ${session}`,
      `- permission mode: ${conv?.permissionMode ?? defaults.permissionMode ?? 'edit'}${conv?.permissionMode ? '' : ' (default)'}`,
      `- live agent process: ${live?.alive ? `running${live.pid ? ` (pid ${live.pid})` : ''}` : 'none (the next turn starts or resumes one)'}`,
      `- workdir: \`${conv?.workdir ?? defaults.workdir}\``,
      `- turn: ${bridge.running ? `running for ${formatDuration(now - (bridge.runningSince ?? now))}` : 'none running'}`,
      `- waiting for: ${waiting.length ? waiting.map((w) => `${w.request.kind === 'approval' ? `approval of \`${inline(w.request.tool, 60)}\`` : w.request.kind} since ${formatDuration(now - w.createdAt)}`).join(', ') : 'nothing'}`,
      `- always approved here: ${rules.length ? rules.map((r) => `\`${inline(r.tool, 60)}${r.ruleKey ? ` ${inline(r.ruleKey, 80)}` : ''}\``).join(', ') : 'nothing'} (\`reset\` clears them)`,
      `- queued messages: ${bridge.queued}`,
      `- turns answered: ${turns} · cost so far: $${cost.toFixed(4)}`,
    ];
    if (ctx.deps.clusterStatus) {
      let cluster: string;
      try {
        cluster = await ctx.deps.clusterStatus();
      } catch (err) {
        ctx.deps.logger.warn({ err }, 'cluster status could not be read for /agent status');
        cluster = '**Cluster**\n\n- status unavailable right now (see the logs)';
      }
      lines.push('', cluster);
    }
    return reply(lines.join('\n'), true);
  },
};
