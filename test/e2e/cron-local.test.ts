/**
 * End to end: a cron job on the local chat platform. The job is created with the CLI while
 * agentbridge is stopped (`cron add`, then `cron run-now` so the test need not wait a minute);
 * agentbridge then runs it with the real `claude` CLI against the scripted model, posts the
 * output as a new top-level message (a new thread) in channel `ops`, and records the run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { LocalChat, runCli, startAgentbridge, type AgentbridgeProcess, claudeServiceEnv } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';

let model: AnthropicModel;
let sb: Sandbox;
let ab: AgentbridgeProcess | undefined;

const PROMPT = 'summarise the ops status of PINEAPPLE';

function env(): NodeJS.ProcessEnv {
  return claudeServiceEnv(sb, model.url);
}

const cli = (...args: string[]) => runCli(['cron', ...args], env(), sb.root);

interface ThreadSummary {
  thread: string;
  user: string;
  text: string;
  replies: number;
}

async function threads(url: string, channel: string): Promise<ThreadSummary[]> {
  const res = await fetch(`${url}/api/local/threads?channel=${channel}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { threads: ThreadSummary[] }).threads;
}

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
});

afterAll(async () => {
  await ab?.stop();
  await model?.close();
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('cron job on the local chat, end to end', () => {
  it('refuses invalid jobs with a message and exit code 2', async () => {
    const bad = await cli('add', '--name', 'ops-digest', '--schedule', 'every 10s', '--platform', 'local', '--channel', 'ops', '--prompt', PROMPT);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"every 10s" is too frequent: the shortest interval is 1m');
    const tz = await cli(
      'add',
      '--name',
      'ops-digest',
      '--schedule',
      '0 9 * * *',
      '--tz',
      'Europe/Berlln',
      '--platform',
      'local',
      '--channel',
      'ops',
      '--prompt',
      PROMPT,
    );
    expect(tz.code).toBe(2);
    expect(tz.stderr).toContain('unknown time zone "Europe/Berlln"');
    const platform = await cli('add', '--name', 'ops-digest', '--schedule', 'every 1h', '--platform', 'slack', '--channel', 'C0123', '--prompt', PROMPT);
    expect(platform.code).toBe(2);
    expect(platform.stderr).toContain('platform slack is not enabled');
  });

  it('runs the job, posts its output as a new top-level message in #ops, and records the run', async () => {
    const added = await cli('add', '--name', 'ops-digest', '--schedule', 'every 1m', '--platform', 'local', '--channel', 'ops', '--prompt', PROMPT);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^added cron job "ops-digest" \(id [0-9a-f]+\): every 1m → local channel ops; next run /);
    const queued = await cli('run-now', 'ops-digest');
    expect(queued.code).toBe(0);
    expect(queued.stdout).toContain('it runs when agentbridge starts');

    ab = await startAgentbridge(env(), sb.root);
    const chat = new LocalChat(ab.url);
    const thread = await waitFor(async () => (await threads(ab!.url, 'ops')).find((t) => t.text === `echo: ${PROMPT}`), 45_000, 'the job output in #ops');
    expect(thread.user).toBe('agentbridge');
    const messages = await chat.messages('ops', thread.thread);
    expect(messages.map((m) => [m.bot, m.text])).toEqual([[true, `echo: ${PROMPT}`]]); // top-level, the start of its own thread
    expect(messages[0]!.id).toBe(thread.thread);

    // The model saw the job's prompt.
    expect(model.mainRequests().some((r) => allText(r).includes(PROMPT))).toBe(true);

    // The run history (read-only while agentbridge runs) shows an ok run with the posted message's key.
    const runs = await waitFor(
      async () => {
        const r = await cli('runs', 'ops-digest');
        return r.code === 0 && /#\d+ {2}ok /.test(r.stdout) ? r.stdout : undefined;
      },
      20_000,
      'an ok run in `cron runs`',
    );
    expect(runs).toContain(`posted=local:ops:${thread.thread}`);
    expect(runs).toMatch(/start=\S+Z {2}end=\S+Z/);
    expect(runs).toContain('(manual)');

    const list = await cli('list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/ops-digest {2}enabled {2}every 1m {2}→ local channel ops/);

    // Writes are refused while agentbridge owns the data directory.
    const pause = await cli('pause', 'ops-digest');
    expect(pause.code).toBe(1);
    expect(pause.stderr).toContain('/agent cron');
  });
});
