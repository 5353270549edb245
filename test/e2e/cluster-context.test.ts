/**
 * Cluster mode end to end, context across hosts (docs/ARCHITECTURE.md §10; issue 15 "context
 * across hosts"): two agentbridge instances on one PostgreSQL database, each with its own HOME
 * (as if on two machines; `AGENTBRIDGE_WORKSPACES_SHARED` unset, so claude's session files reach
 * the other instance only through the database), the real `claude` CLI and the scripted model.
 *
 * A conversation's turns alternate between the instances: before each next message the instance
 * that ran the previous turn is stopped (SIGTERM), so the other must run it — resuming claude's
 * session from the files it restores — and is then started again. The model answers `ECHO[n]`
 * where n counts the turns it sees in the request: it grows 1, 2, 3, 4, each request holds every
 * earlier prompt and answer exactly once, the restore is logged, and no "continued from the
 * transcript" notice (LOST_SESSION_NOTICE) is posted.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { LOST_SESSION_NOTICE } from '../../src/conversation/seeding.js';
import { lastUserText, type MessagesBody, type RecordedRequest } from '../models/anthropic.js';
import { LocalChat } from '../helpers/agentbridge.js';
import { runnerOf, useClusterSuite } from '../helpers/cluster.js';
import { waitFor } from '../helpers/sandbox.js';

const suite = useClusterSuite();

const WORD_RE = /word-(\d+)/g;

/** Text of the request's messages of `role` (strings and text blocks; the CLI's reminders included). */
function roleText(body: MessagesBody, role: string): string {
  const out: string[] = [];
  for (const m of body.messages ?? []) {
    if (m.role !== role) continue;
    if (typeof m.content === 'string') out.push(m.content);
    else for (const b of m.content) if (b.type === 'text' && typeof b.text === 'string') out.push(b.text);
  }
  return out.join('\n');
}

/** True when the stored claude session files of `conversationId` hold `needle` (its newest turn). */
async function sessionSaved(url: string, conversationId: string, needle: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM agent_session_files WHERE conversation_id = $1 AND agent = 'claude' AND strpos(content, $2) > 0",
      [conversationId, needle],
    );
    return Number(rows[0]?.n) > 0;
  } finally {
    await client.end();
  }
}

/** Occurrences of `needle` in `text`. */
const count = (text: string, needle: string): number => text.split(needle).length - 1;

describe('cluster mode: context across hosts', () => {
  it('a conversation whose turns alternate between two instances with their own HOME keeps its context (ECHO[n] grows, session restored)', async () => {
    const c = await suite.newCluster(2, {
      ownHomes: true,
      // A graceful stop, as in a rolling restart.
      extra: { AGENTBRIDGE_SHUTDOWN_GRACE_S: '30' },
    });
    // ECHO[n]: n = the number of distinct turns (word-k) the user content of the request holds.
    suite.model.setResponder((req: RecordedRequest) => {
      const seen = new Set([...roleText(req.body, 'user').matchAll(WORD_RE)].map((m) => m[1]));
      return { text: `ECHO[${seen.size}] ${lastUserText(req)}` };
    });
    const turns = 4;
    const chat = (i: number) => new LocalChat(c.nodes[i]!.url);
    const prompt = (n: number) => `turn ${n}: remember word-${n}`;

    const { thread } = await chat(0).send('general', prompt(1), { user: 'ann' });
    const conv = `local:general:${thread}`;
    await waitFor(async () => (await chat(0).botTexts('general', thread)).includes(`ECHO[1] ${prompt(1)}`), 120_000, 'the answer to turn 1');
    const runners = [runnerOf(c, conv)];
    expect(runners[0]).toBeGreaterThanOrEqual(0);

    for (let n = 2; n <= turns; n++) {
      // Stop the instance that ran the previous turn: the other one must run this one.
      const previous = runners[runners.length - 1]!;
      const other = 1 - previous;
      // Its session files reached the database (they are saved just after the answer is posted).
      await waitFor(() => sessionSaved(c.url, conv, `word-${n - 1}`), 60_000, `the session files of turn ${n - 1} in the database`);
      await c.nodes[previous]!.stop('SIGTERM');
      c.nodes[previous] = undefined;
      await chat(other).send('general', prompt(n), { thread, user: 'ann' });
      await waitFor(async () => (await chat(other).botTexts('general', thread)).some((t) => t.includes(prompt(n))), 120_000, `the answer to turn ${n}`);
      runners.push(runnerOf(c, conv));
      // The instance that ran it restored claude's session files from the database before resuming.
      expect(
        c.nodes[other]!.logs.some((l) => l.msg === 'agent session files restored from the database'),
        `instance ${other} restored the session files for turn ${n}`,
      ).toBe(true);
      await c.start(previous);
    }

    // The turns alternated between the two instances.
    expect(runners).toEqual(Array.from({ length: turns }, (_, k) => (runners[0]! + k) % 2));

    // ECHO[n] grows: every answer saw all earlier turns; nothing continued from the transcript.
    const texts = await chat(0).botTexts('general', thread);
    expect(texts).toEqual(Array.from({ length: turns }, (_, k) => `ECHO[${k + 1}] ${prompt(k + 1)}`));
    expect(texts.some((t) => t.includes(LOST_SESSION_NOTICE))).toBe(false);

    // The request for turn n carries turns 1..n-1 once each, as the resumed session's own messages
    // (the earlier prompts as user messages, the earlier answers as assistant messages).
    for (let n = 1; n <= turns; n++) {
      const reqs = suite.model.mainRequests().filter((r) => lastUserText(r).includes(`word-${n}`));
      expect(reqs, `one model request for turn ${n}`).toHaveLength(1);
      const body = reqs[0]!.body;
      const user = roleText(body, 'user');
      const assistant = roleText(body, 'assistant');
      for (let k = 1; k <= n; k++) expect(count(user, `remember word-${k}`), `turn ${n}'s request: prompt ${k}`).toBe(1);
      for (let k = 1; k < n; k++) expect(count(assistant, `ECHO[${k}] ${prompt(k)}`), `turn ${n}'s request: answer ${k}`).toBe(1);
      expect(user).not.toContain('transcript');
    }
  });
});
