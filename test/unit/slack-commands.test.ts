/**
 * Slack's `/agent` slash command (`src/platforms/slack/commands.ts` and the adapter's wiring):
 * the acknowledgement within 3 s, late replies through `response_url`, the conversation of a
 * command in a DM, and delivery over Socket Mode and signed HTTP against the Slack twin with
 * a recording `runCommand` instead of the core.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { SlackAdapter } from '../../src/platforms/slack/adapter.js';
import { formatSlackMarkdown } from '../../src/platforms/slack/format.js';
import {
  handleSlashCommand,
  postToResponseUrl,
  slashCommandText,
  subcommandOf,
  type SlashCommandDeps,
  type SlashResponse,
} from '../../src/platforms/slack/commands.js';
import type { InboundMessage } from '../../src/core/messages.js';
import type { AdapterContext, CommandReply, CommandRequest } from '../../src/platforms/types.js';
import { waitFor } from '../helpers/sandbox.js';
import { SlackTwin } from '../twins/slack/twin.js';

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('handleSlashCommand', () => {
  function deps(over: Partial<SlashCommandDeps> & { reply?: CommandReply; delayMs?: number } = {}) {
    const requests: CommandRequest[] = [];
    const posted: Array<{ url: string; body: SlashResponse }> = [];
    const d: SlashCommandDeps = {
      runCommand: async (req) => {
        requests.push(req);
        if (over.delayMs) await sleep(over.delayMs);
        return over.reply ?? { text: `ran ${req.text}`, ephemeral: true };
      },
      displayName: async () => 'Alice',
      dmConversation: async () => undefined,
      isDm: (c) => c.startsWith('D'),
      format: (m) => m.replace(/\*\*/g, '*'),
      respond: async (url, body) => void posted.push({ url, body }),
      logger,
      ...over,
    };
    return { d, requests, posted };
  }
  const payload = {
    command: '/agent',
    text: 'status',
    user_id: 'U1',
    user_name: 'alice',
    channel_id: 'C1',
    team_id: 'T1',
    response_url: 'https://hooks.example/r/1',
  };

  it('answers in the acknowledgement: ephemeral or in_channel as the reply says, Markdown formatted', async () => {
    const { d, requests, posted } = deps({ reply: { text: '**done**', ephemeral: false } });
    const r = await handleSlashCommand(payload, d);
    expect(r).toEqual({ ack: { response_type: 'in_channel', text: '*done*' } });
    expect(requests[0]).toEqual({
      platform: 'slack',
      userId: 'U1',
      userName: 'Alice',
      channel: 'C1',
      text: 'status',
      replyTarget: { platform: 'slack', channel: 'C1' },
    });
    const e = await handleSlashCommand(payload, deps({ reply: { text: 'only you', ephemeral: true } }).d);
    expect(e.ack.response_type).toBe('ephemeral');
    expect(posted).toEqual([]);
  });

  it('in a channel a command is about no conversation; in a DM about the DM conversation used last', async () => {
    const channel = deps({ dmConversation: async () => 'slack:T1:D1:100.000001' });
    await handleSlashCommand(payload, channel.d);
    expect(channel.requests[0]!.conversationId).toBeUndefined();
    const dm = deps({ dmConversation: async (team, ch) => (team === 'T1' && ch === 'D1' ? 'slack:T1:D1:100.000001' : undefined) });
    await handleSlashCommand({ ...payload, channel_id: 'D1' }, dm.d);
    expect(dm.requests[0]).toMatchObject({
      channel: 'D1',
      conversationId: 'slack:T1:D1:100.000001',
      replyTarget: { platform: 'slack', channel: 'D1', thread: '100.000001' },
    });
    const fresh = deps();
    await handleSlashCommand({ ...payload, channel_id: 'D2' }, fresh.d);
    expect(fresh.requests[0]!.conversationId).toBeUndefined();
  });

  it('falls back to the payload user_name when the display name is slow or unknown', async () => {
    const slow = deps({ displayName: () => new Promise((r) => setTimeout(() => r('Late Name'), 2_000)), nameLookupMs: 50 });
    await handleSlashCommand(payload, slow.d);
    expect(slow.requests[0]!.userName).toBe('alice');
    const unknown = deps({ displayName: async (id) => id });
    await handleSlashCommand(payload, unknown.d);
    expect(unknown.requests[0]!.userName).toBe('alice');
  });

  it('a command slower than the deadline is acknowledged with "working on it"; its reply follows via response_url', async () => {
    const { d, posted } = deps({ delayMs: 300, ackDeadlineMs: 50, reply: { text: 'slow result', ephemeral: false } });
    const t0 = Date.now();
    const r = await handleSlashCommand(payload, d);
    expect(Date.now() - t0).toBeLessThan(250);
    expect(r.ack).toEqual({ response_type: 'ephemeral', text: '⏳ Working on `/agent status`…' });
    expect(posted).toEqual([]);
    await r.followUp!();
    expect(posted).toEqual([{ url: payload.response_url, body: { response_type: 'in_channel', text: 'slow result' } }]);
  });

  it('restart and cron are acknowledged at once and run only after the acknowledgement', async () => {
    for (const text of ['restart', 'cron list', 'CRON add x "every 1h" y', '/agent restart']) {
      const { d, posted, requests } = deps({ reply: { text: 'quick', ephemeral: true } });
      const r = await handleSlashCommand({ ...payload, text }, d);
      expect(r.ack.text).toMatch(/^⏳ Working on `\/agent (restart|cron)`…$/);
      expect(requests).toHaveLength(0);
      await r.followUp!();
      expect(requests).toHaveLength(1);
      expect(posted.map((p) => p.body.text)).toEqual(['quick']);
    }
    expect(subcommandOf('  Stop! ')).toBe('stop');
    expect(slashCommandText('cron add x "every 1h" check a &lt; b &amp;&amp; c &gt; d')).toBe('cron add x "every 1h" check a < b && c > d');
    expect(slashCommandText('cron add x "every 1h" ask <@U1|alice> in <#C1|ops> about <https://ci.example/1|the run>')).toBe(
      'cron add x "every 1h" ask @alice in #ops about https://ci.example/1',
    );
    expect(subcommandOf('')).toBe('');
  });

  it('never throws: a failing command service or a failing response_url are answered and logged', async () => {
    const broken = deps({ runCommand: async () => Promise.reject(new Error('boom')) });
    expect((await handleSlashCommand(payload, broken.d)).ack.text).toContain('could not run this command');
    const late = deps({ delayMs: 100, ackDeadlineMs: 10, respond: async () => Promise.reject(new Error('expired_url')) });
    const r = await handleSlashCommand(payload, late.d);
    await expect(r.followUp!()).resolves.toBeUndefined();
    expect((await handleSlashCommand({ ...payload, user_id: '' }, deps().d)).ack.text).toContain('without a user or channel');
  });
});

