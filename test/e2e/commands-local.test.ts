/**
 * End to end on the local chat: chat commands (`/agent …`), access control, graceful shutdown
 * and restart, and /metrics — agentbridge as its own process, the real `claude` CLI and the
 * scripted Anthropic model server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RERUN_NOTE } from '../../src/conversation/rerun.js';
import { allText, lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { LocalChat, addLocalUsers, startAgentbridge, type AgentbridgeProcess, claudeServiceEnv } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';

let model: AnthropicModel;
let sb: Sandbox;
const running: AgentbridgeProcess[] = [];
/** Processes started by `/agent restart` (not children of the test). */
const restarted: number[] = [];
let dataN = 0;
const dataDirs: string[] = [];
/** API tokens of the local users (alice, bob, root, mallory) per data directory. */
const tokensByDir = new Map<string, Record<string, string>>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function env(dataDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return claudeServiceEnv(sb, model.url, {
    AGENTBRIDGE_DATA_DIR: dataDir,
    AGENTBRIDGE_WORKSPACES_ROOT: path.join(sb.root, 'workspaces'),
    AGENTBRIDGE_ADMINS: 'local:root',
    AGENTBRIDGE_ALLOWED_USERS: 'local:alice,local:bob',
    ...extra,
  });
}

/**
 * Starts agentbridge on a fresh data directory (or `dataDir`). The access lists name `local:`
 * users, so login is required: a fresh directory gets the users alice, bob, root and mallory
 * (`agentbridge users add --token`), and the chat sends each one's bearer token.
 */
async function start(
  extra: NodeJS.ProcessEnv = {},
  dataDir = path.join(sb.root, `data-${++dataN}`),
): Promise<{ ab: AgentbridgeProcess; chat: LocalChat; dataDir: string }> {
  dataDirs.push(dataDir);
  let tokens = tokensByDir.get(dataDir);
  if (!tokens) {
    tokens = await addLocalUsers(env(dataDir, extra), sb.root, [{ name: 'alice' }, { name: 'bob' }, { name: 'root' }, { name: 'mallory' }]);
    tokensByDir.set(dataDir, tokens);
  }
  const ab = await startAgentbridge(env(dataDir, extra), sb.root);
  running.push(ab);
  return { ab, chat: new LocalChat(ab.url, tokens), dataDir };
}

/** Waits for a bot message in the thread that starts with `prefix`. */
async function botMessage(chat: LocalChat, thread: string, prefix: string, timeoutMs = 45_000): Promise<string> {
  return waitFor(async () => (await chat.botTexts('general', thread)).find((t) => t.startsWith(prefix)), timeoutMs, `bot message starting "${prefix}"`);
}

/** Sends `/agent …` as `user` in the thread; resolves with the reply (the next new bot message). */
async function command(chat: LocalChat, thread: string, text: string, user = 'alice'): Promise<string> {
  const before = (await chat.botTexts('general', thread)).length;
  await chat.send('general', text, { thread, user });
  return waitFor(async () => (await chat.botTexts('general', thread))[before], 15_000, `reply to "${text}"`);
}

/** Agent processes (claude) still alive: processes mentioning the sandbox, minus agentbridge itself. */
function agentProcesses(ab: AgentbridgeProcess) {
  return processesMentioning(sb.root).filter((p) => p.pid !== ab.child.pid && !restarted.includes(p.pid));
}

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
});

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  // Safety net: an agentbridge a restart started but the test never saw (it holds the lock).
  for (const dir of dataDirs.splice(0)) {
    try {
      const pid = (JSON.parse(fs.readFileSync(path.join(dir, 'agentbridge.lock'), 'utf8')) as { pid: number }).pid;
      if (alive(pid) && !restarted.includes(pid)) restarted.push(pid);
    } catch {
      /* no lock: nothing running there */
    }
  }
  for (const pid of restarted.splice(0)) {
    if (alive(pid)) process.kill(pid, 'SIGTERM');
    await waitFor(() => !alive(pid), 25_000, `restarted agentbridge ${pid} to exit`).catch(() => process.kill(pid, 'SIGKILL'));
  }
  model.setResponder(undefined);
});

