/**
 * `agent <name>`: the agent of this conversation (its next turn starts a session of that agent).
 * The names are the runner registry's (src/runners/registry.ts: claude, codex, gemini, …).
 */
import type { AgentName } from '../../core/agents.js';
import { agentNames, isAgentName } from '../../runners/registry.js';
import { ensureConversation, reply, type Command } from './types.js';

export const agent: Command<AgentName> = {
  name: 'agent',
  admin: false,
  needsConversation: true,
  // A getter: read from the registry when help or a usage message is shown (`<claude|codex|gemini>`).
  get args() {
    return `<${agentNames().join('|')}>`;
  },
  summary: 'switch this conversation to another agent',
  parse(args) {
    const a = args.toLowerCase();
    return isAgentName(a) ? a : undefined;
  },
  async run(ctx, name) {
    const { store, availableAgents, logger } = ctx.deps;
    if (!availableAgents.includes(name)) {
      return reply(
        `${name} is not available on the agentbridge host (not installed or not logged in). An admin can run \`agentbridge doctor\` to see why.`,
        true,
      );
    }
    const id = await ensureConversation(ctx);
    const conv = (await store.conversations.get(id))!;
    const current = conv.agent ?? ctx.deps.defaults.agent;
    if (current === name) return reply(`This conversation already uses ${name}.`, true);
    // Model names belong to one agent: a model chosen for the old agent is dropped.
    await store.conversations.update(id, { agent: name, ...(conv.model ? { model: null } : {}) });
    logger.info({ conversationId: id, by: ctx.caller.qualifiedId, from: current, to: name }, 'conversation agent changed');
    const note = conv.model ? ` The model setting (${conv.model}) was cleared.` : '';
    return reply(
      `🔀 This conversation now uses ${name}${current && current !== name ? ` (was ${current})` : ''}; the next message starts a ${name} session.${note}`,
    );
  },
};
