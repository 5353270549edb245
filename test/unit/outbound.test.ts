/**
 * The one outbound path (src/conversation/outbound.ts): say() renders with the platform
 * adapter (the real Slack, Discord and local `render()`), chunks to the platform's limit with
 * code blocks intact, writes the chunks to the outbox once (with the caller's bookkeeping in the
 * same transaction), delivers them once, and records the posted messages with their kind.
 * Every case runs on both backends (SQLite in memory, PostgreSQL).
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { OutboxDelivery } from '../../src/conversation/outbox.js';
import { EMPTY_TEXT, Outbound, placeKey } from '../../src/conversation/outbound.js';
import type { PlatformName, ReplyTarget } from '../../src/core/messages.js';
import { createHttpServer } from '../../src/http/server.js';
import { DiscordAdapter } from '../../src/platforms/discord/adapter.js';
import { LocalAdapter } from '../../src/platforms/local/adapter.js';
import { SlackAdapter } from '../../src/platforms/slack/adapter.js';
import type { PlatformAdapter, PostOptions } from '../../src/platforms/types.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import { BACKENDS, openTestStore } from '../helpers/backends.js';
import { MemoryLocalMessages } from '../helpers/memory-local-messages.js';

const logger = pino({ level: 'silent' });
const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** The real adapters, not started: their render() and limits are pure. */
function realAdapter(platform: PlatformName): PlatformAdapter {
  if (platform === 'slack')
    return new SlackAdapter({ config: { botToken: 'xoxb-test', appToken: 'xapp-test', apiUrl: 'http://127.0.0.1:9/api/', allowBots: false }, logger });
  if (platform === 'discord') return new DiscordAdapter({ config: { botToken: 'test', channels: [], allowBots: false }, logger });
  return new LocalAdapter({ repo: new MemoryLocalMessages(), http: createHttpServer({ host: '127.0.0.1', port: 0, logger }), logger });
}

interface Sent {
  op: 'post' | 'edit';
  target: ReplyTarget;
  text: string;
  ref: string;
  opts?: PostOptions;
}

/** A platform that records what it is sent, rendering like the real adapter of `platform`. */
function recordingPlatform(platform: PlatformName, maxMessageChars?: number) {
  const real = realAdapter(platform);
  const sent: Sent[] = [];
  let n = 0;
  const adapter: PlatformAdapter = {
    name: platform,
    limits: { ...real.limits, ...(maxMessageChars ? { maxMessageChars } : {}) },
    start: async () => {},
    stop: async () => {},
    post: async (target, text, opts) => {
      const ref = `m${++n}`;
      sent.push({ op: 'post', target, text, ref, ...(opts ? { opts } : {}) });
      return { ref, channel: target.channel };
    },
    edit: async (target, ref, text) => {
      sent.push({ op: 'edit', target, text, ref });
    },
    render: (markdown) => real.render(markdown),
    neutraliseMentions: (text) => real.neutraliseMentions(text),
  };
  return { adapter, sent };
}

async function worldOn(backend: Backend, platform: PlatformName, maxMessageChars?: number) {
  const { store, cleanup } = await openTestStore(backend, { shared: true });
  cleanups.push(cleanup);
  const { adapter, sent } = recordingPlatform(platform, maxMessageChars);
  const outbox = new OutboxDelivery({ store, adapters: (p) => (p === platform ? adapter : undefined), logger, retryDelaysMs: [20] });
  const replyTarget: ReplyTarget = {
    platform,
    channel: platform === 'discord' ? '112233445566778899' : platform === 'slack' ? 'C0GEN' : 'general',
    thread: platform === 'discord' ? '998877665544332211' : 't1',
  };
  const conversationId = `${platform}:test:t1`;
  await store.conversations.ensure({ id: conversationId, platform, channel: replyTarget.channel, thread: replyTarget.thread ?? null });
  return { store, outbox, outbound: new Outbound(outbox), sent, to: { conversationId, replyTarget } };
}

const PINGS = 'Heads up <!channel> <!here> <!everyone> <!subteam^S1|@devs> <@U0ALICE> @here @channel @everyone';

