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
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/sandbox.js';
import { useDiscordTwin } from '../helpers/discord.js';

const dt = useDiscordTwin();
const { adapter } = dt;

describe('Discord gateway under a lease', () => {
  it('without the gateway: output works over REST, nothing is taken; startGateway catches up once', async () => {
    const chat = dt.twin.channels['agent-chat']!;
    // A first run (single instance) left cursors behind.
    const first = adapter();
    await first.start(dt.core.sink, dt.core.context);
    dt.twin.userSays({ user: 'Alice', channel: chat, content: 'before' });
    await waitFor(() => dt.core.received.length === 1, 5_000, 'the first message');
    await first.stop();
    expect(dt.twin.connected()).toBe(false);

    const a = adapter();
    await a.start(dt.core.sink, dt.core.context, { gateway: false });
    expect(dt.twin.connected()).toBe(false);
    const connections = dt.twin.connections.length;
    // Outbound without a Gateway session: post (a reply), edit, react, typing, a file, in the channel and in a thread.
    const away = dt.twin.userSays({ user: 'Alice', channel: chat, content: 'said while nobody listens' });
    const posted = await a.post({ platform: 'discord', channel: chat, replyTo: away.id }, 'an answer', { idempotencyKey: 'k1' });
    await a.edit({ platform: 'discord', channel: chat }, posted.ref, 'an edited answer');
    await a.react({ platform: 'discord', channel: chat }, away.id, 'done');
    await a.setStatus({ platform: 'discord', channel: chat }, 'thinking');
    await a.setStatus({ platform: 'discord', channel: chat }, null);
    const thread = dt.twin.createThread(chat, away.id, 'side');
    await a.post({ platform: 'discord', channel: thread }, 'in the thread');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-dgw-'));
    fs.writeFileSync(path.join(dir, 'r.txt'), 'report');
    await a.postFile!({ platform: 'discord', channel: chat }, { path: path.join(dir, 'r.txt'), name: 'r.txt', size: 6 }, { comment: 'the file' });
    expect(dt.twin.botMessages(chat).map((m) => m.content)).toEqual(['an edited answer', 'the file']);
    expect(dt.twin.botMessages(thread).map((m) => m.content)).toEqual(['in the thread']);
    expect(dt.twin.botReactions(away.id)).toEqual(['✅']);
    expect(dt.twin.connections.length).toBe(connections); // no Gateway connection for any of it
    await new Promise((r) => setTimeout(r, 300));
    expect(dt.core.texts()).toEqual(['before']);

    // The lease is taken: the gateway connects and hands over what was said meanwhile, once.
    await Promise.all([a.gateway.start(), a.gateway.start()]);
    expect(dt.twin.connected()).toBe(true);
    expect(dt.twin.connections.length).toBe(connections + 1);
    expect(dt.core.texts()).toEqual(['before', 'said while nobody listens']);
    dt.twin.userSays({ user: 'Alice', channel: chat, content: 'live again' });
    await waitFor(() => dt.core.received.length === 3, 5_000, 'the live message');
    expect(dt.core.texts()).toEqual(['before', 'said while nobody listens', 'live again']);
    expect(new Set(dt.core.received.map((m) => m.eventKey)).size).toBe(3);
  });

  it('stopGateway drops the connection at once; another instance takes over and catches up', async () => {
    const chat = dt.twin.channels['agent-chat']!;
    const a = adapter();
    await a.start(dt.core.sink, dt.core.context);
    dt.twin.userSays({ user: 'Alice', channel: chat, content: 'one' });
    await waitFor(() => dt.core.received.length === 1, 5_000, 'the first message');

    await a.gateway.stop();
    await a.gateway.stop(); // idempotent
    await waitFor(() => !dt.twin.connected(), 2_000, 'the gateway connection closed');
    dt.twin.userSays({ user: 'Bob', channel: chat, content: 'two' });
    dt.twin.userSays({ user: 'Bob', channel: chat, content: 'three' });
    await new Promise((r) => setTimeout(r, 300));
    expect(dt.core.texts()).toEqual(['one']); // not taken by the stopped gateway
    // a still posts (REST only)
    await a.post({ platform: 'discord', channel: chat }, 'still here');
    expect(dt.twin.botMessages(chat).map((m) => m.content)).toEqual(['still here']);

    // Another instance on the same stored state takes the lease.
    const b = adapter();
    await b.start(dt.core.sink, dt.core.context, { gateway: false });
    await b.gateway.start();
    expect(dt.core.texts()).toEqual(['one', 'two', 'three']);
    dt.twin.userSays({ user: 'Alice', channel: chat, content: 'four' });
    await waitFor(() => dt.core.received.length === 4, 5_000, 'the live message on b');
    await new Promise((r) => setTimeout(r, 300));
    expect(dt.core.texts()).toEqual(['one', 'two', 'three', 'four']);

    // And back: b stops, a starts again, catches up what b did not see.
    await b.gateway.stop();
    dt.twin.userSays({ user: 'Alice', channel: chat, content: 'five' });
    await a.gateway.start();
    expect(dt.core.texts()).toEqual(['one', 'two', 'three', 'four', 'five']);
  });
});
