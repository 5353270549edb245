/**
 * Slack cards and button clicks, in-process: the real Slack adapter (real @slack/bolt, Socket Mode
 * and the Events API over HTTP) against the Slack twin, with a stub `onAction` in the adapter
 * context instead of the core. Covers: buttons on a post (Block Kit), edits that remove them,
 * clicks over both transports reaching `onAction` with the identity from the payload, the
 * ephemeral answer for refused clicks, and forged / replayed / malformed interactions.
 */
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ActionReply, ActionRequest, CardAction } from '../../src/core/interactions.js';
import { actionId } from '../../src/core/interactions.js';
import type { InboundMessage, ReplyTarget } from '../../src/core/messages.js';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { SlackAdapter } from '../../src/platforms/slack/adapter.js';
import type { AdapterContext } from '../../src/platforms/types.js';
import { waitFor } from '../helpers/sandbox.js';
import { SlackTwin } from '../twins/slack/twin.js';

/** Log lines of the adapter (JSON), to check that rejections are logged. */
const logLines: string[] = [];
const logger = createLogger(
  'debug',
  new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  }),
);

const CHANNEL = 'C0CARDS';
const APPROVE = actionId('req1', 'allow');
const ALWAYS = actionId('req1', 'always');
const DENY = actionId('req1', 'deny');
const ACTIONS: CardAction[] = [
  { id: APPROVE, label: 'Approve', style: 'primary' },
  { id: ALWAYS, label: 'Always for this conversation' },
  { id: DENY, label: 'Deny', style: 'danger' },
];

let twin: SlackTwin;
let adapter: SlackAdapter | undefined;
let server: HttpServer | undefined;
const clicks: ActionRequest[] = [];
let reply: (req: ActionRequest) => Promise<ActionReply> = async () => ({ status: 'ok', text: '' });

const context: AdapterContext = {
  hasConversation: async () => true,
  isBotMessage: async () => false,
  state: { get: async () => undefined, set: async () => {} },
  onAction: (req) => {
    clicks.push(req);
    return reply(req);
  },
};
const sink = async (_m: InboundMessage) => 'accepted' as const;

async function startSocket(): Promise<SlackAdapter> {
  adapter = new SlackAdapter({ config: { botToken: twin.botToken, appToken: twin.appToken, apiUrl: twin.apiUrl, allowBots: false }, logger });
  await adapter.start(sink, context);
  return adapter;
}

async function startHttp(): Promise<SlackAdapter> {
  server = createHttpServer({ host: '127.0.0.1', port: 0, logger });
  adapter = new SlackAdapter({
    config: { botToken: twin.botToken, signingSecret: twin.signingSecret, apiUrl: twin.apiUrl, allowBots: false },
    http: server,
    logger,
  });
  const { url } = await server.listen();
  await adapter.start(sink, context);
  twin.eventsUrl = `${url}/slack/events`;
  return adapter;
}

/** A thread started by Alice (a mention) and a card with three buttons posted in it by the adapter. */
async function card(a: SlackAdapter, text = '*Bash* wants to run:\n```rm -rf build```'): Promise<{ root: string; ref: string; target: ReplyTarget }> {
  const root = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'clean the build', mention: true });
  const target: ReplyTarget = { platform: 'slack', channel: CHANNEL, thread: root.ts };
  const posted = await a.post(target, text, { actions: ACTIONS, idempotencyKey: `ab-o${root.ts.replace('.', '')}` });
  return { root: root.ts, ref: posted.ref, target };
}

/** Ephemeral messages shown to `user` in the thread `root` (the twin is shared by the tests). */
const toldIn = (user: string, root: string) => twin.ephemeralsFor(user, CHANNEL).filter((e) => e.thread_ts === root);

const buttonsOf = (ts: string) =>
  (twin.message(CHANNEL, ts)?.blocks ?? []).filter((b) => b.type === 'actions').flatMap((b) => b.elements as Array<Record<string, unknown>>);

beforeAll(async () => {
  twin = await SlackTwin.start({
    users: [
      { id: 'U0ALICE', name: 'alice', display_name: 'Alice' },
      { id: 'U0BOB', name: 'bob', real_name: 'Bob Builder' },
    ],
  });
});

