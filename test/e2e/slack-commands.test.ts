/**
 * End to end on the Slack twin: chat commands, access control and /metrics — agentbridge as its
 * own process (Socket Mode), the real `claude` CLI and the scripted Anthropic model server.
 *
 * Commands reach agentbridge two ways, as in Slack: the slash command `/agent <subcommand>`
 * (acknowledged within 3 s; ephemeral where only the caller should see it; slow ones answered
 * through `response_url`) — which Slack does not allow inside threads, so in a channel it is
 * about no conversation and in a DM about the DM conversation used last — and
 * `@agentbridge <subcommand>` in a conversation's thread (answered in the thread).
 *
 * People: Alice and Bob are allowed users, Root is an admin, Mallory is not allowed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { allText, lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { SlackTwin } from '../twins/slack/twin.js';
import { botMessages, CHANNEL, inboxTotal, slackEnv, USERS, waitForAcks, waitForAnswer } from '../twins/slack/harness.js';

let model: AnthropicModel;
let twin: SlackTwin;
let sb: Sandbox;
let ab: AgentbridgeProcess;

const PEOPLE = [...USERS, { id: 'U0ROOT', name: 'root', display_name: 'Root' }, { id: 'U0MALLORY', name: 'mallory', display_name: 'Mallory' }];

function env(): NodeJS.ProcessEnv {
  return {
    ...slackEnv(sb, model, twin, 'socket'),
    AGENTBRIDGE_ADMINS: 'slack:U0ROOT',
    AGENTBRIDGE_ALLOWED_USERS: 'slack:U0ALICE,slack:U0BOB',
    AGENTBRIDGE_WORKSPACES_ROOT: path.join(sb.root, 'workspaces'),
    AGENTBRIDGE_RESTART_MODE: 'exit',
    LOG_LEVEL: 'info',
  };
}

beforeAll(async () => {
  [model, twin] = await Promise.all([startAnthropicModel(), SlackTwin.start({ users: PEOPLE })]);
  sb = makeSandbox();
  ab = await startAgentbridge(env(), sb.root);
});

afterEach(() => {
  model.setResponder(undefined);
});

afterAll(async () => {
  if (ab) expect(await ab.stop()).toBe(0);
  await Promise.all([model?.close(), twin?.close()]);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

interface Shown {
  response_type: string;
  text: string;
  /** The reply came through response_url after a "working on it" acknowledgement. */
  late: boolean;
}

/** Runs `/agent <text>` as `user` in `channel`; checks the 3-second ack; resolves with what Slack shows. */
async function slash(user: string, channel: string, text: string): Promise<Shown> {
  const call = await twin.slashCommand({ user, channel, text });
  expect(call.ackedAt, `the ack of /agent ${text}`).toBeDefined();
  expect(call.ackedAt! - call.sentAt).toBeLessThan(3_000);
  const ack = call.ack as { response_type: string; text: string };
  expect(typeof ack?.text).toBe('string');
  if (!ack.text.startsWith('⏳ Working on')) return { ...ack, late: false };
  expect(ack.response_type).toBe('ephemeral');
  const posted = await waitFor(() => call.responses[0], 15_000, `the response_url post of /agent ${text}`);
  return { ...(posted.body as { response_type: string; text: string }), late: true };
}

/**
 * `/agent status` by `user` in `channel`, asked until it says no turn is running: an answer is visible a moment before its
 * turn has ended (the turn waits for the delivery), and `stop`, `reset` and `workdir` act on a running turn.
 */
async function statusWhenIdle(user: string, channel: string): Promise<Shown> {
  return waitFor(
    async () => {
      const s = await slash(user, channel, 'status');
      return s.text.includes('turn: none running') ? s : undefined;
    },
    20_000,
    `status in ${channel} once the turn ended`,
  );
}

/** Posts `@agentbridge <text>` as `user` in the thread; resolves with the next new bot message there. */
async function mention(user: string, thread: string, text: string, channel = CHANNEL): Promise<string> {
  const before = botMessages(twin, channel, thread).length;
  await twin.userPosts({ user, channel, text, thread_ts: thread, mention: true });
  return (await waitFor(() => botMessages(twin, channel, thread)[before], 15_000, `the reply to "${text}"`)).text;
}

/** Main model requests whose last user text contains `needle`. */
function requestsWith(needle: string) {
  return model.mainRequests().filter((r) => lastUserText(r).includes(needle));
}

