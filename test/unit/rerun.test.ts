/**
 * Re-runs of interrupted turns (src/conversation/rerun.ts): detection from the inbox attempts,
 * where the agent resumes (Claude at the committed message, Codex/Gemini from the committed
 * transcript), the note in the prompt, the committed point stored with the turn, and nothing
 * stored by an interrupted run. The cases with a store run on both backends (SQLite file,
 * PostgreSQL).
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { recoverInbox } from '../../src/conversation/recovery.js';
import { committedPoint, isRerun, planRerun, RERUN_NOTE, rerunPrompt } from '../../src/conversation/rerun.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import { BACKENDS, testDatabase, type TestDatabase } from '../helpers/backends.js';
import { startCore } from '../helpers/core.js';
import { ManualRunner, localMessage } from '../helpers/fakes.js';
import { waitFor } from '../helpers/sandbox.js';

const logger = pino({ level: 'silent' });
const removals: Array<() => Promise<void> | void> = [];
const cores: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const c of cores.splice(0)) await c.close();
  for (const r of removals.splice(0)) await r();
});

/** A database of `backend` (PostgreSQL: the file's shared one, emptied), removed after the test. */
async function databaseOn(backend: Backend): Promise<TestDatabase> {
  const db = await testDatabase(backend, { shared: true });
  removals.push(() => db.remove());
  return db;
}

async function world(db: TestDatabase, recovering = false) {
  const codex = new ManualRunner('codex');
  const gemini = new ManualRunner('gemini');
  const core = startCore({ store: await db.open(), runners: { codex, gemini }, recovering });
  const w = { ...core, codex, gemini };
  cores.push(w);
  removals.push(() => core.removeDir());
  return w;
}

/**
 * Drops a world as a SIGKILL would: nothing of it runs on (its outbox stops, no turn is ended or
 * recorded), and the database handle is closed.
 */
async function crash(w: Awaited<ReturnType<typeof world>>): Promise<void> {
  cores.splice(cores.indexOf(w), 1);
  await w.outbox.stop();
  await w.store.close();
}

const msg = localMessage;

const count = (hay: string, needle: string) => hay.split(needle).length - 1;

describe('rerun rules (pure)', () => {
  it('a batch is a re-run when one of its inbox rows was started before', () => {
    expect(isRerun([])).toBe(false);
    expect(isRerun([{ attempts: 0 }, undefined])).toBe(false);
    expect(isRerun([{ attempts: 0 }, { attempts: 1 }])).toBe(true);
    expect(isRerun([{ attempts: 3 }])).toBe(true);
  });

  it('Claude resumes at the committed message; Codex and Gemini fall back to the transcript; nothing committed → fresh', () => {
    const conv = { agentSessionId: 's1', agentSessionAgent: 'claude' as const, agentSessionAt: 'u1' };
    expect(planRerun(conv, 'claude')).toEqual({ mode: 'resume-at', sessionId: 's1', at: 'u1' });
    expect(planRerun({ ...conv, agentSessionAt: null }, 'claude')).toEqual({ mode: 'transcript' });
    expect(planRerun({ ...conv, agentSessionAgent: 'codex', agentSessionAt: null }, 'codex')).toEqual({ mode: 'transcript' });
    expect(planRerun({ ...conv, agentSessionAgent: 'gemini', agentSessionAt: 'x' }, 'gemini')).toEqual({ mode: 'transcript' });
    expect(planRerun({ agentSessionId: null, agentSessionAgent: null, agentSessionAt: null }, 'claude')).toEqual({ mode: 'fresh' });
    // A session of another agent is no session for this one.
    expect(planRerun(conv, 'codex')).toEqual({ mode: 'fresh' });
  });

  it('the committed point: the run’s own, else the stored one while the session is the same, else none', () => {
    const conv = { agentSessionId: 's1', agentSessionAgent: 'claude' as const, agentSessionAt: 'u1' };
    expect(committedPoint(conv, 'claude', { sessionId: 's1', resumeAt: 'u2' })).toBe('u2');
    expect(committedPoint(conv, 'claude', { sessionId: 's1' })).toBe('u1');
    expect(committedPoint(conv, 'claude', { sessionId: 's2' })).toBeNull();
    expect(committedPoint(conv, 'codex', { sessionId: 's1' })).toBeNull();
  });

  it('the prompt of a re-run starts with the note', () => {
    expect(rerunPrompt('hello')).toBe(`${RERUN_NOTE}\n\nhello`);
    expect(RERUN_NOTE).toMatch(/interrupted/);
    expect(RERUN_NOTE).toMatch(/side effects/);
  });
});

