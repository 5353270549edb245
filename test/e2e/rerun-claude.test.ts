/**
 * End to end: a turn cut by a SIGKILL of agentbridge, or by a shutdown, reaches the agent once.
 * agentbridge as its own process, the local chat API, the real `claude` CLI and the scripted
 * Anthropic model. Without the re-run handling (src/conversation/rerun.ts) the re-run resumes the
 * CLI's session file, which already holds the cut prompt, and the model sees message 2 twice.
 * Also: a 200 KB message is answered end to end (prompts go to the CLI over stdin).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RERUN_NOTE } from '../../src/conversation/rerun.js';
import { allText, echo, lastUserText, startAnthropicModel, type AnthropicModel, type RecordedRequest } from '../models/anthropic.js';
import { LocalChat, startAgentbridge, type AgentbridgeProcess, claudeServiceEnv } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';

let model: AnthropicModel;
let sb: Sandbox;
const running: AgentbridgeProcess[] = [];

async function start(extra: NodeJS.ProcessEnv = {}): Promise<AgentbridgeProcess> {
  const p = await startAgentbridge(claudeServiceEnv(sb, model.url, extra), sb.root);
  running.push(p);
  return p;
}

const count = (hay: string, needle: string) => hay.split(needle).length - 1;

/** `answers` maps a text in the last user message to the answer (or a hang); the rest are echoed. */
function script(answers: Record<string, string | 'HANG'>) {
  model.setResponder((req: RecordedRequest) => {
    const last = lastUserText(req);
    for (const [needle, answer] of Object.entries(answers)) {
      if (last.includes(needle)) return answer === 'HANG' ? { hang: true } : { text: answer };
    }
    return echo(req);
  });
}

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
});

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  model.setResponder(undefined);
  // No agent process (nor agentbridge) is left behind.
  expect(processesMentioning(sb.root)).toEqual([]);
});

afterAll(async () => {
  await model?.close();
  sb?.cleanup();
});

/**
 * Message 1 answered; message 2's turn reaches the model and is then cut by `cut`; after the
 * next start message 2 is answered once and the agent saw each message once.
 */
async function cutAndRerun(tag: string, cut: (ab: AgentbridgeProcess) => Promise<void>, env: NodeJS.ProcessEnv = {}) {
  const first = `remember ALPHA-${tag}`;
  const answer1 = `ANSWER-ONE-${tag}`;
  const second = `second message BETA-${tag}`;
  const answer2 = `ANSWER-TWO-${tag}`;
  let ab = await start(env);
  let chat = new LocalChat(ab.url);
  script({ [first]: answer1 });
  const { thread } = await chat.send('general', first, { user: 'alice' });
  await waitFor(async () => (await chat.botTexts('general', thread)).includes(answer1), 45_000, 'answer 1');

  script({ [second]: 'HANG', [first]: answer1 });
  await chat.send('general', second, { thread, user: 'alice' });
  // The CLI has sent message 2 to the model: it is in its session file now.
  await waitFor(() => model.mainRequests().some((r) => lastUserText(r).includes(second)), 45_000, 'the model to receive message 2');
  const before = model.mainRequests().length;
  await cut(ab);

  script({ [second]: answer2, [first]: answer1 });
  ab = await start(env);
  chat = new LocalChat(ab.url);
  await waitFor(async () => (await chat.botTexts('general', thread)).includes(answer2), 60_000, 'message 2 answered after the restart');

  const rerun = model.mainRequests().slice(before);
  expect(rerun).toHaveLength(1);
  const text = allText(rerun[0]!);
  expect(count(text, first)).toBe(1);
  expect(count(text, answer1)).toBe(1);
  expect(count(text, second)).toBe(1);
  expect(count(text, RERUN_NOTE)).toBe(1);
  expect(text.indexOf(answer1)).toBeLessThan(text.indexOf(RERUN_NOTE));
  expect(lastUserText(rerun[0]!)).toBe(`${RERUN_NOTE}\n\n${second}`);

  // Message 2 answered exactly once; the thread shows each user message once.
  const msgs = await chat.messages('general', thread);
  expect(msgs.filter((m) => m.bot && m.text === answer2)).toHaveLength(1);
  expect(msgs.filter((m) => !m.bot).map((m) => m.text)).toEqual([first, second]);

  // The next turn continues the re-run's branch: each earlier message still once.
  const mark = model.mainRequests().length;
  await chat.send('general', `third GAMMA-${tag}`, { thread, user: 'alice' });
  await waitFor(async () => (await chat.botTexts('general', thread)).some((t) => t === `echo: third GAMMA-${tag}`), 45_000, 'answer 3');
  const next = allText(model.mainRequests().slice(mark).at(-1)!);
  expect(count(next, first)).toBe(1);
  expect(count(next, second)).toBe(1);
  expect(count(next, answer1)).toBe(1);
  expect(count(next, answer2)).toBe(1);
}

describe('a cut turn reaches the agent once (real claude CLI)', () => {
  it('after a SIGKILL of agentbridge mid-turn', async () => {
    await cutAndRerun('kill', async (ab) => {
      ab.child.kill('SIGKILL');
      await ab.exited;
    });
  });

  it('after a SIGTERM shutdown whose grace period ends mid-turn', async () => {
    await cutAndRerun(
      'term',
      async (ab) => {
        expect(await ab.stop('SIGTERM')).toBe(0);
      },
      { AGENTBRIDGE_SHUTDOWN_GRACE_S: '1' },
    );
  });
});

describe('large messages (real claude CLI)', () => {
  it('a 200 KB message posted to the local chat API is answered end to end', async () => {
    const ab = await start();
    const chat = new LocalChat(ab.url);
    const lines = ['-starts like a flag'];
    for (let i = 0; lines.join('\n').length < 200_000; i++) lines.push(`line ${i}: the quick brown fox jumps over the lazy dog`);
    const big = lines.join('\n');
    expect(big.length).toBeGreaterThan(200_000);
    model.setResponder((req) => ({ text: `got ${lastUserText(req).length} characters` }));
    const { thread } = await chat.send('general', big, { user: 'alice' });
    await waitFor(async () => (await chat.botTexts('general', thread)).includes(`got ${big.length} characters`), 60_000, 'the answer to the big message');
    expect(model.mainRequests().filter((r) => lastUserText(r) === big)).toHaveLength(1);
  });
});