/** Agent processes still alive: processes mentioning the sandbox, minus agentbridge itself. */
function agentProcesses() {
  return processesMentioning(sb.root).filter((p) => p.pid !== ab.child.pid);
}

const refusalsLogged = (userId: string) => ab.logs.filter((l) => l.msg === 'admin command refused: not an admin' && l.userId === userId).length;

describe('/agent slash commands on Slack', () => {
  it('help, usage and unknown commands; conversation commands in a channel point to the thread; admin commands refused for non-admins', async () => {
    const postsBefore = twin.callsOf('chat.postMessage').length;
    const requestsBefore = model.requests.length;

    const help = await slash('U0ALICE', CHANNEL, 'help');
    expect(help).toMatchObject({ response_type: 'ephemeral', late: false });
    expect(help.text).toContain('/agent status');
    expect(help.text).toContain('@agentbridge stop');
    expect(help.text).not.toContain('/agent workdir');
    expect((await slash('U0ALICE', CHANNEL, '')).text).toContain('/agent status'); // bare `/agent` = help
    expect((await slash('U0ROOT', CHANNEL, 'help')).text).toMatch(/Admin commands[\s\S]*\/agent workdir[\s\S]*\/agent cron/);

    const unknown = await slash('U0ALICE', CHANNEL, 'frobnicate now');
    expect(unknown.response_type).toBe('ephemeral');
    expect(unknown.text).toContain('Unknown command `frobnicate`');
    expect((await slash('U0ALICE', CHANNEL, 'model')).text).toContain('Usage: `/agent model');
    expect((await slash('U0ALICE', CHANNEL, 'agent chatgpt')).text).toContain('Usage: `/agent agent');

    // Slash commands are never in a thread: in a channel the conversation commands point to the thread form.
    for (const sub of ['status', 'stop', 'reset', 'agent claude', 'model claude-x']) {
      const r = await slash('U0ALICE', CHANNEL, sub);
      expect(r.response_type).toBe('ephemeral');
      expect(r.text).toContain(`use it in the conversation's thread, e.g. \`@agentbridge ${sub.split(' ')[0]}\``);
    }

    // Admin commands from a non-admin: refused (and logged), nothing changes.
    for (const c of ['workdir proj', 'cron list', 'sessions', 'restart']) {
      const r = await slash('U0ALICE', CHANNEL, c);
      expect(r.response_type).toBe('ephemeral');
      expect(r.text).toContain('only for agentbridge admins');
    }
    await waitFor(() => refusalsLogged('slack:U0ALICE') >= 4, 5_000, 'the refusals in the log');
    expect(fs.existsSync(path.join(sb.root, 'workspaces', 'proj'))).toBe(false);
    expect(ab.child.exitCode).toBeNull(); // /agent restart did not restart anything

    // None of this posted a message or reached the model.
    expect(twin.callsOf('chat.postMessage')).toHaveLength(postsBefore);
    expect(model.requests).toHaveLength(requestsBefore);
  });

  it('admin: cron add/list/pause/resume/run-now/remove through /agent (answered via response_url); the run posts to the channel', async () => {
    const add = await slash('U0ROOT', CHANNEL, 'cron add puffin "0 3 * * *" Summarise the day for PUFFIN');
    expect(add).toMatchObject({ response_type: 'in_channel', late: true });
    expect(add.text).toContain('Cron job `puffin` added');
    const list = await slash('U0ROOT', CHANNEL, 'cron list');
    expect(list.response_type).toBe('ephemeral');
    expect(list.text).toContain('`puffin` — `0 3 * * *`');
    expect(list.text).toContain(`slack:${CHANNEL}`);
    expect((await slash('U0ROOT', CHANNEL, 'cron pause puffin')).text).toContain('paused');
    expect((await slash('U0ROOT', CHANNEL, 'cron list')).text).toContain('— paused');
    expect((await slash('U0ROOT', CHANNEL, 'cron resume puffin')).text).toContain('resumed');
    expect((await slash('U0ROOT', CHANNEL, 'cron run-now puffin')).text).toContain('Started a run of `puffin`');
    // The run posts its output as a new top-level message in the channel.
    await waitFor(
      () => twin.store.channelMessages(CHANNEL).find((m) => m.bot_id === twin.botId && !m.thread_ts && m.text === 'echo: Summarise the day for PUFFIN'),
      30_000,
      'the run output in the channel',
    );
    // The post is visible a moment before the run's turn has ended and the run is recorded: wait for
    // that (removing the job deletes its runs), so the /metrics test below can count it.
    await waitFor(
      async () => ((await (await fetch(`${ab.url}/metrics`)).text()).includes('agentbridge_cron_runs_total{outcome=') ? true : undefined),
      30_000,
      'the cron run recorded as ended',
    );
    expect((await slash('U0ROOT', CHANNEL, 'cron remove puffin')).text).toContain('removed');
    expect((await slash('U0ROOT', CHANNEL, 'cron list')).text).toContain('No cron jobs yet');
    const bad = await slash('U0ROOT', CHANNEL, 'cron add broken "every banana" x');
    expect(bad.text).toContain('Nothing changed');
    expect((await slash('U0ROOT', CHANNEL, 'cron list')).text).toContain('No cron jobs yet');
  });

  it('in a DM, /agent works on the DM conversation used last: status, model, agent, stop, reset, workdir', async () => {
    const dm = await twin.userPosts({ user: 'U0ALICE', channel: 'D0ALICE', text: 'remember the word OSPREY' });
    await waitForAnswer(twin, 'D0ALICE', dm.ts, 'echo: remember the word OSPREY');

    // The answer is visible a moment before its turn has ended (the turn waits for the delivery): ask until it has.
    const status = await statusWhenIdle('U0ALICE', 'D0ALICE');
    expect(status.response_type).toBe('ephemeral');
    expect(status.text).toContain('agent: claude (default)');
    expect(status.text).toMatch(/agent session: `[0-9a-f-]{36}` \(claude\)/);
    expect(status.text).toContain('turn: none running');
    expect(status.text).toContain('turns answered: 1');

    const setModel = await slash('U0ALICE', 'D0ALICE', 'model claude-dm-model');
    expect(setModel.response_type).toBe('in_channel');
    expect(setModel.text).toContain('`claude-dm-model`');
    await twin.userPosts({ user: 'U0ALICE', channel: 'D0ALICE', text: 'which model answers?', thread_ts: dm.ts });
    await waitForAnswer(twin, 'D0ALICE', dm.ts, 'echo: which model answers?');
    expect(requestsWith('which model answers?').at(-1)!.body.model).toBe('claude-dm-model');
    expect((await slash('U0ALICE', 'D0ALICE', 'model default')).text).toContain('Model reset');
    expect((await slash('U0ALICE', 'D0ALICE', 'agent gemini')).text).toContain('gemini is not available');
    expect((await slash('U0ALICE', 'D0ALICE', 'agent claude')).text).toContain('already uses claude');
    await statusWhenIdle('U0ALICE', 'D0ALICE');
    expect((await slash('U0ALICE', 'D0ALICE', 'stop')).text).toContain('Nothing is running in this conversation');

    expect((await slash('U0ALICE', 'D0ALICE', 'reset')).text).toContain('New agent session');
    expect((await slash('U0ALICE', 'D0ALICE', 'status')).text).toContain('agent session: none yet');
    const mark = model.mainRequests().length;
    await twin.userPosts({ user: 'U0ALICE', channel: 'D0ALICE', text: 'fresh start in the DM', thread_ts: dm.ts });
    await waitForAnswer(twin, 'D0ALICE', dm.ts, 'echo: fresh start in the DM');
    const fresh = model.mainRequests().slice(mark);
    expect(fresh.length).toBeGreaterThan(0);
    for (const r of fresh) expect(allText(r)).not.toContain('OSPREY');

    // An admin's /agent workdir in their own DM: the DM conversation's next turn runs there.
    const rootDm = await twin.userPosts({ user: 'U0ROOT', channel: 'D0ROOT', text: 'hello from root' });
    await waitForAnswer(twin, 'D0ROOT', rootDm.ts, 'echo: hello from root');
    await statusWhenIdle('U0ROOT', 'D0ROOT');
    const beta = path.join(sb.root, 'workspaces', 'beta');
    const wd = await slash('U0ROOT', 'D0ROOT', 'workdir beta');
    expect(wd.response_type).toBe('in_channel');
    expect(wd.text).toContain(fs.realpathSync(beta));
    await twin.userPosts({ user: 'U0ROOT', channel: 'D0ROOT', text: 'where now?', thread_ts: rootDm.ts });
    await waitForAnswer(twin, 'D0ROOT', rootDm.ts, 'echo: where now?');
    expect(JSON.stringify(requestsWith('where now?').at(-1)!.body.system)).toContain(fs.realpathSync(beta));
  });
});

