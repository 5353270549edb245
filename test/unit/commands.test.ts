/**
 * The command service: parsing (prompt vs command), every subcommand's effect against a real
 * store, router and outbox with a fake runner/adapter, usage messages, slash commands. Every case
 * with a store runs on both backends (SQLite file, PostgreSQL).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { COMMANDS, parseCommand } from '../../src/conversation/commands/index.js';
import { parseCronArgs } from '../../src/conversation/commands/cron.js';
import { announceRestart, RESTART_KEY } from '../../src/conversation/commands/restart.js';
import { resolveWorkdir, WorkdirError } from '../../src/conversation/commands/workdir.js';
import { recoverInbox } from '../../src/conversation/recovery.js';
import type { AccessConfig } from '../../src/core/config.js';
import type { InboundMessage } from '../../src/core/messages.js';
import { formatSlackMarkdown } from '../../src/platforms/slack/format.js';
import type { CommandRequest } from '../../src/platforms/types.js';
import type { CronJob, CronRun } from '../../src/core/schedule.js';
import { ScheduleError, type CronJobInput, type CronService, type ScheduledMessagesService } from '../../src/scheduler/types.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import { BACKENDS, testDatabase, type TestDatabase } from '../helpers/backends.js';
import { collectingLogger, startCore } from '../helpers/core.js';
import { ManualRunner } from '../helpers/fakes.js';
import { waitFor } from '../helpers/sandbox.js';

const teardowns: Array<() => Promise<void>> = [];
const removals: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const t of teardowns.splice(0)) await t();
  for (const r of removals.splice(0)) await r();
});

/**
 * A database of `backend`, removed after the test. Default (`shared`) on PostgreSQL: the file's
 * one database, emptied (which ends every other connection to it: open a second world in the same
 * test on a database of its own, `{ shared: false }`, or on this one through `world`'s `db`).
 */
async function databaseOn(backend: Backend, opts: { shared?: boolean } = {}): Promise<TestDatabase> {
  const db = await testDatabase(backend, { shared: opts.shared ?? true });
  removals.push(() => db.remove());
  return db;
}

/** A CronService fake that records what it was asked. */
class FakeCron implements CronService {
  jobs: CronJob[] = [];
  calls: string[] = [];
  async add(input: CronJobInput): Promise<CronJob> {
    if (input.schedule === 'bogus') throw new ScheduleError('"bogus" is not a schedule: use a cron expression, "every 15m" or "at <time>".');
    const job: CronJob = {
      id: `job${this.jobs.length + 1}`,
      name: input.name,
      schedule: { kind: 'every', everyMs: 3_600_000 },
      scheduleText: input.schedule,
      target: input.target,
      prompt: input.prompt,
      agent: input.agent,
      model: input.model,
      sessionMode: input.sessionMode ?? 'isolated',
      enabled: true,
      createdBy: input.createdBy,
      consecutiveFailures: 0,
      nextRunAt: Date.UTC(2030, 0, 1),
      lastRunAt: null,
      createdAt: 0,
      updatedAt: 0,
    };
    this.jobs.push(job);
    this.calls.push(`add ${input.name}`);
    return job;
  }
  async list() {
    return this.jobs;
  }
  async get(idOrName: string) {
    return this.find(idOrName);
  }
  private find(idOrName: string) {
    return this.jobs.find((j) => j.id === idOrName || j.name === idOrName);
  }
  async pause(id: string) {
    this.calls.push(`pause ${id}`);
    const j = this.find(id)!;
    j.enabled = false;
    return j;
  }
  async resume(id: string) {
    this.calls.push(`resume ${id}`);
    const j = this.find(id)!;
    j.enabled = true;
    return j;
  }
  async remove(id: string) {
    this.calls.push(`remove ${id}`);
    this.jobs = this.jobs.filter((j) => j.id !== id);
    return true;
  }
  async runNow(id: string): Promise<CronRun> {
    this.calls.push(`run-now ${id}`);
    return { id: 7, jobId: id, scheduledFor: 0, startedAt: 0, endedAt: null, status: 'running', error: null, postedKey: null, attempt: 1 };
  }
  async runs() {
    return [];
  }
}

class FakeScheduled implements ScheduledMessagesService {
  resets: string[] = [];
  async add(): Promise<never> {
    throw new Error('not used');
  }
  async list() {
    return [];
  }
  async cancel() {
    return false;
  }
  async reset(conversationId: string) {
    this.resets.push(conversationId);
    return 2;
  }
}

