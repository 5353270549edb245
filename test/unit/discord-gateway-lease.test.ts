/**
 * The Discord Gateway as cluster mode's leader-only part (docs/ARCHITECTURE.md §10), against the
 * Discord twin: an adapter started without its gateway posts, edits, reacts and sends files over
 * REST and takes no message; `gateway.start()` connects and catches up from the stored cursors
 * what was said while no instance held it (once); `gateway.stop()` drops the connection at once;
 * a second adapter (another instance, same stored state) takes over after the first stopped.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiscordAdapter } from '../../src/platforms/discord/adapter.js';
import { createLogger } from '../../src/logger.js';
import type { InboundMessage } from '../../src/core/messages.js';
import type { AdapterContext } from '../../src/platforms/types.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';
import { waitFor } from '../helpers/sandbox.js';

/** The shared database of the instances: an inbox deduplicating by event key, conversations, state. */
class FakeCore {
  readonly received: InboundMessage[] = [];
  readonly keys = new Set<string>();
  readonly conversations = new Set<string>();
  readonly state = new Map<string, string>();
  readonly sink = async (m: InboundMessage) => {
    if (this.keys.has(m.eventKey)) return 'duplicate' as const;
    this.keys.add(m.eventKey);
    this.conversations.add(m.conversationId);
    this.received.push(m);
    return 'accepted' as const;
  };
  readonly context: AdapterContext = {
    hasConversation: async (id) => this.conversations.has(id),
    isBotMessage: async () => false,
    state: { get: async (k) => this.state.get(k), set: async (k, v) => void this.state.set(k, v) },
  };
  texts(): string[] {
    return this.received.map((m) => m.text);
  }
}

let twin: DiscordTwin;
let core: FakeCore;
const adapters: DiscordAdapter[] = [];
const logger = createLogger('silent');

function adapter(): DiscordAdapter {
  const a = new DiscordAdapter({
    config: { botToken: twin.token, apiUrl: twin.apiUrl, channels: [twin.channels['agent-chat']!], allowBots: false },
    logger,
    typingRepeatMs: 200,
  });
  adapters.push(a);
  return a;
}

beforeEach(async () => {
  twin = await startDiscordTwin();
  core = new FakeCore();
});

afterEach(async () => {
  for (const a of adapters.splice(0)) await a.stop();
  await twin.close();
});

describe('Discord gateway under a lease', () => {
  it('without the gateway: output works over REST, nothing is taken; startGateway catches up once', async () => {
    const chat = twin.channels['agent-chat']!;
    // A first run (single instance) left cursors behind.
    const first = adapter();
    await first.start(core.sink, core.context);
    twin.userSays({ user: 'Alice', channel: chat, content: 'before' });
    await waitFor(() => core.received.length === 1, 5_000, 'the first message');
    await first.stop();
    expect(twin.connected()).toBe(false);

    const a = adapter();
    await a.start(core.sink, core.context, { gateway: false });
    expect(twin.connected()).toBe(false);
    const connections = twin.connections.length;
    // Outbound without a Gateway session: post (a reply), edit, react, typing, a file, in the channel and in a thread.
    const away = twin.userSays({ user: 'Alice', channel: chat, content: 'said while nobody listens' });
    const posted = await a.post({ platform: 'discord', channel: chat, replyTo: away.id }, 'an answer', { idempotencyKey: 'k1' });
    await a.edit({ platform: 'discord', channel: chat }, posted.ref, 'an edited answer');
    await a.react({ platform: 'discord', channel: chat }, away.id, 'done');
    await a.setStatus({ platform: 'discord', channel: chat }, 'thinking');
    await a.setStatus({ platform: 'discord', channel: chat }, null);
    const thread = twin.createThread(chat, away.id, 'side');
    await a.post({ platform: 'discord', channel: thread }, 'in the thread');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-dgw-'));
    fs.writeFileSync(path.join(dir, 'r.txt'), 'report');
    await a.postFile!({ platform: 'discord', channel: chat }, { path: path.join(dir, 'r.txt'), name: 'r.txt', size: 6 }, { comment: 'the file' });
    expect(twin.botMessages(chat).map((m) => m.content)).toEqual(['an edited answer', 'the file']);
    expect(twin.botMessages(thread).map((m) => m.content)).toEqual(['in the thread']);
    expect(twin.botReactions(away.id)).toEqual(['✅']);
    expect(twin.connections.length).toBe(connections); // no Gateway connection for any of it
    await new Promise((r) => setTimeout(r, 300));
    expect(core.texts()).toEqual(['before']);

    // The lease is taken: the gateway connects and hands over what was said meanwhile, once.
    await Promise.all([a.gateway.start(), a.gateway.start()]);
    expect(twin.connected()).toBe(true);
    expect(twin.connections.length).toBe(connections + 1);
    expect(core.texts()).toEqual(['before', 'said while nobody listens']);
    twin.userSays({ user: 'Alice', channel: chat, content: 'live again' });
    await waitFor(() => core.received.length === 3, 5_000, 'the live message');
    expect(core.texts()).toEqual(['before', 'said while nobody listens', 'live again']);
    expect(new Set(core.received.map((m) => m.eventKey)).size).toBe(3);
  });

  it('stopGateway drops the connection at once; another instance takes over and catches up', async () => {
    const chat = twin.channels['agent-chat']!;
    const a = adapter();
    await a.start(core.sink, core.context);
    twin.userSays({ user: 'Alice', channel: chat, content: 'one' });
    await waitFor(() => core.received.length === 1, 5_000, 'the first message');

    await a.gateway.stop();
    await a.gateway.stop(); // idempotent
    await waitFor(() => !twin.connected(), 2_000, 'the gateway connection closed');
    twin.userSays({ user: 'Bob', channel: chat, content: 'two' });
    twin.userSays({ user: 'Bob', channel: chat, content: 'three' });
    await new Promise((r) => setTimeout(r, 300));
    expect(core.texts()).toEqual(['one']); // not taken by the stopped gateway
    // a still posts (REST only)
    await a.post({ platform: 'discord', channel: chat }, 'still here');
    expect(twin.botMessages(chat).map((m) => m.content)).toEqual(['still here']);

    // Another instance on the same stored state takes the lease.
    const b = adapter();
    await b.start(core.sink, core.context, { gateway: false });
    await b.gateway.start();
    expect(core.texts()).toEqual(['one', 'two', 'three']);
    twin.userSays({ user: 'Alice', channel: chat, content: 'four' });
    await waitFor(() => core.received.length === 4, 5_000, 'the live message on b');
    await new Promise((r) => setTimeout(r, 300));
    expect(core.texts()).toEqual(['one', 'two', 'three', 'four']);

    // And back: b stops, a starts again, catches up what b did not see.
    await b.gateway.stop();
    twin.userSays({ user: 'Alice', channel: chat, content: 'five' });
    await a.gateway.start();
    expect(core.texts()).toEqual(['one', 'two', 'three', 'four', 'five']);
  });
});
