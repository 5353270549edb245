/** `model <name>`: the model of this conversation's agent (`model default` = the configured default). */
import { ensureConversation, reply, type Command } from './types.js';

/** Model names as the CLIs take them: `claude-sonnet-4-5`, `gpt-5`, `gemini-2.5-pro`, `openai/gpt-4o`, `opus[1m]`. */
const MODEL = /^[A-Za-z0-9][A-Za-z0-9._:/@[\]-]{0,99}$/;

export const model: Command<string | null> = {
  name: 'model',
  admin: false,
  needsConversation: true,
  args: '<name>|default',
  summary: "set the agent's model for this conversation",
  parse(args) {
    if (args === 'default') return null;
    return MODEL.test(args) ? args : undefined;
  },
  async run(ctx, name) {
    const { store, logger, defaults } = ctx.deps;
    const id = await ensureConversation(ctx);
    await store.conversations.update(id, { model: name });
    logger.info({ conversationId: id, by: ctx.caller.qualifiedId, model: name }, 'conversation model changed');
    return reply(
      name === null
        ? `🧠 Model reset to the default (${defaults.model ?? "the agent's own default"}).`
        : `🧠 This conversation now uses the model \`${name}\`.`,
    );
  },
};
