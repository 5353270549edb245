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
import { slackSignature } from '../twins/slack/events.js';
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
    const event = (ts: string) =>
      twin.envelope({ type: 'app_mention', user: 'U0ALICE', text: `<@${twin.botUserId}> FORGED-${ts}`, ts, event_ts: ts, channel: CHANNEL, team: twin.teamId });

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
    await waitFor(
      () => ab.logs.filter((l) => l.msg === 'slack: Events API request rejected').length === rejectedBefore + 3,
      5_000,
      'the rejections to be logged',
    );
    // Only the two signed commands reached the command service.
    expect(ab.logs.filter((l) => l.msg === 'access allowed' && l.what === 'slash command').map((l) => l.command)).toEqual(['help', 'status']);
  });

  it('a signed slash command or event replayed within the 5-minute window is refused and does nothing', async () => {
    /** Sends exactly these bytes with exactly this timestamp and signature (what an attacker who captured a request has). */
    const send = (path: string, body: string, contentType: string, timestamp: string) =>
      fetch(`${ab.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': contentType,
          'x-slack-request-timestamp': timestamp,
          'x-slack-signature': slackSignature(twin.signingSecret, timestamp, body),
        },
        body,
      });
    const ts = String(Math.floor(Date.now() / 1000));
    const commandsBefore = ab.logs.filter((l) => l.msg === 'access allowed' && l.what === 'slash command').length;
    const form = new URLSearchParams({
      token: 't',
      team_id: twin.teamId,
      channel_id: CHANNEL,
      channel_name: 'general',
      user_id: 'U0ALICE',
      user_name: 'alice',
      command: '/agent',
      text: 'help',
      api_app_id: 'A0TWIN',
      response_url: `${twin.url}/response/replay`,
      trigger_id: 'tr1',
    }).toString();
    const first = await send('/slack/commands', form, 'application/x-www-form-urlencoded', ts);
    expect(first.status).toBe(200);
    expect(String(((await first.json()) as { text: string }).text)).toContain('/agent status');
    const replay = await send('/slack/commands', form, 'application/x-www-form-urlencoded', ts);
    expect(replay.status).toBe(401);
    await waitFor(
      () => ab.logs.some((l) => l.msg === 'slack: Events API request rejected' && String(l.reason).includes('replayed')) || undefined,
      5_000,
      'the replay to be logged',
    );
    expect(ab.logs.filter((l) => l.msg === 'access allowed' && l.what === 'slash command')).toHaveLength(commandsBefore + 1);

    const inbox = await inboxTotal(ab.url);
    // The message exists in the twin (so the answer can go in its thread); its event is sent by hand.
    const msgTs = twin.store.add({ channel: CHANNEL, text: `<@${twin.botUserId}> REPLAYED-EVENT`, user: 'U0BOB' }).ts;
    const envelope = JSON.stringify(
      twin.envelope({
        type: 'app_mention',
        user: 'U0BOB',
        text: `<@${twin.botUserId}> REPLAYED-EVENT`,
        ts: msgTs,
        event_ts: msgTs,
        channel: CHANNEL,
        team: twin.teamId,
      }),
    );
    expect((await send('/slack/events', envelope, 'application/json', ts)).status).toBe(200);
    expect((await send('/slack/events', envelope, 'application/json', ts)).status).toBe(401);
    expect(await inboxTotal(ab.url)).toBe(inbox + 1);
    await waitFor(() => model.mainRequests().some((r) => lastUserText(r).includes('REPLAYED-EVENT')) || undefined, 45_000, 'the turn of the event');
    await waitForAnswer(twin, CHANNEL, msgTs, 'echo: REPLAYED-EVENT');
    expect(model.mainRequests().filter((r) => lastUserText(r).includes('REPLAYED-EVENT'))).toHaveLength(1);
    expect(answersStartingWith(twin, CHANNEL, msgTs, 'echo:')).toHaveLength(1);
  });
});