describe('@agentbridge <subcommand> in a thread', () => {
  it('status, help, model, agent, workdir, cron, sessions, stop and reset; admin ones refused for non-admins', async () => {
    const root = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'hello, remember the word PELICAN', mention: true });
    await waitForAnswer(twin, CHANNEL, root.ts, 'echo: hello, remember the word PELICAN');
    const t = root.ts;

    const status = await mention('U0ALICE', t, 'status');
    expect(status).toContain('agent: claude (default)');
    expect(status).toMatch(/agent session: `[0-9a-f-]{36}` \(claude\)/);
    expect(status).toContain('turns answered: 1');
    expect(await mention('U0BOB', t, 'help')).toContain('/agent status');
    const requestsBefore = model.requests.length;
    expect(await mention('U0ALICE', t, '/agent frobnicate')).toContain('Unknown command `frobnicate`');
    expect(await mention('U0ALICE', t, '/agent model')).toContain('Usage: `/agent model');
    expect(model.requests).toHaveLength(requestsBefore); // usage messages, nothing for the agent

    // model: the next turn asks for it
    expect(await mention('U0ALICE', t, 'model claude-thread-model')).toContain('`claude-thread-model`');
    await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'which model now?', thread_ts: t });
    await waitForAnswer(twin, CHANNEL, t, 'echo: which model now?');
    expect(requestsWith('which model now?').at(-1)!.body.model).toBe('claude-thread-model');
    expect(await mention('U0ALICE', t, 'model default')).toContain('Model reset');
    expect(await mention('U0ALICE', t, 'agent gemini')).toContain('gemini is not available');
    expect(await mention('U0ALICE', t, 'agent claude')).toContain('already uses claude');
    expect(await mention('U0ALICE', t, 'stop')).toContain('Nothing is running in this conversation');

    // reset: a new agent session; the next request does not carry the earlier turns
    expect(allText(requestsWith('which model now?').at(-1)!)).toContain('PELICAN');
    expect(await mention('U0ALICE', t, 'reset')).toContain('New agent session');
    expect(await mention('U0ALICE', t, 'status')).toContain('agent session: none yet');
    const mark = model.mainRequests().length;
    await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'fresh start in the thread', thread_ts: t });
    await waitFor(
      () => botMessages(twin, CHANNEL, t).find((m) => m.text.startsWith('echo:') && m.text.includes('fresh start in the thread')),
      45_000,
      'the answer after the reset',
    );
    const fresh = model.mainRequests().slice(mark);
    expect(fresh.length).toBeGreaterThan(0);
    for (const r of fresh) expect(allText(r)).not.toContain('PELICAN');

    // admin commands: refused for Alice (logged), done for Root
    const refusedBefore = refusalsLogged('slack:U0ALICE');
    for (const c of ['workdir projects/alpha', 'cron list', 'sessions', 'restart'])
      expect(await mention('U0ALICE', t, c)).toContain('only for agentbridge admins');
    await waitFor(() => refusalsLogged('slack:U0ALICE') === refusedBefore + 4, 5_000, 'the refusals in the log');
    expect(fs.existsSync(path.join(sb.root, 'workspaces', 'projects'))).toBe(false);

    const alpha = path.join(sb.root, 'workspaces', 'projects', 'alpha');
    expect(await mention('U0ROOT', t, 'workdir projects/alpha')).toContain(fs.realpathSync(path.join(sb.root, 'workspaces')));
    expect(fs.existsSync(alpha)).toBe(true);
    expect(await mention('U0ROOT', t, 'workdir ../../etc')).toContain('outside the workspaces root');
    expect(await mention('U0ROOT', t, 'workdir')).toContain(fs.realpathSync(alpha));
    await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'where are you working?', thread_ts: t });
    await waitFor(
      () => botMessages(twin, CHANNEL, t).find((m) => m.text.startsWith('echo:') && m.text.includes('where are you working?')),
      45_000,
      'the answer in the new workdir',
    );
    expect(JSON.stringify(requestsWith('where are you working?').at(-1)!.body.system)).toContain(fs.realpathSync(alpha));
    expect(await mention('U0ROOT', t, 'cron list')).toContain('No cron jobs yet');
    expect(await mention('U0ROOT', t, 'sessions')).toContain('No active conversations');

    // A thread reply without a mention that reads like a command is a prompt (only addressed messages are commands).
    await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'status', thread_ts: t });
    await waitFor(
      () => botMessages(twin, CHANNEL, t).find((m) => m.text === 'echo: [Alice]: status' || m.text === 'echo: status'),
      45_000,
      '"status" answered by the agent',
    );
  });

  it('@agentbridge stop interrupts a long-running turn (the live agent process stays); the queued message is answered next; reset ends the process', async () => {
    // Claude joins the user messages of runs that produced nothing into one, so the answer to the
    // queued message also quotes the stopped prompt: hang only while that message is not in.
    model.setResponder((req) =>
      lastUserText(req).includes('a very long task') && !lastUserText(req).includes('queued meanwhile')
        ? { hang: true }
        : { text: `echo: ${lastUserText(req)}` },
    );
    // Live sessions of earlier tests' conversations are still up: this conversation's process is the new one.
    const before = new Set(agentProcesses().map((p) => p.pid));
    const mine = () => agentProcesses().filter((p) => !before.has(p.pid));
    const root = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'a very long task', mention: true });
    await waitFor(() => requestsWith('a very long task').length > 0, 30_000, 'the turn to reach the model');
    await waitFor(() => mine().length > 0, 10_000, 'the agent process');
    const queued = await twin.userPosts({ user: 'U0BOB', channel: CHANNEL, text: 'queued meanwhile', thread_ts: root.ts });
    await waitForAcks(twin, queued.eventIds);

    // the admin sees it running
    const sessions = await slash('U0ROOT', CHANNEL, 'sessions');
    expect(sessions.text).toMatch(new RegExp(`\`slack:${twin.teamId}:${CHANNEL}:${root.ts.replace('.', '\\.')}\` — claude — running for \\d+`));

    await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'stop', thread_ts: root.ts, mention: true });
    const stopping = await waitForAnswer(twin, CHANNEL, root.ts, '⏹️ Stopping the running turn', 15_000);
    expect(stopping.text).toContain('asked by Alice');
    expect(stopping.text).toContain('1 queued message will be answered next');
    await waitFor(
      () => botMessages(twin, CHANNEL, root.ts).some((m) => /stopped/i.test(m.text) && !m.text.startsWith('⏹️ Stopping')),
      30_000,
      'the stopped notice',
    );
    const answer = await waitFor(() => botMessages(twin, CHANNEL, root.ts).find((m) => m.text.startsWith('echo:')), 45_000, 'the answer to the queued message');
    expect(answer.text).toContain('queued meanwhile');
    expect(botMessages(twin, CHANNEL, root.ts).filter((m) => m.text.startsWith('echo:'))).toHaveLength(1);
    // Interrupted through the protocol: the live process stays for the next message; reset ends it.
    expect(mine().length).toBeGreaterThan(0);
    await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'reset', thread_ts: root.ts, mention: true });
    await waitFor(() => mine().length === 0, 15_000, 'no agent process of the conversation left after reset');
  });
});

