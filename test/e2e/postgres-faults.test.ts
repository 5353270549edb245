/**
 * End to end, PostgreSQL faults (the PostgreSQL twin of ./disk-full.test.ts): agentbridge as its
 * own process on a throwaway PostgreSQL server of this test (test/helpers/pg-server.ts — never the
 * machine's shared server, which other tests use), the real `claude` CLI against the scripted
 * Anthropic model, the local chat.
 *
 * (a) The server is stopped while a turn runs (the model holds its answer) and started again:
 * meanwhile /healthz answers 503 with a reason naming the database (its URL without the password), and a
 * new message is refused (503, nothing stored: the user sends it again); the held turn's commit
 * fails and waits. Once the server is back — without restarting agentbridge — /healthz is 200,
 * the held message is answered exactly once (the agent got its prompt once) and the message sent
 * again is answered once.
 * (b) Slack (the twin, Events API over HTTP) while the server is down: the event is not
 * acknowledged (a 5xx, so Slack retries); Slack's retry after the server is back is answered once.
 * (c) A second agentbridge (another data directory, the same database) is refused at start: a
 * non-zero exit and a message naming the holder (the first one's pid), while the first keeps answering.
 */
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { claudeServiceEnv, health, LocalChat, runCli, startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { startPgServer, type PgServer } from '../helpers/pg-server.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { SlackTwin } from '../twins/slack/twin.js';
import { CHANNEL, slackEnv, USERS, waitForAnswer, botMessages } from '../twins/slack/harness.js';

const PASSWORD = 'e2e-pg-fault-secret';

let model: AnthropicModel;
let sb: Sandbox;
let server: PgServer;
const running: AgentbridgeProcess[] = [];

beforeAll(async () => {
  model = await startAnthropicModel();
  sb = makeSandbox();
  server = await startPgServer({ password: PASSWORD });
}, 180_000);

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  model.setResponder(undefined);
  await server.start(); // a failed test may have left it stopped
});

afterAll(async () => {
  try {
    await model?.close();
    expect(processesMentioning(sb.root)).toEqual([]);
  } finally {
    await server?.destroy();
    sb?.cleanup();
  }
}, 60_000);

/** The environment of an agentbridge on the test's own server, database `db`, data directory `dataDir`. */
function env(db: string, dataDir: string): NodeJS.ProcessEnv {
  const url = new URL(server.url);
  url.pathname = `/${db}`;
  return claudeServiceEnv(sb, model.url, { AGENTBRIDGE_DATA_DIR: dataDir, AGENTBRIDGE_DATABASE_URL: url.toString() });
}

/** Creates database `name` on the test's server. */
async function createDatabase(name: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
}

