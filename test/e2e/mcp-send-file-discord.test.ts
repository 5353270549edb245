/**
 * End to end: the agent's `send_file` on Discord. agentbridge runs as its own process (the real
 * discord.js client against the Discord twin), with the real `claude` CLI and the scripted
 * model; the model makes claude call `mcp__agentbridge__send_file`. The file arrives as the
 * attachment of one bot message (a multipart create: `payload_json` + `files[0]`) with the comment
 * as content — once, also when the twin creates the message and then answers 500 (the retry
 * carries the same nonce, and Discord answers with the first message).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { lastUserText, startAnthropicModel, toolResults, type AnthropicModel, type Responder } from '../models/anthropic.js';
import { answer, discordEnv } from '../twins/discord/harness.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';
import { FILES_KEY } from '../twins/discord/rest.js';

const CHAT = ['chat-files', 'chat-files-retry'];
let model: AnthropicModel;
let sb: Sandbox;
let twin: DiscordTwin;
let ab: AgentbridgeProcess;

/** "send <path> [saying <comment>]": send_file; then an answer quoting the tool result. */
const responder: Responder = (req) => {
  const last = lastUserText(req);
  const results = toolResults(req);
  const send = /send (\S+)(?: saying (.+))?/.exec(last);
  if (send && !results.length) return { toolUse: { name: 'mcp__agentbridge__send_file', input: { path: send[1], ...(send[2] ? { comment: send[2] } : {}) } } };
  if (results.length) return { text: `Tool said: ${results.at(-1)!.isError ? 'ERROR ' : ''}${results.at(-1)!.text}` };
  return { text: `echo: ${last}` };
};

/** Bot messages of `channel` that carry an attachment. */
const withFiles = (channel: string) => twin.botMessages(channel).filter((m) => ((m as { attachments?: unknown[] }).attachments ?? []).length > 0);
/** The bytes of every file the bot sent to `channel` in a create that succeeded. */
const sentFiles = (channel: string) =>
  twin.calls
    .filter((c) => c.method === 'POST' && c.path === `/channels/${channel}/messages` && c.body && FILES_KEY in (c.body as object))
    .map((c) => ({ status: c.status, files: (c.body as Record<string, Array<{ filename: string; bytes: Buffer }>>)[FILES_KEY]! }));

beforeAll(async () => {
  model = await startAnthropicModel(responder);
  sb = makeSandbox();
  twin = await startDiscordTwin({ channels: [...CHAT, 'general'] });
  ab = await startAgentbridge(
    discordEnv(
      sb,
      model,
      twin,
      CHAT.map((c) => twin.channels[c]!),
    ),
    sb.root,
  );
  await waitFor(() => twin.connected(), 10_000, 'agentbridge on the Gateway');
});

afterAll(async () => {
  const code = await ab?.stop();
  await twin?.close();
  await model?.close();
  expect(code).toBe(0);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('send_file on Discord, end to end', () => {
  it('the file is the attachment of one bot message, with the comment', async () => {
    const ch = twin.channels['chat-files']!;
    const csv = 'a,b\n1,2\n';
    fs.writeFileSync(path.join(sb.workdir, 'data.csv'), csv);
    twin.userSays({ user: 'Alice', channel: ch, content: 'please send data.csv saying the numbers @everyone' });
    const said = await answer(twin, ch, 'Tool said:', 60_000);
    expect(said.content).toBe(`Tool said: Sent data.csv (${csv.length} bytes).`);
    const messages = withFiles(ch);
    expect(messages).toHaveLength(1);
    const m = messages[0] as unknown as { content: string; attachments: Array<{ filename: string; size: number }> };
    expect(m.attachments).toEqual([expect.objectContaining({ filename: 'data.csv', size: csv.length })]);
    // The comment went through the renderer: no live @everyone.
    expect(m.content).toContain('the numbers');
    expect(m.content).not.toMatch(/(^|[^\u200b])@everyone/);
    const sent = sentFiles(ch);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.files[0]!.bytes.toString('utf8')).toBe(csv);
  });

  it('created, then the answer lost (500): the retry with the same nonce shows the file once', async () => {
    const ch = twin.channels['chat-files-retry']!;
    const bin = Buffer.alloc(20_000, 3);
    fs.writeFileSync(path.join(sb.workdir, 'blob.bin'), bin);
    twin.failAfterCreate('POST /channels/:c/messages', { status: 500, match: (b) => FILES_KEY in b });
    twin.userSays({ user: 'Alice', channel: ch, content: 'please send blob.bin' });
    await answer(twin, ch, 'Tool said:', 90_000);
    expect(withFiles(ch)).toHaveLength(1);
    const attempts = sentFiles(ch);
    expect(attempts.length).toBeGreaterThanOrEqual(2); // the lost one and the retry
    expect(twin.calls.some((c) => c.outcome === 'nonce-replay' && c.path === `/channels/${ch}/messages`)).toBe(true);
  });
});