afterEach(async () => {
  await adapter?.stop();
  adapter = undefined;
  await server?.close();
  server = undefined;
  twin.eventsUrl = undefined;
  twin.interactionsUrl = undefined;
  clicks.length = 0;
  reply = async () => ({ status: 'ok', text: '' });
});

afterAll(async () => {
  await twin?.close();
});

describe('Slack cards (Block Kit) against the twin', () => {
  it('a post with actions shows a section and one button per action; text stays the fallback; the metadata key still finds it', async () => {
    const a = await startSocket();
    const c = await card(a);
    const m = twin.message(CHANNEL, c.ref)!;
    expect(m.thread_ts).toBe(c.root);
    expect(m.text).toBe('*Bash* wants to run:\n```rm -rf build```');
    expect(m.blocks).toEqual([
      { type: 'section', text: { type: 'mrkdwn', text: '*Bash* wants to run:\n```rm -rf build```' } },
      {
        type: 'actions',
        elements: [
          { type: 'button', action_id: APPROVE, text: { type: 'plain_text', text: 'Approve', emoji: true }, value: APPROVE, style: 'primary' },
          { type: 'button', action_id: ALWAYS, text: { type: 'plain_text', text: 'Always for this conversation', emoji: true }, value: ALWAYS },
          { type: 'button', action_id: DENY, text: { type: 'plain_text', text: 'Deny', emoji: true }, value: DENY, style: 'danger' },
        ],
      },
    ]);
    expect(m.metadata).toEqual({ event_type: 'agentbridge_post', event_payload: { key: `ab-o${c.root.replace('.', '')}` } });

    // The same card again (an outbox retry after a restart): found by its key, not posted twice.
    const again = await a.post(c.target, m.text, { actions: ACTIONS, idempotencyKey: `ab-o${c.root.replace('.', '')}`, maybePostedSince: Date.now() - 60_000 });
    expect(again.ref).toBe(c.ref);
    expect(twin.botTexts(CHANNEL, c.root)).toHaveLength(1);

    // A text longer than a section allows (3,000) is cut there; the fallback text stays whole.
    const long = `${'x'.repeat(2_990)} <https://example.com/a-long-link|a link> and more`;
    const cut = await a.post(c.target, long, { actions: ACTIONS.slice(0, 1) });
    const section = twin.message(CHANNEL, cut.ref)!.blocks![0] as { text: { text: string } };
    expect(section.text.text.length).toBeLessThanOrEqual(3_000);
    expect(section.text.text).toBe(`${'x'.repeat(2_990)} …`);
    expect(twin.message(CHANNEL, cut.ref)!.text).toBe(long);
  });

  it('an edit with actions: [] removes the buttons; with actions it replaces them; without opts it sends text only', async () => {
    const a = await startSocket();
    const c = await card(a);
    expect(buttonsOf(c.ref)).toHaveLength(3);

    await a.edit(c.target, c.ref, '✅ Approved by Alice', { actions: [] });
    const m = twin.message(CHANNEL, c.ref)!;
    expect(m.text).toBe('✅ Approved by Alice');
    expect(m.blocks).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: '✅ Approved by Alice' } }]);
    expect(buttonsOf(c.ref)).toEqual([]);

    await a.edit(c.target, c.ref, 'Pick one', { actions: ACTIONS.slice(2) });
    expect(buttonsOf(c.ref).map((b) => b.action_id)).toEqual([DENY]);

    await a.edit(c.target, c.ref, 'plain edit');
    expect(twin.callsOf('chat.update').at(-1)!.params.blocks).toBeUndefined();
  });
});

