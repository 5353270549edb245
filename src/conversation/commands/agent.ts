/** `agent <claude|codex|gemini>`: the agent of this conversation (its next turn starts a session of that agent). */
import type { AgentName } from '../../core/agents.js';
import { ensureConversation, reply, type Command } from './types.js';

const AGENTS: readonly AgentName[] = ['claude', 'codex', 'gemini'];

export const agent: Command<AgentName> = {
  name: 'agent',
  admin: false,
  needsConversation: true,
  args: '<claude|codex|gemini>',
  summary: 'switch this conversation to another agent',
  parse(args) {
    const a = args.toLowerCase();
    return (AGENTS as readonly string[]).includes(a) ? (a as AgentName) : undefined;
  },
  run(ctx, name) {
    const { store, availableAgents, logger } = ctx.deps;
    if (!availableAgents.includes(name)) {
      return reply(`${name} is not available on the agentbridge host (not installed or not logged in). An admin can run \`agentbridge doctor\` to see why.`, true);
    }
    const id = ensureConversation(ctx);
    const conv = store.conversations.get(id)!;
    const current = conv.agent ?? ctx.deps.defaults.agent;
    if (current === name) return reply(`This conversation already uses ${name}.`, true);
    // Model names belong to one agent: a model chosen for the old agent is dropped.
    store.conversations.update(id, { agent: name, ...(conv.model ? { model: null } : {}) });
    logger.info({ conversationId: id, by: ctx.caller.qualifiedId, from: current, to: name }, 'conversation agent changed');
    const note = conv.model ? ` The model setting (${conv.model}) was cleared.` : '';
    return reply(`🔀 This conversation now uses ${name}${current && current !== name ? ` (was ${current})` : ''}; the next message starts a ${name} session.${note}`);
  },
};
