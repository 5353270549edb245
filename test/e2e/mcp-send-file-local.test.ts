/**
 * End to end: the agent's `send_file` on the local chat. agentbridge runs as its own process with
 * the real `claude` CLI and the scripted Anthropic model. The model makes claude write a file
 * with its own Write tool, then call `mcp__agentbridge__send_file` on it; the file appears once in
 * the thread, downloadable with the same bytes (attachment, nosniff), an image inline. A path
 * outside the working directory, by `..` or through a symlink, is refused and the agent gets the
 * error as its tool result.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalChat, startAgentbridge, type AgentbridgeProcess, claudeServiceEnv } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { lastUserText, startAnthropicModel, toolResults, type AnthropicModel, type Responder } from '../models/anthropic.js';

let model: AnthropicModel;
let sb: Sandbox;
const running: AgentbridgeProcess[] = [];
const REPORT = 'line one\nline two: ünïcödé\n<script>alert(1)</script>\n';
/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64');

interface LocalFileMessage {
  id: string;
  text: string;
  bot: boolean;
  file?: { name: string; size: number; type: string };
}

/**
 * "make a report": Write report.txt, then send_file it; "send <path>": send_file that path.
 * After the last tool result: an answer quoting it (`ERROR ` first when it was an error).
 */
const responder: Responder = (req) => {
  const last = lastUserText(req);
  const results = toolResults(req);
  if (last.includes('make a report')) {
    if (results.length === 0) return { toolUse: { name: 'Write', input: { file_path: path.join(sb.workdir, 'report.txt'), content: REPORT } } };
    if (results.length === 1) return { toolUse: { name: 'mcp__agentbridge__send_file', input: { path: 'report.txt', comment: 'Here is the **report**.' } } };
  }
  const send = /send (\S+)/.exec(last);
  if (send && results.length === 0) return { toolUse: { name: 'mcp__agentbridge__send_file', input: { path: send[1] } } };
  if (results.length) return { text: `Tool said: ${results.at(-1)!.isError ? 'ERROR ' : ''}${results.at(-1)!.text}` };
  return { text: `echo: ${last}` };
};

beforeAll(async () => {
  model = await startAnthropicModel(responder);
  sb = makeSandbox();
});

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});

afterAll(async () => {
  await model?.close();
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

async function messages(chat: LocalChat, thread: string): Promise<LocalFileMessage[]> {
  return (await chat.messages('general', thread)) as unknown as LocalFileMessage[];
}

describe('send_file on the local chat, end to end', () => {
  it('a file the agent wrote appears once and downloads with its bytes; an image shows inline; outside paths and symlinks are refused', async () => {
    const outside = path.join(sb.root, 'secret.txt');
    fs.writeFileSync(outside, 'top secret');
    fs.symlinkSync(outside, path.join(sb.workdir, 'link.txt'));
    fs.writeFileSync(path.join(sb.workdir, 'plot.png'), PNG);
    const ab = await startAgentbridge(claudeServiceEnv(sb, model.url), sb.root);
    running.push(ab);
    const chat = new LocalChat(ab.url);

    // The agent writes report.txt, then sends it.
    const { thread } = await chat.send('general', 'please make a report', { user: 'alice' });
    const answer = await waitFor(async () => (await chat.botTexts('general', thread)).find((t) => t.startsWith('Tool said:')), 60_000, 'the answer');
    expect(answer).toBe('Tool said: Sent report.txt (' + Buffer.byteLength(REPORT) + ' bytes).');
    const withFile = (await messages(chat, thread)).filter((m) => m.file);
    expect(withFile).toHaveLength(1);
    const [msg] = withFile;
    expect(msg!.bot).toBe(true);
    expect(msg!.text).toBe('Here is the **report**.');
    expect(msg!.file).toEqual({ name: 'report.txt', size: Buffer.byteLength(REPORT), type: 'text/plain' });
    const res = await fetch(`${ab.url}/api/local/files/${msg!.id}`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).toString('utf8')).toBe(REPORT);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="report.txt"/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-type')).toBe('text/plain');
    // The copy in the data directory is gone once delivered.
    await waitFor(() => fs.readdirSync(path.join(sb.root, 'data', 'outgoing-files')).length === 0, 10_000, 'the delivered copy deleted');
    expect((await fetch(`${ab.url}/api/local/files/0000000000000-0000-zzzz`)).status).toBe(404);
    expect((await fetch(`${ab.url}/api/local/files/..%2Fagentbridge.db`)).status).toBe(404);

    // An image is served inline.
    const plot = await chat.send('general', 'send plot.png', { user: 'alice' });
    await waitFor(async () => (await chat.botTexts('general', plot.thread)).find((t) => t.startsWith('Tool said:')), 60_000, 'the plot answer');
    const image = (await messages(chat, plot.thread)).find((m) => m.file)!;
    expect(image.file).toEqual({ name: 'plot.png', size: PNG.length, type: 'image/png' });
    const img = await fetch(`${ab.url}/api/local/files/${image.id}`);
    expect(Buffer.from(await img.arrayBuffer()).equals(PNG)).toBe(true);
    expect(img.headers.get('content-disposition')).toMatch(/^inline; /);

    // Outside the working directory: by `..`, by absolute path, and through a symlink.
    for (const [ask, why] of [
      ['../secret.txt', /outside the working directory/],
      [outside, /outside the working directory/],
      ['link.txt', /link\.txt resolves to .*secret\.txt, outside the working directory/],
      ['missing.txt', /no file at missing\.txt/],
      ['.', /is a directory/],
    ] as const) {
      const t = await chat.send('general', `send ${ask}`, { user: 'alice' });
      const refused = await waitFor(
        async () => (await chat.botTexts('general', t.thread)).find((x) => x.startsWith('Tool said:')),
        60_000,
        `the answer to ${ask}`,
      );
      expect(refused).toMatch(/^Tool said: ERROR /);
      expect(refused).toMatch(why);
      expect((await messages(chat, t.thread)).some((m) => m.file)).toBe(false);
    }
    expect(JSON.stringify(await messages(chat, thread))).not.toContain('top secret');
    await ab.stop();
  });
});