/** The core on `opts.db` (a restart), else on a new database of `backend`, with fake cron and scheduled-message services. */
async function worldOn(backend: Backend, opts: { access?: Partial<AccessConfig>; restart?: () => void; db?: TestDatabase; recover?: boolean } = {}) {
  const { logger, lines } = collectingLogger();
  const cron = new FakeCron();
  const scheduled = new FakeScheduled();
  const db = opts.db ?? (await databaseOn(backend));
  const core = startCore({
    store: await db.open(),
    logger,
    runners: { codex: new ManualRunner('codex'), gemini: new ManualRunner('gemini') },
    recovering: opts.recover === false,
    config: (dir) => ({
      access: { admins: ['local:root'], allowedUsers: [], allowedChannels: [], ...opts.access },
      workspacesRoot: path.join(dir, 'workspaces'),
      shutdownGraceMs: 60_000,
    }),
    availableAgents: ['claude', 'codex'],
    commandServices: { cron, scheduled },
    onRestartRequested: opts.restart,
  });
  const { dir, store, adapter, runner, outbox, router, commands } = core;
  (adapter.limits as { maxMessageChars: number }).maxMessageChars = 4000;
  const root = path.join(dir, 'workspaces');
  teardowns.push(async () => {
    await core.close();
    core.removeDir();
  });
  return { dir, root, store, adapter, runner, outbox, outbound: core.outbound, router, bridges: core.bridges, cron, scheduled, commands, logs: lines };
}

let seq = 0;
function msg(thread: string, text: string, opts: { user?: string; addressed?: boolean; key?: string; channel?: string } = {}): InboundMessage {
  const user = opts.user ?? 'ann';
  const key = opts.key ?? `k${++seq}`;
  const channel = opts.channel ?? 'general';
  return {
    platform: 'local',
    conversationId: `local:${channel}:${thread}`,
    channel,
    thread,
    author: { id: user, name: user },
    text,
    eventKey: `local:${key}`,
    replyTarget: { platform: 'local', channel, thread },
    messageRef: key,
    addressed: opts.addressed ?? text.startsWith('/agent'),
    receivedAt: Date.now(),
  };
}

type World = Awaited<ReturnType<typeof worldOn>>;

/** Sends `/agent …` (or an addressed text) in thread `t` and returns the reply posted for it. */
async function command(w: World, thread: string, text: string, user = 'ann'): Promise<string> {
  // A running turn's progress message goes out alongside the agent's start: let it be posted
  // first, so the next new message in the thread is the command's reply. A turn that has already
  // answered (its answer replaced the progress message) may still be ending its bookkeeping
  // (PostgreSQL: the last writes take a round trip each): then wait for it to end instead.
  const running = () => w.bridges.status(`local:general:${thread}`).running;
  if (running()) {
    await waitFor(() => w.adapter.texts(thread).some((t) => t.startsWith('⏳ Working')) || !running(), 5_000, "the running turn's progress message");
  }
  const before = w.adapter.texts(thread).length;
  expect(await w.router.accept(msg(thread, text, { user, addressed: true }))).toBe('accepted');
  // The first new message that is not a progress message (a turn the command lets start, e.g. the
  // queued one after `stop`, posts its own progress message meanwhile).
  return waitFor(
    () =>
      w.adapter
        .texts(thread)
        .slice(before)
        .find((t) => !t.startsWith('⏳')),
    5_000,
    `reply to ${text}`,
  );
}