describe('Slack clicks over Socket Mode', () => {
  it('a click is acknowledged and reaches onAction with the user, channel, thread, message and action from the payload; a duplicate arrives again', async () => {
    const a = await startSocket();
    const c = await card(a);
    const call = await twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: c.ref, actionId: APPROVE });
    expect(call.transport).toBe('socket');
    expect(call.ackedAt).toBeDefined();
    expect(call.ackedAt! - call.sentAt).toBeLessThan(3_000);
    await waitFor(() => clicks.length === 1, 5_000, 'the click');
    expect(clicks[0]).toEqual({
      platform: 'slack',
      userId: 'U0ALICE',
      userName: 'Alice',
      channel: CHANNEL,
      thread: c.root,
      messageRef: c.ref,
      actionId: APPROVE,
    });

    // Slack does not redeliver clicks, but a second delivery must not break anything: the core decides.
    const dup = await twin.redeliverClick(call.id);
    expect(dup.ackedAt).toBeDefined();
    await waitFor(() => clicks.length === 2, 5_000, 'the duplicate click');
    expect(clicks[1]).toEqual(clicks[0]);
  });

  it('a forbidden or decided reply is shown to that clicker only, ephemeral in the thread; ok shows nothing', async () => {
    const a = await startSocket();
    const c = await card(a);
    reply = async (req) =>
      req.userId === 'U0ALICE' ? { status: 'ok', text: '' } : { status: 'forbidden', text: 'Only Alice or an admin may decide this. <!here> & co' };
    await twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: c.ref, actionId: DENY });
    await waitFor(() => clicks.length === 1, 5_000, "Alice's click");
    await twin.click({ user: 'U0BOB', channel: CHANNEL, ts: c.ref, actionId: APPROVE });
    const [told] = await waitFor(() => (toldIn('U0BOB', c.root).length ? toldIn('U0BOB', c.root) : undefined), 5_000, "Bob's ephemeral");
    expect(told).toMatchObject({ channel: CHANNEL, user: 'U0BOB', thread_ts: c.root });
    expect(told!.text).toBe('Only Alice or an admin may decide this. &lt;!here&gt; &amp; co');
    expect(clicks[1]).toMatchObject({ userId: 'U0BOB', userName: 'Bob Builder', actionId: APPROVE });

    reply = async () => ({ status: 'decided', text: 'Already approved by Alice at 12:01.' });
    await twin.click({ user: 'U0BOB', channel: CHANNEL, ts: c.ref, actionId: DENY });
    await waitFor(() => toldIn('U0BOB', c.root).length === 2, 5_000, 'the "decided" ephemeral');
    expect(toldIn('U0BOB', c.root)[1]!.text).toBe('Already approved by Alice at 12:01.');
    expect(toldIn('U0ALICE', c.root)).toEqual([]);
    // Nothing visible to others: no message was added to the thread.
    expect(twin.botTexts(CHANNEL, c.root)).toHaveLength(1);
  });

  it('unknown action ids are acknowledged and ignored; malformed payloads are acknowledged and dropped; the adapter keeps working', async () => {
    const a = await startSocket();
    const c = await card(a);
    const foreign = await twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: c.ref, actionId: 'some_other_app_button', anyActionId: true });
    expect(foreign.ackedAt).toBeDefined();
    const malformed = [
      (p: Record<string, unknown>) => ({ ...p, actions: [] }),
      (p: Record<string, unknown>) => ({ ...p, user: undefined }),
      (p: Record<string, unknown>) => ({ ...p, user: { id: 42 } }),
    ];
    for (const mutate of malformed) {
      const bad = await twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: c.ref, actionId: APPROVE, mutate });
      expect(bad.ackedAt).toBeDefined();
    }
    // Not even a JSON object: Bolt cannot tell its type and ignores it (no ack, so not waited for); nothing breaks.
    await twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: c.ref, actionId: APPROVE, mutate: () => 'garbage' }, 0);
    expect(logLines.some((l) => l.includes('malformed interaction payload dropped'))).toBe(true);

    const good = await twin.click({ user: 'U0BOB', channel: CHANNEL, ts: c.ref, actionId: APPROVE });
    expect(good.ackedAt).toBeDefined();
    await waitFor(() => clicks.length === 1, 5_000, 'the valid click');
    expect(clicks).toEqual([expect.objectContaining({ userId: 'U0BOB', actionId: APPROVE })]);
  });

  it('a failing onAction is logged and the clicker is told; nothing crashes', async () => {
    const a = await startSocket();
    const c = await card(a);
    reply = async () => {
      throw new Error('database is locked');
    };
    await twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: c.ref, actionId: APPROVE });
    await waitFor(() => toldIn('U0ALICE', c.root).some((e) => e.text.includes('could not handle this click')), 5_000, 'the failure notice');
  });
});