describe.each(BACKENDS)('%s', (backend) => {
  const database = () => databaseOn(backend);

  describe('re-running an interrupted turn (core, real store)', () => {
    it('Claude: resumes at the committed assistant message with the note, the message once; stores the new point', async () => {
      const db = await database();
      const w = await world(db);
      await w.router.accept(msg('c', 'first message'));
      await w.runner.waitRuns(1);
      w.runner.runs[0]!.finish({ text: 'first answer', sessionId: 's1', resumeAt: 'u1' });
      await waitFor(async () => (await w.store.inbox.unfinished()).length === 0);
      expect(await w.store.conversations.get('local:general:c')).toMatchObject({ agentSessionId: 's1', agentSessionAt: 'u1' });
      // Message 2's turn starts (a plain resume, no note), then the process dies.
      await w.router.accept(msg('c', 'second message'));
      await w.runner.waitRuns(2);
      expect(w.runner.runs[1]!.req).toMatchObject({ resumeSessionId: 's1', prompt: 'second message' });
      expect(w.runner.runs[1]!.req.resumeAt).toBeUndefined();
      await crash(w);

      const w2 = await world(db, true);
      w2.runner.auto = () => ({ text: 'second answer', sessionId: 's1', resumeAt: 'u2' });
      await recoverInbox(w2.store, w2.router, w2.outbound, logger);
      await waitFor(async () => (await w2.store.inbox.unfinished()).length === 0);
      expect(w2.runner.runs).toHaveLength(1);
      const req = w2.runner.runs[0]!.req;
      expect(req.resumeSessionId).toBe('s1');
      expect(req.resumeAt).toBe('u1');
      expect(req.forkSession).toBeFalsy();
      expect(req.prompt).toBe(rerunPrompt('second message'));
      expect(await w2.store.conversations.get('local:general:c')).toMatchObject({ agentSessionId: 's1', agentSessionAt: 'u2' });
      // The transcript holds message 2 once (the cut attempt's copy was replaced).
      const texts = (await w2.store.entries.list('local:general:c')).map((e) => `${e.role}:${e.text}`);
      expect(texts).toEqual(['user:first message', 'assistant:first answer', 'user:second message', 'assistant:second answer']);
      // The next turn is a normal one again: no note, plain resume.
      await w2.router.accept(msg('c', 'third message'));
      await w2.runner.waitRuns(2);
      expect(w2.runner.runs[1]!.req).toMatchObject({ resumeSessionId: 's1', prompt: 'third message' });
      expect(w2.runner.runs[1]!.req.resumeAt).toBeUndefined();
    });

    for (const agent of ['codex', 'gemini'] as const) {
      it(`${agent}: starts a new agent session from the committed transcript, with the note and each message once`, async () => {
        const db = await database();
        const w = await world(db);
        const runner = w[agent];
        await w.store.conversations.ensure({ id: 'local:general:x', platform: 'local', channel: 'general', thread: 'x' });
        await w.store.conversations.update('local:general:x', { agent });
        await w.router.accept(msg('x', 'first message'));
        await runner.waitRuns(1);
        runner.runs[0]!.finish({ text: 'first answer', sessionId: 'thread-1' });
        await waitFor(async () => (await w.store.inbox.unfinished()).length === 0);
        await w.router.accept(msg('x', 'second message'));
        await runner.waitRuns(2);
        await crash(w);

        const w2 = await world(db, true);
        w2[agent].auto = () => ({ text: 'second answer', sessionId: 'thread-2' });
        await recoverInbox(w2.store, w2.router, w2.outbound, logger);
        await waitFor(async () => (await w2.store.inbox.unfinished()).length === 0);
        const req = w2[agent].runs[0]!.req;
        expect(req.resumeSessionId).toBeUndefined();
        expect(count(req.prompt, 'first message')).toBe(1);
        expect(count(req.prompt, 'first answer')).toBe(1);
        expect(count(req.prompt, 'second message')).toBe(1);
        expect(count(req.prompt, RERUN_NOTE)).toBe(1);
        expect(req.prompt.indexOf('first answer')).toBeLessThan(req.prompt.indexOf(RERUN_NOTE));
        expect(await w2.store.conversations.get('local:general:x')).toMatchObject({
          agentSessionId: 'thread-2',
          agentSessionAgent: agent,
          agentSessionAt: null,
        });
      });
    }

    it('the first turn cut: the re-run starts a fresh agent session with the plain prompt and the note', async () => {
      const db = await database();
      const w = await world(db);
      await w.router.accept(msg('f', 'only message'));
      await w.runner.waitRuns(1);
      await crash(w);
      const w2 = await world(db, true);
      w2.runner.auto = () => ({ text: 'answer', sessionId: 's9', resumeAt: 'u9' });
      await recoverInbox(w2.store, w2.router, w2.outbound, logger);
      await waitFor(async () => (await w2.store.inbox.unfinished()).length === 0);
      expect(w2.runner.runs[0]!.req.resumeSessionId).toBeUndefined();
      expect(w2.runner.runs[0]!.req.prompt).toBe(rerunPrompt('only message'));
    });

    it('a turn cut by shutdown stores no agent session: the committed one stays', async () => {
      const db = await database();
      const w = await world(db);
      await w.router.accept(msg('s', 'first'));
      await w.runner.waitRuns(1);
      w.runner.runs[0]!.finish({ text: 'a1', sessionId: 's1', resumeAt: 'u1' });
      await waitFor(async () => (await w.store.inbox.unfinished()).length === 0);
      await w.router.accept(msg('s', 'second'));
      await w.runner.waitRuns(2);
      // The stopped run reports a (new) session id and a later message: neither may be stored.
      const run = w.runner.runs[1]!;
      run.req.signal!.addEventListener('abort', () =>
        run.finish({ ok: false, sessionId: 's-cut', resumeAt: 'u-cut', error: { kind: 'stopped', message: '' } }),
      );
      await w.bridges.shutdown();
      expect((await w.store.inbox.unfinished()).map((r) => r.state)).toEqual(['running']);
      expect(await w.store.conversations.get('local:general:s')).toMatchObject({ agentSessionId: 's1', agentSessionAt: 'u1' });
    });
  });

  describe('entries.removeUncommitted', () => {
    it('deletes only the user entries after the last non-user entry', async () => {
      const w = await world(await database());
      const id = 'local:general:e';
      await w.store.conversations.ensure({ id, platform: 'local', channel: 'general', thread: 'e' });
      const add = (role: 'user' | 'assistant' | 'system', text: string) =>
        w.store.entries.append({
          conversationId: id,
          role,
          author: role === 'user' ? 'ann' : null,
          text,
          agent: null,
          model: null,
          usage: null,
          costUsd: null,
        });
      expect(await w.store.entries.removeUncommitted(id)).toBe(0);
      await add('user', 'u1');
      expect(await w.store.entries.removeUncommitted(id)).toBe(1); // nothing committed yet
      await add('user', 'u1');
      await add('assistant', 'a1');
      await add('user', 'u2');
      await add('user', 'u3');
      expect(await w.store.entries.removeUncommitted(id)).toBe(2);
      expect((await w.store.entries.list(id)).map((e) => e.text)).toEqual(['u1', 'a1']);
    });
  });
});