describe('access control on Slack', () => {
  it('a disallowed user never reaches the agent and is told once per conversation', async () => {
    const requestsBefore = model.requests.length;
    const mainBefore = model.mainRequests().length;
    const inboxBefore = await inboxTotal(ab.url);

    const first = await twin.userPosts({ user: 'U0MALLORY', channel: CHANNEL, text: 'please deploy to production MALLORY-1', mention: true });
    const sorry = (channel: string, thread: string) => botMessages(twin, channel, thread).filter((m) => m.text.startsWith('Sorry'));
    await waitFor(() => sorry(CHANNEL, first.ts).length === 1, 10_000, 'the refusal in the thread');
    expect(sorry(CHANNEL, first.ts)[0]!.text).toContain("can't pass your messages to the agent");
    const again = await twin.userPosts({ user: 'U0MALLORY', channel: CHANNEL, text: 'hello? MALLORY-2', thread_ts: first.ts, mention: true });
    const cmd = await twin.userPosts({ user: 'U0MALLORY', channel: CHANNEL, text: 'status', thread_ts: first.ts, mention: true });
    const dm = await twin.userPosts({ user: 'U0MALLORY', channel: 'D0MALLORY', text: 'in private MALLORY-3' });
    await waitFor(() => sorry('D0MALLORY', dm.ts).length === 1, 10_000, 'the refusal in the DM');
    await waitForAcks(twin, [...first.eventIds, ...again.eventIds, ...cmd.eventIds, ...dm.eventIds]);

    const slashed = await slash('U0MALLORY', CHANNEL, 'status');
    expect(slashed.response_type).toBe('ephemeral');
    expect(slashed.text).toContain('Sorry, I can only work with people');

    // An allowed user's message afterwards is answered: everything before it was handled.
    const ok = await twin.userPosts({ user: 'U0BOB', channel: CHANNEL, text: 'an allowed message', mention: true });
    await waitForAnswer(twin, CHANNEL, ok.ts, 'echo: an allowed message');

    expect(sorry(CHANNEL, first.ts)).toHaveLength(1);
    expect(botMessages(twin, CHANNEL, first.ts)).toHaveLength(1);
    expect(sorry('D0MALLORY', dm.ts)).toHaveLength(1);
    expect(model.requests.filter((r) => JSON.stringify(r.body).includes('MALLORY'))).toEqual([]);
    // The agent's own requests since are all for the allowed message (a live Claude session may add side requests, counted in `requests` only).
    const mains = model.mainRequests().slice(mainBefore);
    expect(mains.length).toBeGreaterThan(0);
    expect(mains.every((r) => JSON.stringify(r.body).includes('an allowed message'))).toBe(true);
    expect(model.requests.slice(requestsBefore).every((r) => !JSON.stringify(r.body).includes('MALLORY'))).toBe(true);
    expect(await inboxTotal(ab.url)).toBe(inboxBefore + 1);
    expect(ab.logs.filter((l) => l.msg === 'access refused: user not allowed' && l.userId === 'U0MALLORY').length).toBeGreaterThanOrEqual(5);
  });
});

