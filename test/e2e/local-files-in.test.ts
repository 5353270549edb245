/**
 * End to end: files people send in the local chat reach the agent (issue 13 "files in").
 * agentbridge runs as its own process with the real `claude` CLI and the scripted Anthropic model;
 * files go up the way the page sends them (`POST /api/local/files`, multipart), then with a
 * message (`files: [id]`).
 *
 * (a) A text file: the model's first request lists its path under `.agentbridge/files/` in the
 *     `Attached:` list; the script answers with a Read tool call on that path; the next request
 *     holds the file's content in the tool_result; one answer in the thread.
 * (b) Too large: 413 at upload. And a file within the limit when it was uploaded but over it by
 *     the time of the turn (agentbridge restarted with a lower AGENTBRIDGE_MAX_FILE_MB between
 *     the upload and the message): a `⚠️ Not attached:` note in the thread, the prompt's
 *     `Not attached:` list, and the text is still answered.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalChat, startAgentbridge, type AgentbridgeProcess, claudeServiceEnv } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { lastUserText, startAnthropicModel, toolResults, type AnthropicModel, type RecordedRequest, type Responder } from '../models/anthropic.js';

let model: AnthropicModel;
let sb: Sandbox;
const running: AgentbridgeProcess[] = [];
const MiB = 1024 * 1024;
const NOTES = 'the secret word is ALBATROSS\nsecond line: ünïcödé\n';

/** The first path listed under `Attached:` in a prompt. */
function attachedPath(text: string): string | undefined {
  return /^Attached:\n- (\/\S+) \(/m.exec(text)?.[1];
}

/**
 * A prompt with an `Attached:` file: Read it, then answer with what the tool gave. Otherwise an
 * echo of the text.
 */
const responder: Responder = (req) => {
  const last = lastUserText(req);
  const results = toolResults(req);
  const file = attachedPath(last);
  if (file && results.length === 0) return { toolUse: { name: 'Read', input: { file_path: file } } };
  if (results.length) return { text: `Read it: ${results.at(-1)!.isError ? 'ERROR ' : ''}${/ALBATROSS/.test(results.at(-1)!.text) ? 'ALBATROSS' : 'nothing'}` };
  return { text: `echo: ${last.split('\n')[0]}` };
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

async function start(maxFileMb: number): Promise<AgentbridgeProcess> {
  const ab = await startAgentbridge(claudeServiceEnv(sb, model.url, { AGENTBRIDGE_MAX_FILE_MB: String(maxFileMb) }), sb.root);
  running.push(ab);
  return ab;
}

/** Uploads a file as the page does (multipart, one part `file`). */
async function upload(
  url: string,
  name: string,
  data: Buffer | string,
  type: string,
): Promise<{ status: number; body: { file?: { id: string; size: number }; error?: string } }> {
  const form = new FormData();
  form.append('file', new Blob([data], { type }), name);
  const res = await fetch(`${url}/api/local/files`, { method: 'POST', body: form });
  return { status: res.status, body: (await res.json()) as never };
}

/** Sends a message with files (the page's body). */
async function send(url: string, text: string, files: string[]): Promise<{ message: string; thread: string }> {
  const res = await fetch(`${url}/api/local/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'general', text, user: 'alice', files }),
  });
  if (res.status !== 202) throw new Error(`POST /api/local/messages → ${res.status}: ${await res.text()}`);
  return (await res.json()) as { message: string; thread: string };
}

/** The model's main requests since `mark` (the count of main requests before). */
function requestsSince(mark: number): RecordedRequest[] {
  return model.mainRequests().slice(mark);
}

describe('files in on the local chat, end to end', () => {
  it('(a) an attached text file is listed by path, read by the agent through its Read tool, and answered once', async () => {
    const ab = await start(25);
    const chat = new LocalChat(ab.url);
    const up = await upload(ab.url, 'notes.txt', NOTES, 'text/plain');
    expect(up.status).toBe(201);
    const mark = model.mainRequests().length;
    const { thread } = await send(ab.url, 'what is the secret word in my notes?', [up.body.file!.id]);
    const answer = await waitFor(async () => (await chat.botTexts('general', thread)).find((t) => t.startsWith('Read it:')), 90_000, 'the answer');
    expect(answer).toBe('Read it: ALBATROSS');

    const requests = requestsSince(mark);
    const first = requests.find((r) => attachedPath(lastUserText(r)) !== undefined)!;
    const prompt = lastUserText(first);
    expect(prompt).toContain('what is the secret word in my notes?');
    const file = attachedPath(prompt)!;
    // <workdir>/.agentbridge/files/<message folder>/notes.txt, with its type and size.
    expect(file.startsWith(path.join(fs.realpathSync(sb.workdir), '.agentbridge', 'files') + path.sep)).toBe(true);
    expect(path.basename(file)).toBe('notes.txt');
    expect(prompt).toContain(`- ${file} (text/plain, ${Buffer.byteLength(NOTES)} bytes)`);
    expect(fs.readFileSync(file, 'utf8')).toBe(NOTES);
    // The next request carries the file's content back as the Read tool's result.
    const next = requests[requests.indexOf(first) + 1]!;
    const result = toolResults(next).at(-1)!;
    expect(result.isError).toBe(false);
    expect(result.text).toContain('the secret word is ALBATROSS');
    expect(result.text).toContain('second line: ünïcödé');

    // The thread: the user's message with its file, and one answer.
    const msgs = (await chat.messages('general', thread)) as unknown as Array<{ bot: boolean; text: string; files?: Array<{ id: string; name: string }> }>;
    expect(msgs.filter((m) => !m.bot).map((m) => m.files?.map((f) => f.name))).toEqual([['notes.txt']]);
    expect(msgs.filter((m) => m.bot && m.text.startsWith('Read it:'))).toHaveLength(1);
    // Served back with the chat's access rule: a download.
    const served = await fetch(`${ab.url}/api/local/files/${up.body.file!.id}`);
    expect(await served.text()).toBe(NOTES);
    expect(served.headers.get('content-disposition')).toMatch(/^attachment; filename="notes.txt"/);
    await ab.stop();
  });

  it('(b) too large: 413 at upload; a file over the limit by the time of the turn gets a "⚠️ Not attached:" note and the text is answered', async () => {
    let ab = await start(1);
    const uploads = () => (fs.existsSync(path.join(sb.root, 'data', 'uploads')) ? fs.readdirSync(path.join(sb.root, 'data', 'uploads')).sort() : []);
    const before = uploads();
    // The page's path: the upload is refused with a clear error, nothing kept.
    const tooBig = await upload(ab.url, 'huge.log', Buffer.alloc(MiB + 1, 0x61), 'text/plain');
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error).toBe('huge.log (1.0 MiB) is larger than the 1 MiB limit per file');
    expect(uploads()).toEqual(before);
    await ab.stop();

    // Uploaded under a 2 MiB limit, sent after a restart with 1 MiB.
    ab = await start(2);
    const big = await upload(ab.url, 'big.txt', Buffer.alloc(1.5 * MiB, 0x62), 'text/plain');
    expect(big.status).toBe(201);
    expect(await ab.stop()).toBe(0);
    ab = await start(1);
    const chat = new LocalChat(ab.url);
    const mark = model.mainRequests().length;
    const { thread } = await send(ab.url, 'here is the big one', [big.body.file!.id]);
    const note = await waitFor(async () => (await chat.botTexts('general', thread)).find((t) => t.startsWith('⚠️ Not attached:')), 90_000, 'the note');
    expect(note).toContain('`big.txt` (1.5 MB): larger than the 1 MB limit per file (AGENTBRIDGE_MAX_FILE_MB)');
    const answer = await waitFor(async () => (await chat.botTexts('general', thread)).find((t) => t.startsWith('echo:')), 90_000, 'the answer');
    expect(answer).toBe('echo: here is the big one');
    const prompt = lastUserText(requestsSince(mark).at(-1)!);
    expect(prompt).toContain('Not attached:\n- big.txt (1.5 MB): larger than the 1 MB limit per file');
    expect(prompt).not.toContain('Attached:\n-');
    const bot = await chat.botTexts('general', thread);
    expect(bot.filter((t) => t.startsWith('⚠️ Not attached:'))).toHaveLength(1);
    expect(bot.filter((t) => t.startsWith('echo:'))).toHaveLength(1);
    await ab.stop();
  });
});
