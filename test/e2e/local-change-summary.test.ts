/**
 * End to end: the change summary line (AGENTBRIDGE_CHANGE_SUMMARY) with agentbridge as its own
 * process, the local chat, the real `claude` CLI and the scripted Anthropic model. The workdir is
 * a git repository with one committed file (and an untracked file from before the turn); the model
 * makes claude read and edit the committed file and write a new one (claude's own Read, Edit and
 * Write tools, allowed without asking in the default `edit` mode); the answer in the chat ends with
 * the exact line. With the setting off, the same turn's answer has no line.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sequence, startAnthropicModel, toolResults, type AnthropicModel } from '../models/anthropic.js';
import { LocalChat, startAgentbridge, type AgentbridgeProcess, claudeServiceEnv } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';

let model: AnthropicModel;
let sb: Sandbox;
const running: AgentbridgeProcess[] = [];

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
});

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  model.setResponder(undefined);
});

afterAll(async () => {
  await model?.close();
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

/** A git repository in the sandbox: `notes.txt` committed, `scratch.txt` untracked (a change from before the turn). */
function gitWorkdir(name: string): string {
  const dir = path.join(sb.root, name);
  fs.mkdirSync(dir);
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', ...args], { cwd: dir, env: { PATH: process.env.PATH, HOME: sb.home } });
  git('init', '-q');
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'one\ntwo\nthree\n');
  git('add', 'notes.txt');
  git('commit', '-qm', 'base');
  fs.writeFileSync(path.join(dir, 'scratch.txt'), 'there before the turn\n');
  return dir;
}

/** The model's script: Read and Edit notes.txt (line two → two lines), Write "new file.md" (2 lines), then answer "Done.". */
function editScript(dir: string) {
  const notes = path.join(dir, 'notes.txt');
  return sequence(
    { toolUse: { name: 'Read', input: { file_path: notes } } },
    { toolUse: { name: 'Edit', input: { file_path: notes, old_string: 'two\n', new_string: 'TWO\nand a half\n' } } },
    { toolUse: { name: 'Write', input: { file_path: path.join(dir, 'new file.md'), content: '# New\nhello\n' } } },
    { text: 'Done.' },
  );
}

async function turn(workdir: string, extra: NodeJS.ProcessEnv): Promise<string> {
  const ab = await startAgentbridge(claudeServiceEnv(sb, model.url, { AGENTBRIDGE_WORKDIR: workdir, ...extra }), sb.root);
  running.push(ab);
  model.setResponder(editScript(workdir));
  const mark = model.mainRequests().length;
  const chat = new LocalChat(ab.url);
  const { thread } = await chat.send('general', 'edit the notes and add a new file', { user: 'alice' });
  // The answer replaces the progress message; it is posted whole (with its line), so once it shows it is final.
  const answer = await waitFor(async () => (await chat.botTexts('general', thread)).find((t) => t.startsWith('Done.')), 120_000, 'the answer');
  // The tools really ran (no error results): the edit and the new file are on disk.
  const results = model
    .mainRequests()
    .slice(mark)
    .flatMap((r) => toolResults(r));
  expect(results.filter((r) => r.isError)).toEqual([]);
  expect(fs.readFileSync(path.join(workdir, 'notes.txt'), 'utf8')).toBe('one\nTWO\nand a half\nthree\n');
  expect(fs.readFileSync(path.join(workdir, 'new file.md'), 'utf8')).toBe('# New\nhello\n');
  await ab.stop();
  return answer;
}

describe('the change summary line, end to end with Claude Code', () => {
  it('ends the answer with the exact line for a scripted edit (changes from before the turn left out)', async () => {
    const answer = await turn(gitWorkdir('repo-on'), {});
    expect(answer).toBe('Done.\n\n📝 2 files changed (+4 −1): new file.md, notes.txt');
  });

  it('with AGENTBRIDGE_CHANGE_SUMMARY=off the answer has no line', async () => {
    const answer = await turn(gitWorkdir('repo-off'), { AGENTBRIDGE_CHANGE_SUMMARY: 'off' });
    expect(answer).toBe('Done.');
  });
});
