/**
 * Cluster mode on every platform (docs/ARCHITECTURE.md §10): three agentbridge processes on one
 * PostgreSQL database, the real `claude` CLI and the scripted model, the real @slack/bolt and
 * discord.js clients against the twins.
 * - Slack Socket Mode: instances 1 and 2 each hold a connection and the twin sends every event to
 *   one of them at random (as Slack does); Slack HTTP Events go to instance 0 (what a load
 *   balancer would pick). Every mention is answered once, in its thread.
 * - Discord: one instance at a time holds the gateway (the `discord-gateway` lease; the twin counts
 *   identifies while another session is live: none). Killing the holder moves the gateway to
 *   another instance, and a message sent while nobody held it is caught up and answered once.
 * - The local chat API of any instance.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { LocalChat } from '../helpers/agentbridge.js';
import { freshPostgresDatabase } from '../helpers/pg.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { readLeaseHolders } from '../../src/store/pg-lease.js';
import { SlackTwin } from '../twins/slack/twin.js';
import { botMessages, CHANNEL, USERS, waitForAnswer } from '../twins/slack/harness.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';
import { answer, countAnswers } from '../twins/discord/harness.js';

let model: AnthropicModel;
let sb: Sandbox;
let slack: SlackTwin;
let discord: DiscordTwin;
let cluster: TestCluster;
let drop: () => Promise<void>;

beforeAll(async () => {
  [model, slack, discord] = await Promise.all([startAnthropicModel(), SlackTwin.start({ users: USERS }), startDiscordTwin({ channels: ['agent-chat'] })]);
  sb = makeSandbox();
  const db = await freshPostgresDatabase();
  drop = db.drop;
  cluster = await startCluster(sb, model.url, db.url, 3, {
    extra: {
      DISCORD_BOT_TOKEN: discord.token,
      DISCORD_API_URL: discord.apiUrl,
      DISCORD_CHANNELS: discord.channels['agent-chat']!,
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_API_URL: `${slack.url}/api`,
      // With Slack and Discord configured the local chat is off unless asked for.
      AGENTBRIDGE_LOCAL_CHAT: 'on',
    },
    // Instance 0 takes Slack's HTTP Events; 1 and 2 hold Socket Mode connections.
    per: (i) => (i === 0 ? { SLACK_SIGNING_SECRET: slack.signingSecret } : { SLACK_APP_TOKEN: slack.appToken }),
  });
  await waitFor(() => discord.connected(), 30_000, 'an instance on the Discord gateway');
}, 240_000);

afterAll(async () => {
  await cluster?.stopAll();
  await Promise.all([slack?.close(), discord?.close(), model?.close()]);
  await drop?.();
  expect(processesMentioning(sb.root)).toEqual([]);
  sb?.cleanup();
});

/** Index of the instance holding the Discord gateway lease. */
async function gatewayHolder(): Promise<number> {
  const holders = await readLeaseHolders(cluster.url, ['discord-gateway']);
  return Number(/^node-(\d+)$/.exec(holders[0]?.instanceId ?? '')?.[1] ?? -1);
}

describe('cluster mode on Slack, Discord and the local chat', () => {
  it('Slack: Socket Mode events spread over two instances and HTTP Events to a third are each answered once', async () => {
    // Instances 1 and 2 each hold a Socket Mode connection; instance 0 (HTTP Events) none.
    await waitFor(() => slack.socket.openConnections === 2, 30_000, 'two Socket Mode connections');
    const posts: Awaited<ReturnType<SlackTwin['userPosts']>>[] = [];
    for (let k = 0; k < 4; k++) posts.push(await slack.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: `socket question ${k}`, mention: true }));
    for (const [k, p] of posts.entries()) await waitForAnswer(slack, CHANNEL, p.ts, `echo: socket question ${k}`, 120_000);
    // Every event went over Socket Mode (to one of the two connections, at random).
    expect(slack.socket.envelopes.filter((e) => posts.some((p) => p.eventIds.includes(e.event_id))).length).toBeGreaterThanOrEqual(posts.length);

    slack.eventsUrl = `${cluster.nodes[0]!.url}/slack/events`;
    try {
      const viaHttp = await slack.userPosts({ user: 'U0ALICE', channel: CHANNEL, text: 'http question', mention: true });
      expect(viaHttp.http.every((h) => h.status === 200)).toBe(true);
      await waitForAnswer(slack, CHANNEL, viaHttp.ts, 'echo: http question', 120_000);
      posts.push(viaHttp);
    } finally {
      slack.eventsUrl = undefined;
    }
    for (const p of posts) {
      const answers = botMessages(slack, CHANNEL, p.ts).filter((m) => m.text.startsWith('echo:'));
      expect(answers, `thread ${p.ts}`).toHaveLength(1);
    }
  });

  it('Discord: one gateway holder at a time; killing it moves the gateway and a message sent meanwhile is answered once', async () => {
    const ch = discord.channels['agent-chat']!;
    discord.userSays({ user: 'Alice', channel: ch, content: 'first on discord' });
    await answer(discord, ch, 'echo: first on discord', 120_000);

    const holder = await gatewayHolder();
    expect(holder).toBeGreaterThanOrEqual(0);
    await cluster.nodes[holder]!.stop('SIGKILL');
    cluster.nodes[holder] = undefined;
    await waitFor(() => !discord.connected(), 30_000, 'the gateway connection to drop');
    // Nobody holds the gateway for a moment: this message is taken by the next holder's catch-up.
    discord.userSays({ user: 'Alice', channel: ch, content: 'sent while the gateway moved' });
    await waitFor(() => discord.connected(), 60_000, 'another instance on the gateway');
    await answer(discord, ch, 'echo: sent while the gateway moved', 120_000);
    const next = await gatewayHolder();
    expect(next).not.toBe(holder);
    await cluster.start(holder); // its orphaned agent processes are reaped
    discord.userSays({ user: 'Alice', channel: ch, content: 'after the restart' });
    await answer(discord, ch, 'echo: after the restart', 120_000);
    for (const text of ['first on discord', 'sent while the gateway moved', 'after the restart']) expect(countAnswers(discord, ch, `echo: ${text}`)).toBe(1);
    expect(discord.gatewayOverlaps()).toBe(0);
  });

  it('the local chat of any instance', async () => {
    const [a, b] = [new LocalChat(cluster.nodes[1]!.url), new LocalChat(cluster.nodes[2]!.url)];
    const { thread } = await a.send('general', 'local hello', { user: 'ann' });
    await waitFor(async () => (await b.botTexts('general', thread)).includes('echo: local hello'), 120_000, 'the local answer');
    expect((await a.messages('general', thread)).map((m) => m.text)).toEqual(['local hello', 'echo: local hello']);
  });
});