describe('parsing: prompt or command', () => {
  const name = (text: string, mode?: 'message' | 'explicit') => {
    const p = parseCommand(text, mode);
    return p === undefined ? 'prompt' : p.kind === 'usage' ? 'usage' : p.command.name;
  };

  it('reads a command name with fitting arguments as a command, anything else as a prompt', () => {
    expect(name('help')).toBe('help');
    expect(name('help me fix the build')).toBe('prompt');
    expect(name('stop')).toBe('stop');
    expect(name('Stop!')).toBe('stop');
    expect(name('stop the presses and tell me why')).toBe('prompt');
    expect(name('status')).toBe('status');
    expect(name('status of the build?')).toBe('prompt');
    expect(name('model gpt-5')).toBe('model');
    expect(name('model')).toBe('prompt');
    expect(name('model the data as a graph')).toBe('prompt');
    expect(name('agent codex')).toBe('agent');
    expect(name('agent smith')).toBe('prompt');
    expect(name('reset')).toBe('reset');
    expect(name('restart the build please')).toBe('prompt');
    expect(name('cron list')).toBe('cron');
    expect(name('cron jobs are weird')).toBe('prompt');
    expect(name('why does the build fail?')).toBe('prompt');
  });

  it('reads every /agent text as a command: unknown names and bad arguments get a usage message', () => {
    expect(name('/agent')).toBe('help');
    expect(name('/agent status')).toBe('status');
    expect(name('  /AGENT   stop ')).toBe('stop');
    expect(name('/agent help me')).toBe('usage');
    expect(name('/agent frobnicate')).toBe('usage');
    expect(name('/agent model')).toBe('usage');
    expect(name('/agent agent gpt')).toBe('usage');
    expect(name('/agentsmith hi')).toBe('prompt');
    const unknown = parseCommand('/agent frobnicate');
    expect(unknown).toMatchObject({ kind: 'usage' });
    expect((unknown as { text: string }).text).toContain('Unknown command `frobnicate`');
    const bad = parseCommand('/agent model two words');
    expect((bad as { text: string }).text).toContain('Usage: `/agent model <name>|default`');
    // slash-command text (no prefix) is always a command
    expect(name('model x y', 'explicit')).toBe('usage');
    expect(name('stop', 'explicit')).toBe('stop');
    expect(name('', 'explicit')).toBe('help');
  });

  it('parses cron arguments: quoted schedules, options, the prompt as written', () => {
    expect(parseCronArgs('list')).toEqual({ sub: 'list' });
    expect(parseCronArgs('pause standup')).toEqual({ sub: 'pause', name: 'standup' });
    expect(parseCronArgs('run-now standup')).toEqual({ sub: 'run-now', name: 'standup' });
    expect(parseCronArgs('add standup "0 9 * * 1-5" --tz Europe/Berlin --agent codex Summarise   the "commits"')).toEqual({
      sub: 'add',
      name: 'standup',
      schedule: '0 9 * * 1-5',
      tz: 'Europe/Berlin',
      agent: 'codex',
      persistent: false,
      prompt: 'Summarise   the "commits"',
    });
    expect(parseCronArgs('add ping “every 2h” --persistent check the build')).toMatchObject({
      schedule: 'every 2h',
      persistent: true,
      prompt: 'check the build',
    });
    expect(parseCronArgs('add ping @daily check')).toMatchObject({ schedule: '@daily', prompt: 'check' });
    expect(parseCronArgs('add ping "every 2h"')).toBeUndefined(); // no prompt
    expect(parseCronArgs('add ping "every 2h check')).toBeUndefined(); // unclosed quote
    expect(parseCronArgs('add "my job" "every 2h" x')).toBeUndefined();
    expect(parseCronArgs('add ping "every 2h" --agent gpt x')).toBeUndefined();
    expect(parseCronArgs('pause')).toBeUndefined();
    expect(parseCronArgs('explode all')).toBeUndefined();
  });

  it('every command has a usage line and a summary', () => {
    for (const c of COMMANDS) expect(c.summary.length).toBeGreaterThan(3);
    expect(COMMANDS.map((c) => c.name).sort()).toEqual([
      'agent',
      'cron',
      'diff',
      'help',
      'model',
      'project',
      'reset',
      'restart',
      'sessions',
      'status',
      'stop',
      'workdir',
      'worktree',
    ]);
  });
});