describe.each(BACKENDS)('%s', (backend) => {
  const world = (platform: PlatformName, maxMessageChars?: number) => worldOn(backend, platform, maxMessageChars);

  describe('Outbound.say', () => {
    it('Slack: renders mrkdwn and nothing in the posted text can ping', async () => {
      const w = await world('slack');
      await w.outbound.say(w.to, `**Done.** ${PINGS}`);
      expect(w.sent).toHaveLength(1);
      const text = w.sent[0]!.text;
      expect(text).toContain('*Done.*'); // **bold** → *bold*
      expect(text).not.toMatch(/<[!@]/); // no <!channel>, <!here>, <!everyone>, <!subteam^…>, <@U…>
      expect(text).not.toMatch(/(^|\s)@(here|channel|everyone)\b/);
    });

    it('Discord: Markdown kept, @everyone and @here broken outside code, code untouched', async () => {
      const w = await world('discord');
      await w.outbound.say(w.to, '**Heads up** @everyone and @here: <@123456789012345678>\n```sh\necho @everyone\n```');
      const text = w.sent[0]!.text;
      expect(text).toBe('**Heads up** @\u200Beveryone and @\u200Bhere: <@123456789012345678>\n```sh\necho @everyone\n```');
    });

    it('local chat: Markdown posted unchanged (nothing there pings)', async () => {
      const w = await world('local');
      await w.outbound.say(w.to, '**hi** @here <@U1>');
      expect(w.sent.map((s) => s.text)).toEqual(['**hi** @here <@U1>']);
    });

    it('chunks at the platform limit with code blocks closed and reopened', async () => {
      const w = await world('local', 120);
      const code = Array.from({ length: 12 }, (_, i) => `line ${i} of the code`).join('\n');
      await w.outbound.say(w.to, `Intro.\n\n\`\`\`ts\n${code}\n\`\`\`\n\nOutro.`);
      const texts = w.sent.map((s) => s.text);
      expect(texts.length).toBeGreaterThan(1);
      for (const t of texts) expect(t.length).toBeLessThanOrEqual(120);
      // every chunk that holds code has balanced fences
      for (const t of texts.filter((x) => x.includes('line '))) expect((t.match(/^```/gm) ?? []).length % 2).toBe(0);
      expect(texts.join('\n')).toContain('Outro.');
      expect(texts.join('\n').match(/line \d+ of the code/g)).toHaveLength(12);
    });

    it('enqueues once, delivers once, and records the kind: answer with its entry, notice by default', async () => {
      const w = await world('local');
      const entry = await w.store.entries.append({
        conversationId: w.to.conversationId,
        role: 'assistant',
        author: null,
        text: 'the answer',
        agent: 'claude',
        model: null,
        usage: null,
        costUsd: null,
      });
      const rows = await w.outbound.say(w.to, 'the answer', { kind: 'answer', sessionEntryId: entry.id });
      expect(rows).toHaveLength(1);
      expect(rows[0]!.target.kind).toBe('answer');
      await w.outbound.say(w.to, 'a notice');
      await w.outbound.deliver(w.to.conversationId); // nothing pending: nothing posted again
      expect(w.sent.map((s) => s.text)).toEqual(['the answer', 'a notice']);
      expect(await w.outbox.pendingCount()).toBe(0);
      const posted = await w.store.postedMessages.listForConversation(w.to.conversationId);
      expect(posted.map((p) => [p.assistantText, p.kind, p.sessionEntryId])).toEqual([
        ['the answer', 'answer', entry.id],
        ['a notice', 'notice', null],
      ]);
      // every post carries the row's idempotency key (shown once even when retried)
      expect(w.sent.every((s) => /^ab-o\d+-/.test(s.opts?.idempotencyKey ?? ''))).toBe(true);
    });

    it('alsoInTx commits with the rows, or neither is written', async () => {
      const w = await world('local');
      await w.outbound.say(w.to, 'with bookkeeping', { alsoInTx: (tx) => tx.platformState.set('k', 'done') });
      expect(await w.store.platformState.get('k')).toBe('done');
      await expect(
        w.outbound.enqueue(w.to, 'rolled back', {
          alsoInTx: async (tx) => {
            await tx.platformState.set('k', 'changed');
            throw new Error('bookkeeping failed');
          },
        }),
      ).rejects.toThrow('bookkeeping failed');
      expect(await w.store.platformState.get('k')).toBe('done');
      expect(await w.outbox.pendingCount()).toBe(0);
      expect(w.sent.map((s) => s.text)).toEqual(['with bookkeeping']);
    });

    it('editRef: the first chunk edits that message, the rest are posted', async () => {
      const w = await world('local', 40);
      await w.outbound.say(w.to, 'first part of the answer.\n\nsecond part of the answer.', { editRef: 'progress1', kind: 'answer' });
      expect(w.sent.map((s) => [s.op, s.ref])).toEqual([
        ['edit', 'progress1'],
        ['post', 'm1'],
      ]);
    });

    it('a notice outside any conversation (no conversation row) is posted, not recorded', async () => {
      const w = await world('slack');
      const replyTarget: ReplyTarget = { platform: 'slack', channel: 'C0OTHER' };
      await w.outbound.say({ conversationId: placeKey(replyTarget), replyTarget }, 'hello');
      expect(w.sent.map((s) => [s.target.channel, s.text])).toEqual([['C0OTHER', 'hello']]);
      expect(placeKey(replyTarget)).toBe('notice:slack:C0OTHER');
      expect(await w.store.postedMessages.listForConversation(placeKey(replyTarget))).toEqual([]);
    });

    it('text that renders to nothing posts the empty text', async () => {
      const w = await world('local');
      await w.outbound.say(w.to, '   ');
      await w.outbound.say(w.to, '', { emptyText: '(nothing)' });
      expect(w.sent.map((s) => s.text)).toEqual([EMPTY_TEXT, '(nothing)']);
    });

    it('while the platform is not running, the Markdown is kept in the outbox, marked unrendered', async () => {
      const w = await world('local');
      const replyTarget: ReplyTarget = { platform: 'slack', channel: 'C0GEN', thread: '1.2' };
      const rows = await w.outbound.enqueue({ conversationId: 'slack:T:C0GEN:1.2', replyTarget }, '**later**');
      expect(rows.map((r) => r.text)).toEqual(['**later**']);
      expect(rows[0]!.target.unrendered).toBe(true);
    });

    it('a row kept while the platform was down is rendered when it is delivered: nothing can ping', async () => {
      const down = await world('slack');
      // Written by an outbox that has no Slack adapter (the platform is down)...
      const offline = new Outbound(new OutboxDelivery({ store: down.store, adapters: () => undefined, logger, retryDelaysMs: [20] }));
      const [row] = await offline.enqueue(down.to, `**bold** ${PINGS}`);
      expect(row!.target.unrendered).toBe(true);
      // ...and delivered once it runs again.
      await down.outbox.deliver(down.to.conversationId);
      const posted = down.sent.filter((s) => s.op === 'post');
      expect(posted).toHaveLength(1);
      expect(posted[0]!.text).toContain('*bold*');
      expect(posted[0]!.text).not.toMatch(/<!(channel|here|everyone|subteam)|<@U0ALICE>/);
      expect(posted[0]!.target).not.toHaveProperty('unrendered');
    });
  });
});