describe('PostgreSQL faults, end to end', () => {
  it('the server stopped mid-turn and started again: 503 naming the database (no password), then 200 without a restart; nothing lost, each answered once', async () => {
    await createDatabase('faults_a');
    const ab = await startAgentbridge(env('faults_a', path.join(sb.root, 'data-a')), sb.root);
    running.push(ab);
    const chat = new LocalChat(ab.url);
    const answer = (thread: string, text: string) => waitFor(async () => (await chat.botTexts('general', thread)).includes(text), 60_000, `answer "${text}"`);

    const warm = await chat.send('general', 'warm up', { user: 'ann' });
    await answer(warm.thread, 'echo: warm up');
    expect((await health(ab.url)).status).toBe(200);

    // A message accepted before the fault, whose agent answers only once the server is down.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    model.setResponder(async (req) => {
      const text = lastUserText(req);
      if (text.includes('HOLD')) await released;
      return { text: `echo: ${text}` };
    });
    const held = await chat.send('general', 'HOLD until the database is back', { user: 'ann' });
    await waitFor(() => model.mainRequests().some((r) => lastUserText(r).includes('HOLD')), 60_000, 'the model to receive the held prompt');

    await server.stop();

    // /healthz: 503, the reason names the database by its URL without the password.
    const sick = await waitFor(
      async () => {
        const h = await health(ab.url);
        return h.status === 503 ? h : undefined;
      },
      30_000,
      '/healthz 503 while the server is down',
    );
    expect(sick.body.ok).toBe(false);
    expect(sick.body.reason).toMatch(/database cannot be written: .*(ECONNREFUSED|57P01|Connection terminated|not queryable)/);
    expect(sick.body.reason).toContain(`(PostgreSQL at postgres://postgres:***@127.0.0.1:${server.port}/faults_a)`);
    expect(JSON.stringify(sick.body)).not.toContain(PASSWORD);
    expect(sick.body.agent).toBe('claude'); // the other fields stay

    // A message sent now is refused (nothing stored): the user is told to send it again.
    const refused = await fetch(`${ab.url}/api/local/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'general', text: 'SENT while the database is down', user: 'ann' }),
    });
    expect(refused.status, JSON.stringify(ab.logs.slice(-5))).toBe(503);
    const refusedBody = (await refused.json()) as { error: string };
    expect(refusedBody.error).toMatch(/cannot write its database.*send it again/);
    expect(refusedBody.error).not.toContain(PASSWORD);

    // The agent answers now: the turn's commit fails on the lost server and waits to run again.
    release();
    await waitFor(
      () => ab.logs.some((l) => l.msg === 'turn failed on a storage fault; it runs again once the database can be written'),
      60_000,
      'the held turn to fail on the stopped server',
    );
    expect((await health(ab.url)).status).toBe(503);
    expect(ab.child.exitCode).toBeNull(); // still running: no crash, no restart

    await server.start();
    await waitFor(async () => (await health(ab.url)).status === 200, 60_000, '/healthz 200 again');
    await answer(held.thread, 'echo: HOLD until the database is back');

    // The refused message, sent again, is answered once.
    const again = await chat.send('general', 'SENT while the database is down', { user: 'ann' });
    await answer(again.thread, 'echo: SENT while the database is down');

    // Exactly once: one answer per thread, each prompt reached the agent once.
    expect((await chat.botTexts('general', held.thread)).filter((t) => t.includes('HOLD'))).toEqual(['echo: HOLD until the database is back']);
    expect((await chat.botTexts('general', again.thread)).filter((t) => t.includes('SENT'))).toEqual(['echo: SENT while the database is down']);
    expect(model.mainRequests().filter((r) => lastUserText(r).includes('HOLD'))).toHaveLength(1);
    expect(model.mainRequests().filter((r) => lastUserText(r).includes('SENT'))).toHaveLength(1);
    // The refused attempt left no trace: three threads, three inbox rows, all done.
    const threads = (await (await fetch(`${ab.url}/api/local/threads?channel=general`)).json()) as { threads: Array<{ text: string }> };
    expect(threads.threads.map((t) => t.text).sort()).toEqual(['HOLD until the database is back', 'SENT while the database is down', 'warm up']);
    const after = await health(ab.url);
    expect(after.body).toMatchObject({ ok: true, inbox: { queued: 0, running: 0, done: 3, failed: 0 }, outboxPending: 0 });
    expect(after.body.reason).toBeUndefined();
    // Logs name the database without its password.
    expect(JSON.stringify(ab.logs)).not.toContain(PASSWORD);
    expect(ab.stderr()).not.toContain(PASSWORD);
    expect(await ab.stop()).toBe(0);
  });

  it('Slack while the server is down: the event is not acknowledged (Slack retries); the retry is answered once after the server is back', async () => {
    await createDatabase('faults_slack');
    const twin = await SlackTwin.start({ users: USERS });
    try {
      const url = new URL(server.url);
      url.pathname = '/faults_slack';
      const ab = await startAgentbridge(
        { ...slackEnv(sb, model, twin, 'http'), AGENTBRIDGE_DATA_DIR: path.join(sb.root, 'data-slack'), AGENTBRIDGE_DATABASE_URL: url.toString() },
        sb.root,
      );
      running.push(ab);
      twin.eventsUrl = `${ab.url}/slack/events`;
      const warm = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'warm up', mention: true });
      expect(warm.http.map((h) => h.status)).toEqual([200]);
      await waitForAnswer(twin, CHANNEL, warm.ts, 'echo: warm up', 60_000);

      await server.stop();
      const down = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'SLACK while the database is down', mention: true });
      expect(down.http).toHaveLength(1);
      expect(
        down.http[0]!.status,
        JSON.stringify({
          http: down.http,
          exit: ab.child.exitCode,
          signal: ab.child.signalCode,
          stderr: ab.stderr().slice(-2500),
          logs: ab.logs.slice(-3).map((l) => l.msg),
        }),
      ).toBeGreaterThanOrEqual(500); // not acknowledged: Slack delivers it again
      expect(ab.child.exitCode).toBeNull();

      await server.start();
      await waitFor(async () => (await health(ab.url)).status === 200, 60_000, '/healthz 200 again');
      const retry = await twin.redeliver(down.eventIds[0]!);
      expect(retry?.status).toBe(200);
      await waitForAnswer(twin, CHANNEL, down.ts, 'echo: SLACK while the database is down', 60_000);
      expect(botMessages(twin, CHANNEL, down.ts).filter((m) => m.text.includes('SLACK while'))).toHaveLength(1);
      expect(model.mainRequests().filter((r) => lastUserText(r).includes('SLACK while'))).toHaveLength(1);
      expect(JSON.stringify(ab.logs)).not.toContain(PASSWORD);
      expect(await ab.stop()).toBe(0);
    } finally {
      await twin.close();
    }
  });

  it('a second agentbridge on the same database is refused at start, naming the holder; the first keeps answering', async () => {
    await createDatabase('faults_b');
    const first = await startAgentbridge(env('faults_b', path.join(sb.root, 'data-b1')), sb.root);
    running.push(first);
    const chat = new LocalChat(first.url);

    const second = await runCli(['start'], { AGENTBRIDGE_HTTP_PORT: '0', ...env('faults_b', path.join(sb.root, 'data-b2')) }, sb.root, 60_000);
    expect(second.code).not.toBe(0);
    expect(second.code).not.toBeNull();
    const said = second.stdout + second.stderr;
    expect(said).toMatch(/another agentbridge .*is using the database at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/faults_b/);
    expect(said).toContain(`agentbridge pid ${first.child.pid} on `);
    expect(said).not.toContain(PASSWORD);

    const msg = await chat.send('general', 'still here?', { user: 'ann' });
    await waitFor(async () => (await chat.botTexts('general', msg.thread)).includes('echo: still here?'), 60_000, 'the first agentbridge to answer');
    expect((await health(first.url)).status).toBe(200);
    expect(await first.stop()).toBe(0);
  });
});