describe('postToResponseUrl', () => {
  let server: http.Server;
  let url: string;
  const answers: Array<{ status: number; headers?: Record<string, string> }> = [];
  const bodies: unknown[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        bodies.push({ type: req.headers['content-type'], body: JSON.parse(raw) });
        const a = answers.shift() ?? { status: 200 };
        res.writeHead(a.status, a.headers).end(a.status === 200 ? 'ok' : 'error');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/r/1`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('POSTs JSON; retries 5xx and 429 (after Retry-After), not 4xx', async () => {
    const errors: string[] = [];
    answers.push({ status: 500 }, { status: 429, headers: { 'retry-after': '1' } }, { status: 200 });
    const t0 = Date.now();
    await postToResponseUrl(url, { response_type: 'ephemeral', text: 'hi' }, { onError: (k) => errors.push(k) });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000);
    expect(bodies).toHaveLength(3);
    expect(bodies[2]).toEqual({ type: 'application/json; charset=utf-8', body: { response_type: 'ephemeral', text: 'hi' } });
    expect(errors).toEqual(['error', 'rate_limited']);
    bodies.length = 0;
    answers.push({ status: 404 });
    await expect(postToResponseUrl(url, { response_type: 'ephemeral', text: 'x' })).rejects.toThrow('HTTP 404');
    expect(bodies).toHaveLength(1);
  });
});

describe('the Slack adapter answers /agent (in-process, twin)', () => {
  let twin: SlackTwin;
  let adapter: SlackAdapter | undefined;
  let server: HttpServer | undefined;
  const requests: CommandRequest[] = [];
  let reply: (req: CommandRequest) => Promise<CommandReply> = async (req) => ({ text: `**ok** ${req.text}`, ephemeral: true });
  const state = new Map<string, string>();
  const conversations = new Set<string>();
  const context: AdapterContext = {
    hasConversation: async (id) => conversations.has(id),
    isBotMessage: async () => false,
    state: { get: async (k) => state.get(k), set: async (k, v) => void state.set(k, v) },
    runCommand: (req) => {
      requests.push(req);
      return reply(req);
    },
  };
  const sink = async (m: InboundMessage) => {
    conversations.add(m.conversationId);
    return 'accepted' as const;
  };

  beforeAll(async () => {
    twin = await SlackTwin.start({ users: [{ id: 'U0ALICE', name: 'alice', display_name: 'Alice' }] });
  });
  afterEach(async () => {
    await adapter?.stop();
    adapter = undefined;
    await server?.close();
    server = undefined;
    twin.eventsUrl = undefined;
    twin.commandsUrl = undefined;
    requests.length = 0;
    reply = async (req) => ({ text: `**ok** ${req.text}`, ephemeral: true });
  });
  afterAll(async () => {
    await twin?.close();
  });

  it('Socket Mode: acknowledges with the reply within 3 s; a slow reply comes through response_url', async () => {
    adapter = new SlackAdapter({ config: { botToken: twin.botToken, appToken: twin.appToken, apiUrl: twin.apiUrl, allowBots: false }, logger });
    await adapter.start(sink, context);
    const help = await twin.slashCommand({ user: 'U0ALICE', channel: 'C0GEN', text: 'help' });
    expect(help.ack).toEqual({ response_type: 'ephemeral', text: formatSlackMarkdown('**ok** help') });
    expect(help.ack!.text).not.toContain('**');
    expect(help.ackedAt! - help.sentAt).toBeLessThan(3_000);
    expect(requests[0]).toMatchObject({ platform: 'slack', userId: 'U0ALICE', userName: 'Alice', channel: 'C0GEN', text: 'help' });
    expect(requests[0]!.conversationId).toBeUndefined();

    reply = async (req) => {
      await sleep(2_500);
      return { text: `late ${req.text}`, ephemeral: false };
    };
    const slow = await twin.slashCommand({ user: 'U0ALICE', channel: 'C0GEN', text: 'sessions' });
    expect(slow.ack).toEqual({ response_type: 'ephemeral', text: '⏳ Working on `/agent sessions`…' });
    expect(slow.ackedAt! - slow.sentAt).toBeLessThan(3_000);
    await waitFor(() => slow.responses.length === 1, 5_000, 'the response_url post');
    expect(slow.responses[0]!.body).toEqual({ response_type: 'in_channel', text: 'late sessions' });
  });

  it('Socket Mode: a command in a DM is about the DM conversation the person used last', async () => {
    adapter = new SlackAdapter({ config: { botToken: twin.botToken, appToken: twin.appToken, apiUrl: twin.apiUrl, allowBots: false }, logger });
    await adapter.start(sink, context);
    const first = await twin.userPosts({ user: 'U0ALICE', channel: 'D0ALICE', text: 'first topic' });
    const second = await twin.userPosts({ user: 'U0ALICE', channel: 'D0ALICE', text: 'second topic' });
    await waitFor(() => conversations.has(`slack:T0TWIN:D0ALICE:${second.ts}`), 5_000, 'the DMs');
    await twin.userPosts({ user: 'U0ALICE', channel: 'D0ALICE', text: 'back to the first', thread_ts: first.ts });
    const key = `slack:dm-conversation:T0TWIN:D0ALICE`;
    await waitFor(() => state.get(key) === `slack:T0TWIN:D0ALICE:${first.ts}`, 5_000, 'the remembered DM conversation');
    await twin.slashCommand({ user: 'U0ALICE', channel: 'D0ALICE', text: 'status' });
    expect(requests.at(-1)).toMatchObject({
      channel: 'D0ALICE',
      conversationId: `slack:T0TWIN:D0ALICE:${first.ts}`,
      replyTarget: { channel: 'D0ALICE', thread: first.ts },
    });
  });

  it('HTTP: signed form bodies at /slack/commands and /slack/events are answered; forged ones are refused and run nothing', async () => {
    server = createHttpServer({ host: '127.0.0.1', port: 0, logger });
    adapter = new SlackAdapter({
      config: { botToken: twin.botToken, signingSecret: twin.signingSecret, apiUrl: twin.apiUrl, allowBots: false },
      http: server,
      logger,
    });
    const { url } = await server.listen();
    await adapter.start(sink, context);
    twin.eventsUrl = `${url}/slack/events`;

    const ok = await twin.slashCommand({ user: 'U0ALICE', channel: 'C0GEN', text: 'status' });
    expect(ok.status).toBe(200);
    expect(ok.ack).toEqual({ response_type: 'ephemeral', text: formatSlackMarkdown('**ok** status') });
    twin.commandsUrl = `${url}/slack/events`;
    const viaEvents = await twin.slashCommand({ user: 'U0ALICE', channel: 'C0GEN', text: 'help' });
    expect(viaEvents.ack).toEqual({ response_type: 'ephemeral', text: formatSlackMarkdown('**ok** help') });
    expect(requests.map((r) => r.text)).toEqual(['status', 'help']);

    for (const signing of ['bad', 'stale', 'none'] as const) {
      const refused = await twin.slashCommand({ user: 'U0ALICE', channel: 'C0GEN', text: 'restart', signing });
      expect(refused.status).toBe(401);
      expect(refused.responses).toEqual([]);
    }
    expect(requests).toHaveLength(2);

    reply = async () => {
      await sleep(2_500);
      return { text: 'late over http', ephemeral: true };
    };
    const slow = await twin.slashCommand({ user: 'U0ALICE', channel: 'C0GEN', text: 'sessions' });
    expect(slow.ack?.text).toBe('⏳ Working on `/agent sessions`…');
    expect(slow.ackedAt! - slow.sentAt).toBeLessThan(3_000);
    await waitFor(() => slow.responses.length === 1, 5_000, 'the response_url post');
    expect(slow.responses[0]!.body).toEqual({ response_type: 'ephemeral', text: 'late over http' });
  });
});