afterAll(async () => {
  await model?.close();
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('chat commands in the local chat', () => {
  it('status, help, usage messages, model, agent, workdir, cron, sessions; admin commands refused for non-admins; /metrics', async () => {
    const { ab, chat } = await start();
    const { thread } = await chat.send('general', 'hello, remember the word PELICAN', { user: 'alice' });
    await botMessage(chat, thread, 'echo: hello, remember the word PELICAN');

    const status = await command(chat, thread, '/agent status');
    expect(status).toContain('agent: claude (default)');
    expect(status).toMatch(/agent session: `[0-9a-f-]{36}` \(claude\)/);
    expect(status).toContain('turn: none running');
    expect(status).toContain('turns answered: 1');

    const help = await command(chat, thread, '/agent help');
    expect(help).toContain('/agent status');
    expect(help).not.toContain('/agent workdir');
    expect(await command(chat, thread, '/agent help', 'root')).toContain('Admin commands');
    expect(await command(chat, thread, '/agent frobnicate')).toContain('Unknown command `frobnicate`');
    expect(await command(chat, thread, '/agent model')).toContain('Usage: `/agent model <name>|default`');

    // admin commands from a non-admin: refused, nothing changes
    for (const c of ['workdir proj', 'cron list', 'sessions', 'restart']) {
      expect(await command(chat, thread, `/agent ${c}`)).toContain('only for agentbridge admins');
    }
    expect(fs.existsSync(path.join(sb.root, 'workspaces', 'proj'))).toBe(false);
    await waitFor(
      () => ab.logs.filter((l) => l.msg === 'admin command refused: not an admin' && l.userId === 'local:alice').length === 4,
      5_000,
      'refusals logged',
    );

    // model: the next turn asks the model server for that model
    expect(await command(chat, thread, '/agent model claude-scripted-test')).toContain('`claude-scripted-test`');
    let mark = model.mainRequests().length;
    await chat.send('general', 'which model?', { thread, user: 'alice' });
    await botMessage(chat, thread, 'echo: which model?');
    expect(model.mainRequests().slice(mark).at(-1)!.body.model).toBe('claude-scripted-test');
    expect(await command(chat, thread, '/agent model default')).toContain('Model reset');

    // agent: codex/gemini are not logged in here
    expect(await command(chat, thread, '/agent agent gemini')).toContain('gemini is not available');
    expect(await command(chat, thread, '/agent agent claude')).toContain('already uses claude');

    // workdir (admin): created inside the root; escapes refused; the next turn runs there
    const dir = await command(chat, thread, '/agent workdir projects/alpha', 'root');
    const alpha = fs.realpathSync(path.join(sb.root, 'workspaces', 'projects', 'alpha'));
    expect(dir).toContain(alpha);
    expect(await command(chat, thread, '/agent workdir ../../etc', 'root')).toContain('outside the workspaces root');
    mark = model.mainRequests().length;
    await chat.send('general', 'where are you?', { thread, user: 'alice' });
    await botMessage(chat, thread, 'echo: where are you?');
    expect(JSON.stringify(model.mainRequests().slice(mark).at(-1)!.body.system)).toContain(alpha);

    // cron (admin), through the scheduler
    expect(await command(chat, thread, '/agent cron add nightly "0 3 * * *" Summarise the day', 'root')).toContain('Cron job `nightly` added');
    expect(await command(chat, thread, '/agent cron list', 'root')).toContain('`nightly` — `0 3 * * *`');
    expect(await command(chat, thread, '/agent cron pause nightly', 'root')).toContain('paused');
    expect(await command(chat, thread, '/agent cron resume nightly', 'root')).toContain('resumed');
    expect(await command(chat, thread, '/agent cron run-now nightly', 'root')).toContain('Started a run of `nightly`');
    expect(await command(chat, thread, '/agent cron remove nightly', 'root')).toContain('removed');
    expect(await command(chat, thread, '/agent cron add broken "every banana" x', 'root')).toContain('Nothing changed');

    // sessions (admin): a turn running in another thread
    model.setResponder(() => ({ hang: true }));
    mark = model.mainRequests().length;
    const busy = await chat.send('general', 'a long task', { user: 'bob' });
    await waitFor(() => model.mainRequests().length > mark, 30_000, 'the long turn to reach the model');
    const sessions = await command(chat, thread, '/agent sessions', 'root');
    expect(sessions).toMatch(new RegExp(`\`local:general:${busy.thread}\` — claude — running for \\d+`));
    model.setResponder(undefined);
    expect(await command(chat, busy.thread, '/agent stop', 'bob')).toContain('Stopping the running turn');

    // /metrics: the turns so far
    await waitFor(async () => (await (await fetch(`${ab.url}/metrics`)).text()).includes('outcome="stopped"} 1'), 30_000, 'the stopped turn in /metrics');
    const metrics = await (await fetch(`${ab.url}/metrics`)).text();
    const ok = Number(/agentbridge_turns_total\{platform="local",agent="claude",outcome="ok"\} (\d+)/.exec(metrics)?.[1]);
    expect(ok).toBeGreaterThanOrEqual(3);
    expect(metrics).toMatch(/agentbridge_turn_duration_seconds_count\{platform="local",agent="claude"\} \d+/);
    expect(metrics).toContain('agentbridge_queue_depth 0');
    expect(metrics).toMatch(/agentbridge_inbox_backlog \d+/);
    expect(metrics).toContain('process_resident_memory_bytes');
  });

  it('a disallowed user never reaches the agent and is told once per conversation', async () => {
    const { chat } = await start();
    const before = model.requests.length;
    const { thread } = await chat.send('general', 'please run this for me', { user: 'mallory' });
    // the refusal is recorded with the message and posted through the outbox
    await waitFor(async () => (await chat.botTexts('general', thread)).some((t) => t.startsWith('Sorry')), 30_000, 'the refusal');
    expect((await chat.botTexts('general', thread)).filter((t) => t.startsWith('Sorry'))).toHaveLength(1);
    await chat.send('general', 'hello? anyone?', { thread, user: 'mallory' });
    await chat.send('general', '/agent status', { thread, user: 'mallory' });
    // an allowed user's command in the same thread is answered after mallory's messages were handled
    expect(await command(chat, thread, '/agent help', 'alice')).toContain('/agent status');
    expect((await chat.botTexts('general', thread)).filter((t) => t.startsWith('Sorry'))).toHaveLength(1);
    expect(model.requests.length).toBe(before);
  });

  it('/agent stop interrupts a long-running turn (the live agent process stays for the next message); a queued message is answered next; reset ends the process', async () => {
    const { ab, chat } = await start();
    model.setResponder(() => ({ hang: true }));
    const mark = model.mainRequests().length;
    // Live sessions of earlier tests' conversations may still be up: this conversation's process is the new one.
    const before = new Set(agentProcesses(ab).map((p) => p.pid));
    const mine = () => agentProcesses(ab).filter((p) => !before.has(p.pid));
    const { thread } = await chat.send('general', 'a very long task', { user: 'alice' });
    await waitFor(() => model.mainRequests().length > mark, 30_000, 'the turn to reach the model');
    await waitFor(() => mine().length > 0, 10_000, 'the agent process');
    await chat.send('general', 'queued meanwhile', { thread, user: 'bob' });
    model.setResponder(undefined);
    expect(await command(chat, thread, '/agent stop')).toContain('1 queued message will be answered next');
    await waitFor(
      async () => (await chat.botTexts('general', thread)).some((t) => /stopped/i.test(t) && !t.startsWith('⏹️ Stopping')),
      30_000,
      'the stopped notice',
    );
    await botMessage(chat, thread, 'echo: ');
    expect((await chat.botTexts('general', thread)).find((t) => t.startsWith('echo: '))).toContain('queued meanwhile');
    // The stop interrupted the turn through the protocol: the live process stayed and answered the next message.
    expect(mine().length).toBeGreaterThan(0);
    expect(await command(chat, thread, '/agent reset')).toContain('New agent session');
    await waitFor(() => mine().length === 0, 15_000, 'no agent process of the conversation left after reset');
  });

  it('reset starts a new agent session: the next model request does not carry the old turns', async () => {
    const { chat } = await start();
    const { thread } = await chat.send('general', 'remember the word ZEBRA', { user: 'alice' });
    await botMessage(chat, thread, 'echo: remember the word ZEBRA');
    let mark = model.mainRequests().length;
    await chat.send('general', 'what was it?', { thread, user: 'alice' });
    await botMessage(chat, thread, 'echo: what was it?');
    expect(allText(model.mainRequests().slice(mark).at(-1)!)).toContain('ZEBRA');

    expect(await command(chat, thread, '/agent reset')).toContain('New agent session');
    expect(await command(chat, thread, '/agent status')).toContain('agent session: none yet');
    mark = model.mainRequests().length;
    await chat.send('general', 'fresh start', { thread, user: 'alice' });
    await botMessage(chat, thread, 'echo: fresh start');
    const fresh = model.mainRequests().slice(mark);
    expect(fresh.length).toBeGreaterThan(0);
    for (const r of fresh) expect(allText(r)).not.toContain('ZEBRA');
    // the transcript is kept
    expect((await chat.messages('general', thread)).some((m) => m.text === 'remember the word ZEBRA')).toBe(true);
  });
});

describe('graceful shutdown and restart', () => {
  it('SIGTERM lets a running turn finish within the grace period; messages sent meanwhile are answered after the restart', async () => {
    const started = await start({ AGENTBRIDGE_SHUTDOWN_GRACE_S: '30' });
    const { dataDir } = started;
    let { ab, chat } = started;
    model.setResponder(() => ({ text: 'finished during the drain', delayMs: 2_500 }));
    const mark = model.mainRequests().length;
    const { thread } = await chat.send('general', 'a task that takes a moment', { user: 'alice' });
    await waitFor(() => model.mainRequests().length > mark, 30_000, 'the turn to reach the model');
    const exit = ab.stop('SIGTERM');
    await waitFor(() => ab.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('shutting down')), 5_000, 'the drain to begin');
    const late = await chat.send('general', 'sent while draining', { user: 'bob' });
    expect((await fetch(`${ab.url}/healthz`)).status).toBe(503);
    model.setResponder(undefined);
    expect(await exit).toBe(0);
    expect(agentProcesses(ab)).toEqual([]);

    ({ ab, chat } = await start({}, dataDir));
    await botMessage(chat, late.thread, 'echo: sent while draining');
    const texts = await chat.botTexts('general', thread);
    expect(texts).toContain('finished during the drain');
    expect(texts.some((t) => t.includes('restarted while working'))).toBe(false);
  });

  it('SIGTERM during a turn that outlasts the grace period: stopped, then announced and answered after the restart', async () => {
    const started = await start({ AGENTBRIDGE_SHUTDOWN_GRACE_S: '1' });
    const { ab, dataDir } = started;
    let { chat } = started;
    model.setResponder(() => ({ hang: true }));
    const mark = model.mainRequests().length;
    const { thread } = await chat.send('general', 'an endless task', { user: 'alice' });
    await waitFor(() => model.mainRequests().length > mark, 30_000, 'the turn to reach the model');
    const t0 = Date.now();
    expect(await ab.stop('SIGTERM')).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(agentProcesses(ab)).toEqual([]);

    // The re-run's prompt starts with the interruption note; echo the message without it.
    model.setResponder((req) => ({ text: `echo: ${lastUserText(req).replace(`${RERUN_NOTE}\n\n`, '')}` }));
    ({ chat } = await start({}, dataDir));
    await botMessage(chat, thread, '🔄 agentbridge restarted while working');
    await botMessage(chat, thread, 'echo: an endless task');
    expect((await chat.botTexts('general', thread)).filter((t) => t.includes('echo: an endless task'))).toHaveLength(1);
    expect(lastUserText(model.mainRequests().at(-1)!)).toBe(`${RERUN_NOTE}\n\nan endless task`);
  });

  it('/agent restart restarts gracefully and reports back in the conversation once the new process is up', async () => {
    const { ab, chat, dataDir } = await start({ AGENTBRIDGE_RESTART_MODE: 'spawn' });
    const { thread } = await chat.send('general', 'hi before the restart', { user: 'alice' });
    await botMessage(chat, thread, 'echo: hi before the restart');
    const oldPid = ab.child.pid!;

    await chat.send('general', '/agent restart', { thread, user: 'root' });
    expect(await ab.exited).toBe(0);
    const lockFile = path.join(dataDir, 'agentbridge.lock');
    const newPid = await waitFor(
      () => {
        try {
          const pid = (JSON.parse(fs.readFileSync(lockFile, 'utf8')) as { pid: number }).pid;
          return pid !== oldPid ? pid : undefined;
        } catch {
          return undefined;
        }
      },
      30_000,
      'the new process to take the lock',
    );
    restarted.push(newPid);
    // the new process logs to the same stdout: its URL is in the last "ready" line
    const url = await waitFor(
      () => {
        const ready = ab.logs.filter((l) => l.msg === 'agentbridge is ready');
        return ready.length >= 2 ? (ready.at(-1)!.url as string) : undefined;
      },
      30_000,
      'the new process to be ready',
    );
    const chat2 = new LocalChat(url, tokensByDir.get(dataDir));
    await botMessage(chat2, thread, '✅ agentbridge restarted (requested by root)');
    const texts = await chat2.botTexts('general', thread);
    expect(texts.findIndex((t) => t.startsWith('♻️ Restarting agentbridge'))).toBeGreaterThan(-1);
    expect(texts.findIndex((t) => t.startsWith('♻️ Restarting agentbridge'))).toBeLessThan(texts.findIndex((t) => t.startsWith('✅')));
    expect((await chat2.botTexts('general', thread)).filter((t) => t.startsWith('✅ agentbridge restarted'))).toHaveLength(1);
    // it works as before
    await chat2.send('general', 'and after it?', { thread, user: 'alice' });
    await botMessage(chat2, thread, 'echo: and after it?');

    process.kill(newPid, 'SIGTERM');
    await waitFor(() => !alive(newPid), 25_000, 'the new process to exit');
    expect(fs.existsSync(lockFile)).toBe(false);
  });
});