describe('Slack clicks over HTTP (POST /slack/interactions)', () => {
  it('a signed click is answered 200 at once and reaches onAction; a refused one gets its ephemeral answer', async () => {
    const a = await startHttp();
    const c = await card(a);
    const call = await twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: c.ref, actionId: ALWAYS });
    expect(call.transport).toBe('http');
    expect(call.status).toBe(200);
    expect(call.body).toBe('');
    expect(call.ackedAt! - call.sentAt).toBeLessThan(3_000);
    await waitFor(() => clicks.length === 1, 5_000, 'the click');
    expect(clicks[0]).toEqual({
      platform: 'slack',
      userId: 'U0ALICE',
      userName: 'Alice',
      channel: CHANNEL,
      thread: c.root,
      messageRef: c.ref,
      actionId: ALWAYS,
    });

    reply = async () => ({ status: 'forbidden', text: 'Only Alice may decide.' });
    await twin.click({ user: 'U0BOB', channel: CHANNEL, ts: c.ref, actionId: DENY });
    await waitFor(() => toldIn('U0BOB', c.root).length === 1, 5_000, "Bob's ephemeral");
    expect(toldIn('U0BOB', c.root)[0]).toMatchObject({ text: 'Only Alice may decide.', thread_ts: c.root });

    // The buttons' path is also served at /slack/events (as Bolt's receiver does).
    twin.interactionsUrl = twin.eventsUrl;
    const viaEvents = await twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: c.ref, actionId: APPROVE });
    expect(viaEvents.status).toBe(200);
    await waitFor(() => clicks.length === 3, 5_000, 'the click via /slack/events');
  });

  it('forged, stale, unsigned and replayed clicks get 401, are logged and never reach onAction', async () => {
    const a = await startHttp();
    const c = await card(a);
    const valid = await twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: c.ref, actionId: APPROVE });
    expect(valid.status).toBe(200);
    await waitFor(() => clicks.length === 1, 5_000, 'the valid click');
    const logMark = logLines.length;
    for (const signing of ['bad', 'stale', 'none'] as const) {
      const forged = await twin.click({ user: 'U0BOB', channel: CHANNEL, ts: c.ref, actionId: DENY, signing });
      expect(forged.status, signing).toBe(401);
    }
    const replay = await twin.redeliverClick(valid.id, { replay: true });
    expect(replay.status).toBe(401);
    const rejections = logLines.slice(logMark).filter((l) => l.includes('request rejected') && l.includes('/slack/interactions'));
    expect(rejections).toHaveLength(4);
    expect(rejections.join('\n')).toContain('replayed request');
    // A legitimate second delivery (newly signed) still passes.
    const resent = await twin.redeliverClick(valid.id);
    expect(resent.status).toBe(200);
    await waitFor(() => clicks.length === 2, 5_000, 'the newly signed delivery');
    expect(clicks.map((r) => r.userId)).toEqual(['U0ALICE', 'U0ALICE']);
    expect(toldIn('U0BOB', c.root)).toEqual([]);
  });

  it('malformed payloads get 400 (or 200 when they are not agentbridge clicks) and never crash the adapter', async () => {
    const a = await startHttp();
    const c = await card(a);
    const notJson = await twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: c.ref, actionId: APPROVE, mutate: () => '{"type":"block_actions",' });
    expect(notJson.status).toBe(400);
    const notObject = await twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: c.ref, actionId: APPROVE, mutate: () => '[1,2]' });
    expect(notObject.status).toBe(400);
    for (const mutate of [
      (p: Record<string, unknown>) => ({ ...p, actions: [] }),
      (p: Record<string, unknown>) => ({ ...p, user: undefined }),
      (p: Record<string, unknown>) => ({ ...p, actions: [{ action_id: APPROVE }] }),
    ]) {
      const bad = await twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: c.ref, actionId: APPROVE, mutate });
      expect(bad.status).toBe(400);
    }
    // Some other interaction type (no listener): answered 200, ignored.
    const other = await twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: c.ref, actionId: APPROVE, mutate: (p) => ({ ...p, type: 'message_action' }) });
    expect(other.status).toBe(200);
    const foreign = await twin.click({ user: 'U0ALICE', channel: CHANNEL, ts: c.ref, actionId: 'not-ours', anyActionId: true });
    expect(foreign.status).toBe(200);
    expect(clicks).toEqual([]);

    const good = await twin.click({ user: 'U0BOB', channel: CHANNEL, ts: c.ref, actionId: DENY });
    expect(good.status).toBe(200);
    await waitFor(() => clicks.length === 1, 5_000, 'the valid click');
    expect(clicks[0]).toMatchObject({ userId: 'U0BOB', actionId: DENY, messageRef: c.ref });
  });
});
