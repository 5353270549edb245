/** `help`: the commands the caller can use, with their arguments. */
import { noArgs, reply, type Command } from './types.js';

/** Usage line of a command: `/agent model <name>|default`. */
export function usageLine(c: Command): string {
  return `\`/agent ${c.name}${c.args ? ` ${c.args}` : ''}\``;
}

/** The help command over `all()` (the registry, given lazily). */
export function makeHelp(all: () => Command[]): Command<true> {
  return {
    name: 'help',
    admin: false,
    needsConversation: false,
    args: '',
    summary: 'this list',
    parse: noArgs,
    run(ctx) {
      const list = all();
      const lines = ['**agentbridge commands** — type them as `/agent <command>`, or mention me in a thread: `@agentbridge stop`.', ''];
      for (const c of list.filter((c) => !c.admin)) lines.push(`- ${usageLine(c)} — ${c.summary}`);
      if (ctx.caller.admin) {
        lines.push('', '**Admin commands**', '');
        for (const c of list.filter((c) => c.admin)) {
          lines.push(`- ${usageLine(c)} — ${c.summary}`);
          if (c.details) lines.push(...c.details.split('\n').map((l) => `    ${l}`));
        }
      }
      return reply(lines.join('\n'), true);
    },
  };
}