describe('operations', () => {
  it('/metrics shows the turn counters after the turns above', async () => {
    // The cron run is recorded as ended once its post is delivered: wait for it, don't assume it.
    const metrics = await waitFor(
      async () => {
        const text = await (await fetch(`${ab.url}/metrics`)).text();
        return text.includes('agentbridge_cron_runs_total{outcome=') ? text : undefined;
      },
      30_000,
      'the cron run counted in /metrics',
    );
    const count = (labels: string) => Number(new RegExp(`agentbridge_turns_total\\{${labels}\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    expect(count('platform="slack",agent="claude",outcome="ok"')).toBeGreaterThanOrEqual(8);
    expect(count('platform="slack",agent="claude",outcome="stopped"')).toBe(1);
    expect(count('platform="scheduler",agent="claude",outcome="ok"')).toBe(1); // the cron run
    expect(metrics).toMatch(/agentbridge_turn_duration_seconds_count\{platform="slack",agent="claude"\} \d+/);
    expect(metrics).toContain('agentbridge_cron_runs_total{outcome="ok"} 1');
    expect(metrics).toContain('agentbridge_queue_depth 0');
    expect(metrics).toContain('agentbridge_turns_running 0');
  });

  it('/agent restart by an admin: "working on it", the reply before the restart, the notice after it', async () => {
    const call = await twin.slashCommand({ user: 'U0ROOT', channel: CHANNEL, text: 'restart' });
    expect(call.ack).toEqual({ response_type: 'ephemeral', text: '⏳ Working on `/agent restart`…' });
    expect(call.ackedAt! - call.sentAt).toBeLessThan(3_000);
    expect(await ab.exited).toBe(75); // AGENTBRIDGE_RESTART_MODE=exit: the supervisor starts it again
    // The reply was posted to response_url before the process went away.
    expect(call.responses.map((r) => r.body)).toEqual([{ response_type: 'in_channel', text: expect.stringContaining('Restarting agentbridge') }]);

    ab = await startAgentbridge(env(), sb.root); // the supervisor's part
    const notice = await waitFor(
      () => twin.store.channelMessages(CHANNEL).find((m) => m.bot_id === twin.botId && !m.thread_ts && m.text.startsWith('✅ agentbridge restarted')),
      15_000,
      'the restart notice',
    );
    expect(notice.text).toBe('✅ agentbridge restarted (requested by Root).');
    // and it works as before
    expect((await slash('U0ALICE', CHANNEL, 'help')).text).toContain('/agent status');
  });
});
