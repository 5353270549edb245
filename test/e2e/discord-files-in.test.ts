/**
 * End to end: files people attach on Discord (issue 13 "files in"). agentbridge runs as its own
 * process (the real discord.js client against the Discord twin) with the real `claude` CLI and
 * the scripted model, AGENTBRIDGE_MAX_FILE_MB=1.
 * - A text file attached to a message: the twin's CDN serves it once; the model's first request
 *   lists it under `Attached:` at `<workdir>/.agentbridge/files/…`; the script makes claude Read
 *   that path and the next request carries the file's content in the tool_result; one answer.
 * - A 2 MB attachment: not fetched (its declared size is over the limit); a channel post starting
 *   `⚠️ Not attached:` names it, and the message's text is still answered.
 * - An attachment the CDN answers 404 for: the same note, with the HTTP status.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { allText, lastUserText, startAnthropicModel, toolResults, type AnthropicModel, type RecordedRequest, type Responder } from '../models/anthropic.js';
import { answer, botAnswers, discordEnv } from '../twins/discord/harness.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';

const CHAT = ['files-read', 'files-big', 'files-gone'];
let model: AnthropicModel;
let sb: Sandbox;
let twin: DiscordTwin;
let ab: AgentbridgeProcess;

/** The first attached file's path in a prompt (`Attached:` list: `- <path> (<type>, <size>)`). */
const attachedPath = (text: string) => /^Attached:\n- (\/\S+) \(/m.exec(text)?.[1];

/** An attached file → Read it, then answer with what Read gave; otherwise echo. */
const responder: Responder = (req) => {
  const last = lastUserText(req);
  const results = toolResults(req);
  if (results.length)
    return { text: `Read it${results.at(-1)!.isError ? ' (error)' : ''}: ${results.at(-1)!.text.includes('the secret word is heron') ? 'heron' : 'no heron'}` };
  const file = attachedPath(last);
  if (file) return { toolUse: { name: 'Read', input: { file_path: file } } };
  return { text: `echo: ${last}` };
};

/** The main requests whose text contains `marker` (the requests of one test's turn). */
const requestsWith = (marker: string): RecordedRequest[] => model.mainRequests().filter((r) => allText(r).includes(marker));

beforeAll(async () => {
  model = await startAnthropicModel(responder);
  sb = makeSandbox();
  twin = await startDiscordTwin({ channels: [...CHAT, 'general'] });
  ab = await startAgentbridge(
    {
      ...discordEnv(
        sb,
        model,
        twin,
        CHAT.map((c) => twin.channels[c]!),
      ),
      AGENTBRIDGE_MAX_FILE_MB: '1',
    },
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

describe('files in on Discord, end to end', () => {
  it('a text file attached to a message is read by the agent through its path', async () => {
    const ch = twin.channels['files-read']!;
    const content = 'line one\nthe secret word is heron\nline three\n';
    const said = twin.userSays({
      user: 'Alice',
      channel: ch,
      content: 'what does notes.txt say? (files-read)',
      files: [{ name: 'notes.txt', bytes: content, contentType: 'text/plain' }],
    });
    const attachmentId = (said.attachments as Array<{ id: string }>)[0]!.id;
    const reply = await answer(twin, ch, 'Read it', 90_000);
    expect(reply.content).toBe('Read it: heron');

    // The model's first request of the turn lists the stored file under "Attached:".
    const turn = requestsWith('(files-read)');
    const file = attachedPath(lastUserText(turn[0]!));
    expect(file).toBeDefined();
    expect(file!.startsWith(path.join(fs.realpathSync(sb.workdir), '.agentbridge', 'files') + path.sep)).toBe(true);
    expect(path.basename(file!)).toBe('notes.txt');
    expect(lastUserText(turn[0]!)).toContain(`- ${file} (text/plain, `);
    expect(lastUserText(turn[0]!)).toContain('what does notes.txt say?');
    expect(fs.readFileSync(file!, 'utf8')).toBe(content);
    // The next request carries the Read tool's result: the file's content.
    const read = turn.find((r) => toolResults(r).length > 0);
    expect(read).toBeDefined();
    const result = toolResults(read!).at(-1)!;
    expect(result.isError).toBe(false);
    for (const line of content.trim().split('\n')) expect(result.text).toContain(line);

    // Downloaded once, without the bot token; one answer, no note.
    expect(twin.cdnDownloads.filter((d) => d.attachmentId === attachmentId).map((d) => [d.status, d.bytes, d.authorization])).toEqual([
      [200, Buffer.byteLength(content), undefined],
    ]);
    expect(botAnswers(twin, ch).map((m) => m.content)).toEqual(['Read it: heron']);
  });

  it('a file over AGENTBRIDGE_MAX_FILE_MB gets a "⚠️ Not attached:" note; the text is still answered', async () => {
    const ch = twin.channels['files-big']!;
    const said = twin.userSays({
      user: 'Bob',
      channel: ch,
      content: 'hello with a big file (files-big)',
      files: [{ name: 'big.log', bytes: Buffer.alloc(2 * 1024 * 1024, 0x61), contentType: 'text/plain' }],
    });
    const attachmentId = (said.attachments as Array<{ id: string }>)[0]!.id;
    const note = await answer(twin, ch, '⚠️ Not attached:', 90_000);
    expect(note.content).toContain('big.log');
    expect(note.content).toMatch(/1 MB/);
    const echoed = await answer(twin, ch, 'echo:', 90_000);
    expect(echoed.content).toContain('hello with a big file');
    // Its declared size is over the limit: never downloaded; the prompt says why it is missing.
    expect(twin.cdnDownloads.filter((d) => d.attachmentId === attachmentId)).toEqual([]);
    const prompt = lastUserText(requestsWith('(files-big)')[0]!);
    expect(prompt).toMatch(/Not attached:\n- big\.log \(2(\.0)? MB\): /);
    expect(prompt).not.toContain('Attached:\n');
    expect(botAnswers(twin, ch).filter((m) => m.content.startsWith('⚠️ Not attached:'))).toHaveLength(1);
  });

  it('a file the CDN answers 404 for gets the note with the status; the text is still answered', async () => {
    const ch = twin.channels['files-gone']!;
    twin.failNextDownload(404);
    twin.userSays({
      user: 'Carol',
      channel: ch,
      content: 'this one is gone (files-gone)',
      files: [{ name: 'gone.txt', bytes: 'never seen', contentType: 'text/plain' }],
    });
    const note = await answer(twin, ch, '⚠️ Not attached:', 90_000);
    expect(note.content).toContain('gone.txt');
    expect(note.content).toContain('download failed: HTTP 404');
    const echoed = await answer(twin, ch, 'echo:', 90_000);
    expect(echoed.content).toContain('this one is gone');
  });
});
