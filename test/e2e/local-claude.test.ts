/**
 * End to end: agentbridge as its own process, the local chat HTTP API, the real `claude` CLI and
 * the scripted Anthropic model server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RERUN_NOTE } from '../../src/conversation/rerun.js';
import { allText, lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { LocalChat, startAgentbridge, type AgentbridgeProcess, claudeServiceEnv } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';

let model: AnthropicModel;
let sb: Sandbox;
const running: AgentbridgeProcess[] = [];

function env(): NodeJS.ProcessEnv {
  return claudeServiceEnv(sb, model.url);
}

async function start(): Promise<AgentbridgeProcess> {
  const p = await startAgentbridge(env(), sb.root);
  running.push(p);
  return p;
}

/** Waits for a bot message in the thread that starts with `prefix` (a final answer, not the progress message). */
async function answer(chat: LocalChat, thread: string, prefix: string): Promise<string> {
  return waitFor(async () => (await chat.botTexts('general', thread)).find((t) => t.startsWith(prefix)), 45_000, `answer starting "${prefix}"`);
}

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

describe('local chat with Claude Code, end to end', () => {
  it('answers, continues the thread with its history, and keeps the context across a restart', async () => {
    let ab = await start();
    const health = await fetch(`${ab.url}/healthz`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { agent: string }).agent).toBe('claude');

    let chat = new LocalChat(ab.url);
    const { thread, message } = await chat.send('general', 'hello agent, remember the word PELICAN', { user: 'alice' });
    expect(thread).toBe(message);
    await answer(chat, thread, 'echo: hello agent, remember the word PELICAN');

    const before = model.mainRequests().length;
    await chat.send('general', 'what was the word?', { thread, user: 'alice' });
    await answer(chat, thread, 'echo: what was the word?');
    const second = model.mainRequests().slice(before).at(-1)!;
    expect(allText(second)).toContain('remember the word PELICAN');
    expect(allText(second)).toContain('echo: hello agent, remember the word PELICAN');

    // Restart between messages: the agent session is resumed from the stored id.
    expect(await ab.stop()).toBe(0);
    ab = await start();
    chat = new LocalChat(ab.url);
    const mark = model.mainRequests().length;
    await chat.send('general', 'and after the restart?', { thread, user: 'alice' });
    await answer(chat, thread, 'echo: and after the restart?');
    const third = model.mainRequests().slice(mark).at(-1)!;
    expect(allText(third)).toContain('remember the word PELICAN');
    expect(allText(third)).toContain('what was the word?');

    // The thread shows each user message once and each answer once, in order.
    const msgs = await chat.messages('general', thread);
    expect(msgs.filter((m) => !m.bot).map((m) => m.text)).toEqual(['hello agent, remember the word PELICAN', 'what was the word?', 'and after the restart?']);
    expect(msgs.filter((m) => m.bot).map((m) => m.text)).toEqual([
      'echo: hello agent, remember the word PELICAN',
      'echo: what was the word?',
      'echo: and after the restart?',
    ]);
    await ab.stop();
  });

  it('a turn cut by a shutdown is announced and answered after the next start', async () => {
    let ab = await start();
    let chat = new LocalChat(ab.url);
    model.setResponder(() => ({ hang: true }));
    const mark = model.mainRequests().length;
    const { thread } = await chat.send('general', 'a long task', { user: 'bob' });
    await waitFor(() => model.mainRequests().length > mark, 30_000, 'the model to receive the turn');
    expect(await ab.stop('SIGTERM')).toBe(0);
    expect(processesMentioning(sb.root)).toEqual([]);

    // The re-run's prompt starts with the interruption note; echo the message without it.
    model.setResponder((req) => ({ text: `echo: ${lastUserText(req).replace(`${RERUN_NOTE}\n\n`, '')}` }));
    ab = await start();
    chat = new LocalChat(ab.url);
    await answer(chat, thread, '🔄 agentbridge restarted while working');
    await answer(chat, thread, 'echo: a long task');
    const bot = await chat.botTexts('general', thread);
    expect(bot.filter((t) => t.includes('echo: a long task'))).toHaveLength(1);
    expect(lastUserText(model.mainRequests().at(-1)!)).toBe(`${RERUN_NOTE}\n\na long task`);
    await ab.stop();
  });

  it("keeps the context when the agent's own session files are lost (continues from the transcript)", async () => {
    let ab = await start();
    let chat = new LocalChat(ab.url);
    const { thread } = await chat.send('general', 'the code word is HERON', { user: 'carol' });
    await answer(chat, thread, 'echo: the code word is HERON');
    expect(await ab.stop()).toBe(0);
    // As if the agent's home were not kept (e.g. a container recreated without its volume).
    const projects = path.join(sb.env.CLAUDE_CONFIG_DIR!, 'projects');
    expect(fs.existsSync(projects)).toBe(true);
    fs.rmSync(projects, { recursive: true, force: true });

    ab = await start();
    chat = new LocalChat(ab.url);
    const mark = model.mainRequests().length;
    await chat.send('general', 'which word?', { thread, user: 'carol' });
    const text = await answer(chat, thread, "ℹ️ The agent's earlier session could not be restored");
    expect(text).toContain('echo: ');
    const retried = model.mainRequests().slice(mark).at(-1)!;
    expect(allText(retried)).toContain('the code word is HERON');
    expect(allText(retried)).toContain('which word?');
    await ab.stop();
  });
});
