/**
 * End to end over the Events API (HTTP): agentbridge as its own process with
 * SLACK_SIGNING_SECRET and no app token, so Slack events arrive at `POST /slack/events` on its
 * HTTP server; the twin signs and delivers them. Real `claude` CLI, scripted model.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastUserText, startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { startAgentbridge, type AgentbridgeProcess } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { SlackTwin } from '../twins/slack/twin.js';
import { answersStartingWith, CHANNEL, inboxTotal, slackEnv, USERS, waitForAnswer } from '../twins/slack/harness.js';

let model: AnthropicModel;
let twin: SlackTwin;
let sb: Sandbox;
let ab: AgentbridgeProcess;

beforeAll(async () => {
  [model, twin] = await Promise.all([startAnthropicModel(), SlackTwin.start({ users: USERS })]);
  sb = makeSandbox();
  ab = await startAgentbridge(slackEnv(sb, model, twin, 'http'), sb.root);
  twin.eventsUrl = `${ab.url}/slack/events`;
});

afterAll(async () => {
  expect(await ab?.stop()).toBe(0);
  await Promise.all([model?.close(), twin?.close()]);
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

describe('Slack over the Events API (HTTP), end to end', () => {
  it('answers url_verification; a signed mention is answered in its thread, a retry changes nothing', async () => {
    const verify = await twin.sendHttp({ token: 'x', challenge: 'challenge-42', type: 'url_verification' });
    expect(verify.status).toBe(200);
    expect(JSON.parse(verify.body)).toEqual({ challenge: 'challenge-42' });

    const post = await twin.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'over HTTP please', mention: true, also_as_message: true });
    expect(post.http.map((h) => h.status)).toEqual([200, 200]);
    const answer = await waitForAnswer(twin, CHANNEL, post.ts, 'echo: over HTTP please');
    expect(answer.thread_ts).toBe(post.ts);

    const inbox = await inboxTotal(ab.url);
    expect((await twin.redeliver(post.eventIds[0]!))?.status).toBe(200);
    expect(await inboxTotal(ab.url)).toBe(inbox);
    expect(model.mainRequests().filter((r) => lastUserText(r).includes('over HTTP please'))).toHaveLength(1);
    expect(answersStartingWith(twin, CHANNEL, post.ts, 'echo:')).toHaveLength(1);
  });

  it('a bad signature, a stale timestamp and a malformed body are rejected and change nothing', async () => {
    const inbox = await inboxTotal(ab.url);
    const requests = model.mainRequests().length;
    const postsBefore = twin.callsOf('chat.postMessage').length;
    const event = (ts: string) => twin.envelope({ type: 'app_mention', user: 'U0ALICE', text: `<@${twin.botUserId}> FORGED-${ts}`, ts, event_ts: ts, channel: CHANNEL, team: twin.teamId });

    expect((await twin.sendHttp(event('1700099999.000001'), 'bad')).status).toBe(401);
    expect((await twin.sendHttp(event('1700099999.000002'), 'stale')).status).toBe(401);
    expect((await twin.sendHttp(event('1700099999.000003'), 'none')).status).toBe(401);
    expect((await twin.sendHttp('{"type":"event_callback","event":{"type":"app_mention"', 'valid')).status).toBe(400);
    expect((await twin.sendHttp('"just a string"', 'valid')).status).toBe(400);
    expect((await twin.sendHttp({ type: 'event_callback', event_id: 'Ev1' }, 'valid')).status).toBe(400);

    // A valid event afterwards still works, and nothing of the rejected ones got in.
    const ok = await twin.userPosts({ user: 'U0BOB', channel: CHANNEL, text: 'still working?', mention: true });
    await waitForAnswer(twin, CHANNEL, ok.ts, 'echo: still working?');
    expect(await inboxTotal(ab.url)).toBe(inbox + 1);
    expect(model.mainRequests()).toHaveLength(requests + 1);
    expect(model.mainRequests().filter((r) => lastUserText(r).includes('FORGED'))).toEqual([]);
    expect(twin.callsOf('chat.postMessage').filter((c) => c.params.thread_ts?.startsWith('1700099999'))).toEqual([]);
    expect(twin.callsOf('chat.postMessage').length).toBe(postsBefore + 1);
    await waitFor(() => ab.logs.filter((l) => l.msg === 'slack: Events API request rejected').length >= 6, 5_000, 'the rejections to be logged');
    expect(ab.child.exitCode).toBeNull();
  });

  it('/agent slash commands arrive as signed form bodies and are answered in the HTTP response; forged ones are refused', async () => {
    const help = await twin.slashCommand({ user: 'U0ALICE', channel: CHANNEL, text: 'help' });
    expect(help.status).toBe(200);
    expect(help.ackedAt! - help.sentAt).toBeLessThan(3_000);
    expect(help.ack).toMatchObject({ response_type: 'ephemeral' });
    expect(String(help.ack!.text)).toContain('/agent status');
    // the same at /slack/events (form bodies there are commands too)
    twin.commandsUrl = `${ab.url}/slack/events`;
    const status = await twin.slashCommand({ user: 'U0ALICE', channel: CHANNEL, text: 'status' });
    twin.commandsUrl = undefined;
    expect(status.status).toBe(200);
    expect(String(status.ack!.text)).toContain('`@agentbridge status`');

    const rejectedBefore = ab.logs.filter((l) => l.msg === 'slack: Events API request rejected').length;
    for (const signing of ['bad', 'stale', 'none'] as const) {
      const forged = await twin.slashCommand({ user: 'U0ALICE', channel: CHANNEL, text: 'help', signing });
      expect(forged.status).toBe(401);
      expect(forged.responses).toEqual([]);
    }
    await waitFor(() => ab.logs.filter((l) => l.msg === 'slack: Events API request rejected').length === rejectedBefore + 3, 5_000, 'the rejections to be logged');
    // Only the two signed commands reached the command service.
    expect(ab.logs.filter((l) => l.msg === 'access allowed' && l.what === 'slash command').map((l) => l.command)).toEqual(['help', 'status']);
  });
});
