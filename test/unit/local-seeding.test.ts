/**
 * The local chat's inbound side of thread seeding: the first reply in a thread whose root the bot
 * posted (a cron post) carries `seedFrom` = that post's posted-message key, like Slack and Discord.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { InboundMessage } from '../../src/core/messages.js';
import { createHttpServer } from '../../src/http/server.js';
import { LocalAdapter } from '../../src/platforms/local/adapter.js';
import type { AdapterContext } from '../../src/platforms/types.js';
import { MemoryLocalMessages } from '../helpers/memory-local-messages.js';

async function setup(known: Set<string>) {
  const logger = pino({ level: 'silent' });
  const adapter = new LocalAdapter({ repo: new MemoryLocalMessages(), http: createHttpServer({ host: '127.0.0.1', port: 0, logger }), logger });
  const received: InboundMessage[] = [];
  const posted = new Set<string>();
  const context: AdapterContext = {
    hasConversation: async (id) => known.has(id),
    isBotMessage: async (key) => posted.has(key),
    state: { get: async () => undefined, set: async () => undefined },
  };
  await adapter.start(async (m) => {
    received.push(m);
    known.add(m.conversationId);
    return 'accepted';
  }, context);
  return { adapter, received, posted };
}

describe('local chat thread seeding (inbound)', () => {
  it('the first reply under a bot post carries seedFrom; later replies and other threads do not', async () => {
    const { adapter, received, posted } = await setup(new Set());
    // A cron post: a top-level bot message, recorded as posted by the outbox.
    const post = await adapter.post({ platform: 'local', channel: 'ops' }, 'echo: the ops status');
    posted.add(`local:ops:${post.ref}`);

    await adapter.receive({ channel: 'ops', text: 'why?', user: 'alice', thread: post.ref });
    expect(received[0]!.conversationId).toBe(`local:ops:${post.ref}`);
    expect(received[0]!.seedFrom).toBe(`local:ops:${post.ref}`);

    // The conversation exists now: the next reply continues it, unseeded.
    await adapter.receive({ channel: 'ops', text: 'and then?', user: 'alice', thread: post.ref });
    expect(received[1]!.seedFrom).toBeUndefined();

    // A thread a person started, and a reply in it, are not seeded.
    const own = await adapter.receive({ channel: 'ops', text: 'hello', user: 'bob' });
    expect(received[2]!.seedFrom).toBeUndefined();
    await adapter.receive({ channel: 'ops', text: 'more', user: 'bob', thread: own.thread });
    expect(received[3]!.seedFrom).toBeUndefined();
  });

  it('a bot post the store does not know as posted (no posted-message row) seeds nothing', async () => {
    const { adapter, received } = await setup(new Set());
    const post = await adapter.post({ platform: 'local', channel: 'ops' }, 'a notice');
    await adapter.receive({ channel: 'ops', text: 'reply', user: 'alice', thread: post.ref });
    expect(received[0]!.seedFrom).toBeUndefined();
  });
});