describe.each(BACKENDS)('%s', (backend) => {
  const world = (opts: Parameters<typeof worldOn>[1] = {}) => worldOn(backend, opts);

  describe('commands in a conversation (message path)', () => {
    it('runs an addressed command instead of a turn, deduplicated through the inbox', async () => {
      const w = await world();
      const m = msg('t', '/agent help', { key: 'same' });
      expect(await w.router.accept(m)).toBe('accepted');
      await waitFor(() => w.adapter.texts('t').length === 1);
      expect(w.adapter.texts('t')[0]).toContain('/agent status');
      expect(await w.router.accept({ ...m })).toBe('duplicate');
      expect((await w.store.inbox.get('local:same'))?.state).toBe('done');
      expect(w.runner.runs).toHaveLength(0);
      // the same text not addressed (e.g. a chat channel where the bot reads everything) is a prompt
      await w.router.accept(msg('t2', 'stop', { addressed: false }));
      await w.runner.waitRuns(1);
      expect(w.runner.runs[0]!.req.prompt).toBe('stop');
      // addressed but not fitting a command's grammar: a prompt too
      await w.router.accept(msg('t3', 'help me fix the build', { addressed: true }));
      await w.runner.waitRuns(2);
      expect(w.runner.runs[1]!.req.prompt).toBe('help me fix the build');
    });

    it('status shows agent, model, agent session, running turn, queue, turns and cost', async () => {
      const w = await world();
      w.runner.auto = () => ({ text: 'first answer', sessionId: 'sess-42', usage: { inputTokens: 1, outputTokens: 1, costUsd: 0.0125 } });
      await w.router.accept(msg('s', 'hello'));
      await waitFor(() => w.adapter.texts('s').includes('first answer'));
      w.runner.auto = undefined;
      await w.router.accept(msg('s', 'long job'));
      await w.runner.waitRuns(2);
      await w.router.accept(msg('s', 'queued meanwhile'));
      const text = await command(w, 's', '/agent status');
      expect(text).toContain('agent: claude (default)');
      expect(text).toContain('`sess-42` (claude)');
      expect(text).toMatch(/turn: running for \d+s/);
      expect(text).toContain('queued messages: 1');
      expect(text).toContain('turns answered: 1 · cost so far: $0.0125');
      w.runner.runs[1]!.finish({ text: 'done' });
    });

    it('stop ends the running turn; queued messages stay and run next', async () => {
      const w = await world();
      await w.router.accept(msg('s', 'long job'));
      await w.runner.waitRuns(1);
      await w.router.accept(msg('s', 'queued meanwhile'));
      const text = await command(w, 's', '@agentbridge stop'.replace('@agentbridge ', ''));
      expect(text).toContain('Stopping the running turn');
      expect(text).toContain('1 queued message will be answered next');
      expect(w.runner.runs[0]!.req.signal?.aborted).toBe(true);
      await w.runner.waitRuns(2);
      expect(w.runner.runs[1]!.req.prompt).toContain('queued meanwhile');
      w.runner.runs[1]!.finish({ text: 'second' });
      await waitFor(() => w.adapter.texts('s').includes('second'));
      expect(await command(w, 's', '/agent stop')).toBe('Nothing is running in this conversation.');
    });

    it('reset clears the agent session (transcript kept), cancels scheduled messages; refused while a turn runs', async () => {
      const w = await world();
      w.runner.auto = () => ({ text: 'ok', sessionId: 'sess-1' });
      await w.router.accept(msg('r', 'one'));
      await waitFor(() => w.adapter.texts('r').includes('ok'));
      expect((await w.store.conversations.get('local:general:r'))?.agentSessionId).toBe('sess-1');
      const text = await command(w, 'r', '/agent reset');
      expect(text).toContain('New agent session');
      expect(text).toContain('Cancelled 2 scheduled messages');
      expect(w.scheduled.resets).toEqual(['local:general:r']);
      expect((await w.store.conversations.get('local:general:r'))?.agentSessionId).toBeNull();
      expect((await w.store.entries.list('local:general:r')).map((e) => e.text)).toEqual(['one', 'ok']);
      await w.router.accept(msg('r', 'two'));
      await waitFor(() => w.runner.runs.length === 2);
      expect(w.runner.runs[1]!.req.resumeSessionId).toBeUndefined();

      w.runner.auto = undefined;
      await w.router.accept(msg('r', 'three'));
      await w.runner.waitRuns(3);
      expect(await command(w, 'r', '/agent reset')).toContain('A turn is running');
      expect(w.scheduled.resets).toHaveLength(1);
      w.runner.runs[2]!.finish({ text: 'x', sessionId: 'sess-3' });
    });

    it('agent switches the conversation (model cleared); an unavailable agent or bad name changes nothing', async () => {
      const w = await world();
      expect(await command(w, 'a', '/agent model claude-opus-4')).toContain('`claude-opus-4`');
      expect((await w.store.conversations.get('local:general:a'))?.model).toBe('claude-opus-4');
      const text = await command(w, 'a', '/agent agent codex');
      expect(text).toContain('now uses codex (was claude)');
      expect(text).toContain('model setting (claude-opus-4) was cleared');
      expect(await w.store.conversations.get('local:general:a')).toMatchObject({ agent: 'codex', model: null });
      expect(await command(w, 'a', '/agent agent gemini')).toContain('gemini is not available');
      expect(await command(w, 'a', '/agent agent gpt')).toContain('Usage: `/agent agent <claude|codex|gemini>`');
      expect((await w.store.conversations.get('local:general:a'))?.agent).toBe('codex');
      expect(await command(w, 'a', 'agent codex')).toContain('already uses codex');
    });

    it('model stores the model on the conversation; the next turn uses it; `model default` clears it', async () => {
      const w = await world();
      expect(await command(w, 'm', 'model gpt-5')).toContain('`gpt-5`');
      w.runner.auto = () => ({ text: 'ok' });
      await w.router.accept(msg('m', 'hi'));
      await w.runner.waitRuns(1);
      expect(w.runner.runs[0]!.req.model).toBe('gpt-5');
      expect(await command(w, 'm', '/agent model default')).toContain('Model reset to the default');
      expect((await w.store.conversations.get('local:general:m'))?.model).toBeNull();
      expect(await command(w, 'm', '/agent model two words')).toContain('Usage');
      expect((await w.store.conversations.get('local:general:m'))?.model).toBeNull();
    });

    it('help lists the admin commands only for admins', async () => {
      const w = await world();
      const plain = await command(w, 'h', '/agent help');
      expect(plain).toContain('/agent status');
      expect(plain).not.toContain('/agent workdir');
      const admin = await command(w, 'h', '/agent help', 'root');
      expect(admin).toContain('Admin commands');
      expect(admin).toContain('/agent workdir');
      expect(admin).toContain('cron add <name> "<schedule>"');
    });

    it('replies are standard Markdown (**bold**, - lists), which the Slack render turns into mrkdwn', async () => {
      const w = await world();
      await w.router.accept(msg('md', 'hello'));
      await w.runner.waitRuns(1);
      w.runner.runs[0]!.finish({ text: 'hi' });
      const slackBold = /(^|[^*])\*[^*\s][^*\n]*\*(?!\*)/m; // *bold* (Markdown italics)
      for (const [cmd, heading] of [
        ['/agent help', '**Admin commands**'],
        ['/agent status', '**Status of this conversation**'],
      ] as const) {
        const text = await command(w, 'md', cmd, 'root');
        expect(text).toContain(heading);
        expect(text).not.toMatch(slackBold);
        expect(text).not.toContain('•');
        expect(text).toMatch(/\n\n- /); // a list after a blank line
        const slack = formatSlackMarkdown(text);
        expect(slack).toContain(heading.replaceAll('**', '*'));
        expect(slack).not.toContain('**');
      }
    });

    it('admin commands are refused for non-admins and logged; nothing changes', async () => {
      const w = await world();
      for (const c of ['workdir proj', 'cron list', 'sessions', 'restart']) {
        expect(await command(w, 'x', `/agent ${c}`, 'mallory')).toContain('only for agentbridge admins');
      }
      expect(fs.existsSync(path.join(w.root, 'proj'))).toBe(false);
      expect(w.cron.calls).toEqual([]);
      const refusals = w.logs.filter((l) => l.msg === 'admin command refused: not an admin');
      expect(refusals).toHaveLength(4);
      expect(refusals[0]).toMatchObject({ userId: 'local:mallory', channel: 'general', command: 'workdir', level: 30 });
      await command(w, 'x', '/agent sessions', 'root');
      expect(w.logs.find((l) => l.msg === 'admin command allowed')).toMatchObject({ userId: 'local:root', command: 'sessions' });
    });

    it('workdir: created inside the workspaces root, escapes refused, the agent session cleared', async () => {
      const w = await world();
      w.runner.auto = () => ({ text: 'ok', sessionId: 'sess-w' });
      await w.router.accept(msg('w', 'hi'));
      await waitFor(async () => (await w.store.conversations.get('local:general:w'))?.agentSessionId === 'sess-w');
      const text = await command(w, 'w', '/agent workdir projects/alpha', 'root');
      const dir = fs.realpathSync(path.join(w.root, 'projects/alpha'));
      expect(text).toContain(dir);
      expect(fs.statSync(dir).isDirectory()).toBe(true);
      expect(await w.store.conversations.get('local:general:w')).toMatchObject({ workdir: dir, agentSessionId: null });
      await w.router.accept(msg('w', 'again'));
      await w.runner.waitRuns(2);
      expect(w.runner.runs[1]!.req.cwd).toBe(dir);
      await waitFor(() => w.adapter.texts('w').filter((t) => t === 'ok').length === 2 && !w.bridges.status('local:general:w').running);

      fs.symlinkSync(os.tmpdir(), path.join(w.root, 'out'));
      for (const bad of ['../escape', '/etc', 'out/x', `${w.root}/../x`]) {
        expect(await command(w, 'w', `/agent workdir ${bad}`, 'root')).toContain('Nothing changed');
      }
      expect(fs.existsSync(path.join(w.dir, 'escape'))).toBe(false);
      expect((await w.store.conversations.get('local:general:w'))?.workdir).toBe(dir);
      expect(await command(w, 'w', '/agent workdir', 'root')).toContain(dir);
      expect(await command(w, 'w', '/agent workdir default', 'root')).toContain('(the default)');
      expect((await w.store.conversations.get('local:general:w'))?.workdir).toBeNull();
      expect(() => resolveWorkdir(w.root, '')).toThrow(WorkdirError);
      expect(resolveWorkdir(w.root, `${w.root}/abs`)).toBe(fs.realpathSync(path.join(w.root, 'abs')));
    });

    it('cron add|list|pause|resume|remove|run-now go through the CronService, targeting the current channel', async () => {
      const w = await world();
      const added = await command(w, 'c', '/agent cron add standup "every 1h" --model m1 Summarise the commits', 'root');
      expect(added).toContain('Cron job `standup` added');
      expect(w.cron.jobs[0]).toMatchObject({
        name: 'standup',
        scheduleText: 'every 1h',
        target: { platform: 'local', channel: 'general' },
        prompt: 'Summarise the commits',
        model: 'm1',
        createdBy: 'local:root',
      });
      expect(await command(w, 'c', '/agent cron list', 'root')).toContain('`standup` — `every 1h` → local:general');
      expect(await command(w, 'c', '/agent cron pause standup', 'root')).toContain('paused');
      expect(await command(w, 'c', '/agent cron list', 'root')).toContain('paused');
      expect(await command(w, 'c', '/agent cron resume standup', 'root')).toContain('resumed');
      expect(await command(w, 'c', '/agent cron run-now standup', 'root')).toContain('Started a run of `standup` (run 7)');
      expect(await command(w, 'c', '/agent cron remove standup', 'root')).toContain('removed');
      expect(await command(w, 'c', '/agent cron pause ghost', 'root')).toContain('No cron job named `ghost`');
      expect(await command(w, 'c', '/agent cron add x bogus do it', 'root')).toContain('"bogus" is not a schedule');
      expect(await command(w, 'c', '/agent cron add x', 'root')).toContain('Usage: `/agent cron');
      expect(w.cron.calls).toEqual(['add standup', 'pause job1', 'resume job1', 'run-now job1', 'remove job1']);
    });

    it('sessions lists active conversations and running turns', async () => {
      const w = await world();
      await w.router.accept(msg('busy', 'long job'));
      await w.runner.waitRuns(1);
      await w.router.accept(msg('busy', 'queued'));
      const text = await command(w, 'other', '/agent sessions', 'root');
      expect(text).toContain('**Active conversations**: 1 (1 running turn)');
      expect(text).toMatch(/`local:general:busy` — claude — running for \d+s — 1 queued/);
      w.runner.runs[0]!.finish({ text: 'x' });
    });

    it('restart records who asked, restarts after the reply, and the next start reports back once', async () => {
      let restarts = 0;
      const w = await world({ restart: () => restarts++ });
      const text = await command(w, 'rs', '/agent restart', 'root');
      expect(text).toContain('Restarting agentbridge');
      await waitFor(() => restarts === 1);
      expect(JSON.parse((await w.store.platformState.get(RESTART_KEY))!)).toMatchObject({
        conversationId: 'local:general:rs',
        requestedBy: 'root',
        requestedById: 'local:root',
        replyTarget: { channel: 'general', thread: 'rs' },
      });
      expect(await announceRestart({ store: w.store, outbound: w.outbound, logger: pino({ level: 'silent' }) })).toBe(true);
      expect(w.adapter.texts('rs').at(-1)).toBe('✅ agentbridge restarted (requested by root).');
      expect(await announceRestart({ store: w.store, outbound: w.outbound, logger: pino({ level: 'silent' }) })).toBe(false);
      // not available without a restart hook (a second world, on a database of its own)
      const w2 = await world({ db: await databaseOn(backend, { shared: false }) });
      expect(await command(w2, 'rs', '/agent restart', 'root')).toContain('cannot restart itself');
    });

    it('a restart asked for outside any conversation is announced through the outbox too: durable, retried, shown once', async () => {
      const w = await world();
      const request = {
        replyTarget: { platform: 'local', channel: 'general', thread: 'nc' },
        requestedBy: 'root',
        requestedById: 'local:root',
        at: Date.now(),
      };
      await w.store.platformState.set(RESTART_KEY, JSON.stringify(request));
      w.adapter.failPosts = 1; // the platform fails once: the outbox retries, no direct post
      expect(await announceRestart({ store: w.store, outbound: w.outbound, logger: pino({ level: 'silent' }) })).toBe(true);
      expect(await w.store.platformState.get(RESTART_KEY)).toBe('');
      await waitFor(() => w.adapter.texts('nc').length === 1, 5_000, 'the restart notice after the retry');
      expect(w.adapter.texts('nc')).toEqual(['✅ agentbridge restarted (requested by root).']);
      // The outbox records the delivery after the platform took the post (a write of its own): wait for it.
      await waitFor(async () => (await w.store.outbox.pendingCount()) === 0, 5_000, 'the outbox row recorded as posted');
      expect(await w.store.outbox.pendingCount()).toBe(0);
    });

    it('a command cut short by a stop is not run as a prompt after the restart', async () => {
      const db = await databaseOn(backend);
      const w = await world({ db });
      const m = msg('k', '/agent status');
      await w.store.inbox.accept(m); // accepted, but the process stopped before it ran
      const w2 = await world({ db, recover: false });
      await recoverInbox(w2.store, w2.router, w2.outbound, pino({ level: 'silent' }));
      expect(w2.runner.runs).toHaveLength(0);
      expect((await w2.store.inbox.get(m.eventKey))?.state).toBe('failed');
    });
  });

  describe('slash commands (AdapterContext.runCommand)', () => {
    const req = (text: string, opts: Partial<CommandRequest> = {}): CommandRequest => ({
      platform: 'slack',
      userId: 'U1',
      userName: 'ann',
      channel: 'C1',
      text,
      replyTarget: { platform: 'slack', channel: 'C1' },
      ...opts,
    });

    it('answers ephemerally where only the caller should see it; conversation commands need a conversation', async () => {
      const w = await world({ access: { admins: ['slack:UADMIN'] } });
      expect(await w.commands.runCommand(req('help'))).toMatchObject({ ephemeral: true, text: expect.stringContaining('/agent status') });
      expect((await w.commands.runCommand(req('stop'))).text).toContain('works on a conversation');
      expect((await w.commands.runCommand(req('bogus'))).text).toContain('Unknown command `bogus`');
      expect((await w.commands.runCommand(req('sessions'))).text).toContain('only for agentbridge admins');
      expect((await w.commands.runCommand(req('sessions', { userId: 'UADMIN' }))).text).toContain('No active conversations');
      const conv = 'slack:T1:C1:1.0';
      const r = await w.commands.runCommand(req('model gpt-5', { conversationId: conv, replyTarget: { platform: 'slack', channel: 'C1', thread: '1.0' } }));
      expect(r).toMatchObject({ ephemeral: false });
      expect(await w.store.conversations.get(conv)).toMatchObject({ model: 'gpt-5', platform: 'slack', channel: 'C1', thread: '1.0' });
      expect((await w.commands.runCommand(req('/agent status', { conversationId: conv }))).text).toContain('model: gpt-5');
    });

    it('refuses people who are not allowed', async () => {
      const w = await world({ access: { allowedUsers: ['slack:U1'] } });
      expect((await w.commands.runCommand(req('help', { userId: 'U2' }))).text).toContain('Sorry');
      expect((await w.commands.runCommand(req('help'))).text).toContain('/agent status');
    });
  });
});
