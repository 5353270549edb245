/**
 * Files on Slack messages, inbound: Slack file objects → `InboundFile` (`src/platforms/slack/files.ts`),
 * `file_share` messages taken by the normaliser (`events.ts`), and the same on the wire through the
 * adapter and the Slack twin (Socket Mode and the Events API over HTTP).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { SlackAdapter } from '../../src/platforms/slack/adapter.js';
import { normaliseSlackEvent, renderInboundText, toInboundMessage, type NormaliseContext, type SlackMessageEvent } from '../../src/platforms/slack/events.js';
import { slackFileOrigins, slackFiles } from '../../src/platforms/slack/files.js';
import type { InboundMessage } from '../../src/core/messages.js';
import type { AdapterContext } from '../../src/platforms/types.js';
import { waitFor } from '../helpers/sandbox.js';
import { SlackTwin } from '../twins/slack/twin.js';

const BOT = 'U0BOT';

const fileObject = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'F0ABC123',
  name: 'notes.txt',
  title: 'notes.txt',
  mimetype: 'text/plain',
  filetype: 'text',
  size: 42,
  mode: 'hosted',
  url_private: 'https://files.slack.com/files-pri/T1-F0ABC123/notes.txt',
  url_private_download: 'https://files.slack.com/files-pri/T1-F0ABC123/download/notes.txt',
  ...over,
});

describe('slackFiles (file objects → InboundFile)', () => {
  it('maps id, name, mimetype, size and url_private_download (else url_private), in order', () => {
    const { files, skipped } = slackFiles([
      fileObject(),
      fileObject({
        id: 'F0IMG',
        name: 'shot.png',
        mimetype: 'image/png',
        size: 9,
        url_private_download: undefined,
        url_private: 'https://files.slack.com/x/shot.png',
      }),
      fileObject({ id: 'F0NOTYPE', name: undefined, title: 'From the title', mimetype: undefined, size: undefined }),
    ]);
    expect(skipped).toEqual([]);
    expect(files).toEqual([
      { id: 'F0ABC123', name: 'notes.txt', mimeType: 'text/plain', size: 42, url: 'https://files.slack.com/files-pri/T1-F0ABC123/download/notes.txt' },
      { id: 'F0IMG', name: 'shot.png', mimeType: 'image/png', size: 9, url: 'https://files.slack.com/x/shot.png' },
      { id: 'F0NOTYPE', name: 'From the title', url: 'https://files.slack.com/files-pri/T1-F0ABC123/download/notes.txt' },
    ]);
  });

  it('leaves out malformed entries with their reason, keeps the good ones; never throws', () => {
    const { files, skipped } = slackFiles([
      null,
      'F0STRING',
      { id: 'F0CONNECT', file_access: 'check_file_info' },
      fileObject({ id: 'not-a-file-id' }),
      fileObject({ id: 'F0GONE', mode: 'tombstone', name: 'deleted.txt' }),
      fileObject({ id: 'F0JS', name: 'evil', url_private: 'javascript:alert(1)', url_private_download: 'file:///etc/passwd' }),
      fileObject({ id: 'F0NONAME', name: '', title: '  ' }),
      fileObject({ id: 'F0OK', size: 'big', mimetype: 7 }),
    ]);
    expect(files).toEqual([{ id: 'F0OK', name: 'notes.txt', url: 'https://files.slack.com/files-pri/T1-F0ABC123/download/notes.txt' }]);
    expect(skipped.map((s) => s.label)).toEqual(['#1', '#2', 'F0CONNECT', 'notes.txt', 'deleted.txt', 'evil', 'F0NONAME']);
    expect(skipped.find((s) => s.label === 'F0CONNECT')!.reason).toMatch(/name|URL/);
    expect(skipped.find((s) => s.label === 'deleted.txt')!.reason).toBe('the file was deleted');
    expect(skipped.find((s) => s.label === 'notes.txt')!.reason).toBe('not a Slack file id');
    expect(skipped.find((s) => s.label === 'evil')!.reason).toBe('no private URL (url_private)');
    for (const bad of [undefined, null, 'x', { 0: fileObject() }]) expect(slackFiles(bad)).toEqual({ files: [], skipped: [] });
  });

  it('the token goes to files.slack.com and the Web API host only', () => {
    expect(slackFileOrigins(undefined)).toEqual(['https://files.slack.com', 'https://slack.com']);
    expect(slackFileOrigins('http://127.0.0.1:4567/api/')).toEqual(['https://files.slack.com', 'http://127.0.0.1:4567']);
  });
});

function ctx(conversations: string[] = []): NormaliseContext {
  return {
    self: { userId: BOT, botId: 'B0BOT' },
    allowBots: false,
    hasConversation: async (id) => conversations.includes(id),
    isBotMessage: async () => false,
  };
}
const env = (event: SlackMessageEvent) => ({ type: 'event_callback', team_id: 'T1', event_id: 'Ev1', event });
const fileShare = (over: Partial<SlackMessageEvent> = {}): SlackMessageEvent => ({
  type: 'message',
  subtype: 'file_share',
  channel_type: 'channel',
  user: 'U1',
  text: `<@${BOT}> read this`,
  ts: '100.000002',
  channel: 'C1',
  files: [fileObject()],
  ...over,
});

describe('file_share messages (normaliseSlackEvent)', () => {
  it('a file_share mention is taken with its files on the draft and the InboundMessage', async () => {
    const r = await normaliseSlackEvent(env(fileShare()), ctx());
    expect(r.kind).toBe('message');
    if (r.kind !== 'message') return;
    expect(r.draft.files).toEqual([expect.objectContaining({ id: 'F0ABC123', name: 'notes.txt' })]);
    expect(r.draft.rawText).toBe(`<@${BOT}> read this`); // no file lines in the text: the prompt lists the files
    const m = toInboundMessage(r.draft, 'read this', 'Alice', 1);
    expect(m.files).toEqual([
      { id: 'F0ABC123', name: 'notes.txt', mimeType: 'text/plain', size: 42, url: 'https://files.slack.com/files-pri/T1-F0ABC123/download/notes.txt' },
    ]);
    // The app_mention twin of the message carries the files too (and no subtype).
    const mention = await normaliseSlackEvent(env(fileShare({ type: 'app_mention', subtype: undefined, channel_type: undefined })), ctx());
    expect(mention.kind === 'message' && mention.draft.files.map((f) => f.id)).toEqual(['F0ABC123']);
  });

  it('files without text: taken in a DM and in a thread the bot is in; the text renders empty', async () => {
    const dm = await normaliseSlackEvent(env(fileShare({ channel: 'D1', channel_type: 'im', text: '' })), ctx());
    expect(dm).toMatchObject({ kind: 'message', draft: { isDm: true, rawText: '', files: [expect.objectContaining({ id: 'F0ABC123' })] } });
    const reply = await normaliseSlackEvent(env(fileShare({ text: '', thread_ts: '100.000001', ts: '100.000005' })), ctx(['slack:T1:C1:100.000001']));
    expect(reply.kind).toBe('message');
    expect(renderInboundText('', BOT, new Map(), '')).toBe('');
    expect(renderInboundText(`<@${BOT}>`, BOT, new Map(), '')).toBe('');
    expect(renderInboundText('', BOT, new Map())).toBe('(empty message)');
    // Without a mention, outside a DM or a known thread, a file_share is still not the bot's.
    expect(await normaliseSlackEvent(env(fileShare({ text: 'just sharing' })), ctx())).toMatchObject({ kind: 'ignore' });
  });

  it('a malformed file entry is left out, named for the agent and listed for the log', async () => {
    const r = await normaliseSlackEvent(env(fileShare({ files: [fileObject(), { id: 'F0BAD', name: '<b>x.txt</b>' }] })), ctx());
    expect(r.kind).toBe('message');
    if (r.kind !== 'message') return;
    expect(r.draft.files.map((f) => f.id)).toEqual(['F0ABC123']);
    expect(r.draft.skippedFiles).toEqual([{ label: '<b>x.txt</b>', reason: 'no private URL (url_private)' }]);
    expect(r.draft.rawText).toBe(`<@${BOT}> read this\n(an attached file could not be read from Slack's event: _b_x.txt_/b_)`);
  });
});

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
let twin: SlackTwin;
let adapter: SlackAdapter | undefined;
let server: HttpServer | undefined;
const received: InboundMessage[] = [];
const context: AdapterContext = {
  hasConversation: async (id) => received.some((m) => m.conversationId === id),
  isBotMessage: async () => false,
  state: { get: async () => undefined, set: async () => {} },
};
const sink = async (m: InboundMessage) => {
  received.push(m);
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
});
afterAll(async () => {
  await twin?.close();
});

describe('attached files on the wire (adapter + twin)', () => {
  it('Socket Mode: a mention with a file and a DM with only a file both reach the sink with InboundMessage.files', async () => {
    adapter = new SlackAdapter({ config: { botToken: twin.botToken, appToken: twin.appToken, apiUrl: twin.apiUrl, allowBots: false }, logger });
    await adapter.start(sink, context);
    const notes = twin.addFile({ name: 'notes.txt', content: 'hello from a file\n' });
    const post = await twin.userPosts({ user: 'U0ALICE', channel: 'C0FILES', text: 'read it', mention: true, also_as_message: true, files: [notes] });
    const m = await waitFor(() => received.find((r) => r.messageRef === post.ts), 10_000, 'the mention with a file');
    expect(m.text).toBe('read it');
    expect(m.files).toEqual([{ id: notes.id, name: 'notes.txt', mimeType: 'text/plain', size: 18, url: notes.url_private_download }]);
    // The message twin (subtype file_share) was delivered too and deduplicated by the event key.
    expect(twin.socket.envelopes.filter((e) => post.eventIds.includes(e.event_id!))).toHaveLength(2);

    const png = twin.addFile({ name: 'shot.png', content: Buffer.from([0x89, 0x50, 0x4e, 0x47]), mimetype: 'image/png' });
    const dm = await twin.userPosts({ user: 'U0ALICE', channel: 'D0ALICE', text: '', files: [png] });
    const d = await waitFor(() => received.find((r) => r.messageRef === dm.ts), 10_000, 'the DM with only a file');
    expect(d).toMatchObject({ text: '', files: [{ id: png.id, name: 'shot.png', mimeType: 'image/png', size: 4 }] });
  });

  it('Events API over HTTP: a file_share reply in a known thread carries its files', async () => {
    server = createHttpServer({ host: '127.0.0.1', port: 0, logger });
    adapter = new SlackAdapter({
      config: { botToken: twin.botToken, signingSecret: twin.signingSecret, apiUrl: twin.apiUrl, allowBots: false },
      http: server,
      logger,
    });
    const { url } = await server.listen();
    twin.eventsUrl = `${url}/slack/events`;
    await adapter.start(sink, context);
    const root = await twin.userPosts({ user: 'U0ALICE', channel: 'C0HTTPF', text: 'start', mention: true });
    expect(root.http.map((h) => h.status)).toEqual([200]);
    const log = twin.addFile({ name: 'build.log', content: 'error: x\n', mimetype: 'text/plain' });
    const reply = await twin.userPosts({ user: 'U0ALICE', channel: 'C0HTTPF', text: 'the log', thread_ts: root.ts, files: [log] });
    expect(reply.http.map((h) => h.status)).toEqual([200]);
    const m = received.find((r) => r.messageRef === reply.ts)!;
    expect(m.conversationId).toBe(`slack:T0TWIN:C0HTTPF:${root.ts}`);
    expect(m.files).toEqual([{ id: log.id, name: 'build.log', mimeType: 'text/plain', size: 9, url: log.url_private_download }]);
  });
});
