/**
 * End to end: files people attach on Slack (issue 13 "files in"), over the Slack twin (Socket
 * Mode) with agentbridge as its own process, the real `claude` CLI and the scripted model.
 * AGENTBRIDGE_MAX_FILE_MB=1 throughout.
 *
 * - A text file attached to a mention is downloaded from the twin's `url_private_download` with the
 *   bot token (once), stored under `<workdir>/.agentbridge/files/<message>/`, listed in the
 *   prompt's `Attached:` lines; the model reads it with claude's Read tool and the file's content
 *   comes back in the tool_result; the answer is posted once.
 * - A 2 MB file → a thread note starting `⚠️ Not attached:`, and the message's text is answered.
 * - A download that fails (the twin answers 404) → the same kind of note, and the text is answered.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageFolder } from '../../src/core/attachments.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { lastUserText, startAnthropicModel, toolResults, type AnthropicModel, type RecordedRequest, type Responder } from '../models/anthropic.js';
import { answersStartingWith, botMessages, CHANNEL, slackEnv, USERS, waitForAnswer } from '../twins/slack/harness.js';
import { SlackTwin } from '../twins/slack/twin.js';

let model: AnthropicModel;
let twin: SlackTwin;
let sb: Sandbox;
let ab: AgentbridgeProcess | undefined;

/** The path of the prompt's first `Attached:` line (`- <path> (<type>, <size>)`). */
const attachedPath = (text: string) => /^Attached:\n- (.+) \([^()]+\)$/m.exec(text)?.[1];

/** An attached file → Read it, then "read: ok"; a file not attached → say so; else echo. */
const responder: Responder = (req) => {
  const last = lastUserText(req);
  const results = toolResults(req);
  const file = attachedPath(last);
  if (file && results.length === 0) return { toolUse: { name: 'Read', input: { file_path: file } } };
  if (results.length) return { text: `read: ${results.at(-1)!.isError ? 'ERROR' : 'ok'}` };
  if (last.includes('Not attached:')) return { text: `answered without the file: ${last.split('\n')[0]}` };
  return { text: `echo: ${last}` };
};

/** The agent's requests of the turn whose prompt contains `marker`, in order. */
const requestsWith = (marker: string): RecordedRequest[] => model.mainRequests().filter((r) => lastUserText(r).includes(marker));

/** Slack text without the zero-width spaces the renderer puts next to Markdown it neutralises. */
const plain = (text: string) => text.replace(/\u200b/g, '');

beforeAll(async () => {
  [model, twin] = await Promise.all([startAnthropicModel(responder), SlackTwin.start({ users: USERS })]);
  sb = makeSandbox();
  ab = await startAgentbridge({ ...slackEnv(sb, model, twin, 'socket'), AGENTBRIDGE_MAX_FILE_MB: '1' }, sb.root);
});

afterAll(async () => {
  const code = await ab?.stop();
  await Promise.all([model?.close(), twin?.close()]);
  expect(code).toBe(0);
  expect(processesMentioning(sb.root)).toEqual([]);
  // The bot token that fetched the files reaches neither the logs nor the agent; nor do the private URLs.
  expect(JSON.stringify(ab!.logs) + ab!.stderr()).not.toContain(twin.botToken);
  const agentSaw = JSON.stringify(model.requests);
  expect(agentSaw).not.toContain(twin.botToken);
  expect(agentSaw).not.toContain('/files-pri/');
  sb?.cleanup();
});

describe('files attached on Slack, end to end with Claude Code', () => {
  it('a text file attached to a mention is downloaded once with the bot token and read by the agent', async () => {
    const content = 'line one of the notes\nthe secret word is papaya\n';
    const file = twin.addFile({ name: 'notes.txt', content, mimetype: 'text/plain' });
    const post = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'summarise the attached notes', mention: true, files: [file] });
    await waitForAnswer(twin, CHANNEL, post.ts, 'read: ok', 120_000);

    const stored = path.join(fs.realpathSync(sb.workdir), '.agentbridge', 'files', messageFolder(`slack:${twin.teamId}:${CHANNEL}:${post.ts}`), 'notes.txt');
    const requests = requestsWith('summarise the attached notes');
    expect(requests.length).toBeGreaterThanOrEqual(2);
    // The first request lists the stored file; the next one carries its content back from Read.
    expect(lastUserText(requests[0]!)).toContain(`summarise the attached notes\n\nAttached:\n- ${stored} (text/plain, ${content.length} bytes)`);
    expect(toolResults(requests[0]!)).toEqual([]);
    const read = toolResults(requests[1]!);
    expect(read).toHaveLength(1);
    expect(read[0]!.isError).toBe(false);
    expect(read[0]!.text).toContain('the secret word is papaya');
    expect(fs.readFileSync(stored, 'utf8')).toBe(content);

    expect(twin.downloadsOf(String(file.id)).map((d) => [d.auth, d.status])).toEqual([['bot', 200]]);
    expect(answersStartingWith(twin, CHANNEL, post.ts, 'read: ok')).toHaveLength(1);
    expect(botMessages(twin, CHANNEL, post.ts).filter((m) => m.text.includes('Not attached'))).toEqual([]);
  });

  it('a file over AGENTBRIDGE_MAX_FILE_MB gets a ⚠️ Not attached note; the text is still answered', async () => {
    const big = twin.addFile({ name: 'big.bin', content: Buffer.alloc(2 * 1024 * 1024, 1), mimetype: 'application/octet-stream' });
    const post = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'what is in the big file', mention: true, files: [big] });
    const answer = await waitForAnswer(twin, CHANNEL, post.ts, 'answered without the file:', 120_000);
    expect(answer.text).toContain('what is in the big file');
    const notes = botMessages(twin, CHANNEL, post.ts).filter((m) => plain(m.text).startsWith('⚠️ Not attached:'));
    expect(notes).toHaveLength(1);
    expect(plain(notes[0]!.text)).toContain('big.bin');
    expect(plain(notes[0]!.text)).toContain('larger than the 1 MB limit per file (AGENTBRIDGE_MAX_FILE_MB)');
    // The prompt says why; a declared size over the limit is not downloaded at all.
    expect(lastUserText(requestsWith('what is in the big file')[0]!)).toMatch(/Not attached:\n- big\.bin \(2\.0 MB\): larger than the 1 MB limit/);
    expect(twin.downloadsOf(String(big.id))).toEqual([]);
  });

  it('a failed download (HTTP 404) gets a ⚠️ Not attached note naming the failure; the text is still answered', async () => {
    const lost = twin.addFile({ name: 'lost.log', content: 'never seen', mimetype: 'text/plain' });
    twin.failDownloads(String(lost.id), 404);
    const post = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'check the lost log', mention: true, files: [lost] });
    await waitForAnswer(twin, CHANNEL, post.ts, 'answered without the file:', 120_000);
    const notes = await waitFor(
      () => {
        const found = botMessages(twin, CHANNEL, post.ts).filter((m) => plain(m.text).startsWith('⚠️ Not attached:'));
        return found.length ? found : undefined;
      },
      20_000,
      'the not-attached note',
    );
    expect(notes).toHaveLength(1);
    expect(plain(notes[0]!.text)).toContain('lost.log');
    expect(plain(notes[0]!.text)).toContain('download failed: HTTP 404');
    expect(twin.downloadsOf(String(lost.id)).map((d) => [d.auth, d.status])).toEqual([['bot', 404]]);
    expect(answersStartingWith(twin, CHANNEL, post.ts, 'answered without the file:')).toHaveLength(1);
  });
});
