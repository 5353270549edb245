/**
 * The bridge and the router on the wired core: turns, concurrency, agent sessions, crash
 * recovery and restarts. Every case runs on both backends (SQLite file, PostgreSQL).
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { idempotencyKeyOf } from '../../src/conversation/outbox.js';
import { INTERRUPTED_NOTICE, recoverInbox, STALE_PROGRESS_TEXT } from '../../src/conversation/recovery.js';
import { rerunPrompt } from '../../src/conversation/rerun.js';
import type { InboundMessage } from '../../src/core/messages.js';
import { MAX_IDEMPOTENCY_KEY_CHARS } from '../../src/platforms/types.js';
import type { Store } from '../../src/store/types.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import { BACKENDS, testDatabase, type TestDatabase } from '../helpers/backends.js';
import { startCore } from '../helpers/core.js';
import { ManualRunner } from '../helpers/fakes.js';
import { waitFor } from '../helpers/sandbox.js';

const logger = pino({ level: 'silent' });
const removals: Array<() => Promise<void> | void> = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const r of removals.splice(0)) await r();
});

/** A database of `backend` (PostgreSQL: the file's shared one, emptied), removed after the test. */
async function databaseOn(backend: Backend): Promise<TestDatabase> {
  const db = await testDatabase(backend, { shared: true });
  removals.push(() => db.remove());
  return db;
}

async function worldOn(db: TestDatabase, opts: { concurrency?: number; recover?: boolean } = {}) {
  const codex = new ManualRunner('codex');
  const core = startCore({
    store: await db.open(),
    concurrency: opts.concurrency,
    runners: { codex },
    idleEvictMs: 10,
    recovering: opts.recover === false,
  });
  // Only the store is closed after each test: crash tests drop a world without shutting it down.
  stores.push(core.store);
  removals.push(() => core.removeDir());
  return { ...core, codex };
}

/** True when no inbox row is unfinished and no outbox row pending (both read at the same moment). */
async function settled(w: { store: Store }): Promise<boolean> {
  const [unfinished, pending] = await Promise.all([w.store.inbox.unfinished(), w.store.outbox.pending()]);
  return unfinished.length === 0 && pending.length === 0;
}

let seq = 0;
function msg(thread: string, text: string, author = 'ann', key = `k${++seq}`): InboundMessage {
  return {
    platform: 'local',
    conversationId: `local:general:${thread}`,
    channel: 'general',
    thread,
    author: { id: author, name: author },
    text,
    eventKey: `local:${key}`,
    replyTarget: { platform: 'local', channel: 'general', thread },
    messageRef: key,
    receivedAt: Date.now(),
  };
}

describe.each(BACKENDS)('%s', (backend) => {
  const database = () => databaseOn(backend);
  /** A world on `opts.db` (a restart), else on a new database. */
  const world = async (opts: { concurrency?: number; db?: TestDatabase; recover?: boolean } = {}) => worldOn(opts.db ?? (await database()), opts);

  describe('bridge and router', () => {
    it('runs one turn at a time per conversation and combines queued messages in order', async () => {
      const w = await world();
      await w.router.accept(msg('t1', 'first'));
      await w.runner.waitRuns(1);
      await w.router.accept(msg('t1', 'second', 'bob'));
      await w.router.accept(msg('t1', 'third', 'cy'));
      expect(w.runner.runs).toHaveLength(1); // still one turn
      w.runner.runs[0]!.finish({ text: 'answer one' });
      await w.runner.waitRuns(2);
      const prompt = w.runner.runs[1]!.req.prompt;
      expect(prompt.indexOf('second')).toBeGreaterThan(-1);
      expect(prompt.indexOf('second')).toBeLessThan(prompt.indexOf('third'));
      expect(prompt).toContain('[bob]');
      expect(prompt).toContain('[cy]');
      w.runner.runs[1]!.finish({ text: 'answer two' });
      await waitFor(() => w.adapter.texts('t1').includes('answer two'));
      expect(w.runner.maxInFlight).toBe(1);
      expect(w.adapter.texts('t1')).toEqual(['answer one', 'answer two']);
      expect(await w.store.inbox.unfinished()).toHaveLength(0);
    });

    it('bounds concurrent turns globally and starts waiting conversations in arrival order', async () => {
      const w = await world({ concurrency: 2 });
      for (let i = 0; i < 5; i++) await w.router.accept(msg(`c${i}`, `hello ${i}`));
      await w.runner.waitRuns(2);
      // The first two start at once (both had a slot): which reaches the runner first is a race of their
      // store round trips (on PostgreSQL real ones), not an order the bridges promise.
      expect(w.runner.runs.map((r) => r.req.prompt).sort()).toEqual(['hello 0', 'hello 1']);
      for (let i = 0; i < 5; i++) {
        // One slot frees at a time (the turn a finish let start has reached the runner), so the waiting ones start in arrival order.
        await w.runner.waitRuns(Math.min(i + 2, 5));
        w.runner.runs[i]!.finish({ text: `done ${i}` });
      }
      await waitFor(() => w.adapter.texts().filter((t) => t.startsWith('done')).length === 5);
      expect(w.runner.runs.slice(2).map((r) => r.req.prompt)).toEqual(['hello 2', 'hello 3', 'hello 4']);
      expect(w.runner.maxInFlight).toBe(2);
    });

    it('recognises a duplicate delivery by its event key and answers once', async () => {
      const w = await world();
      w.runner.auto = () => ({ text: 'only once' });
      const m = msg('dup', 'hi', 'ann', 'same-key');
      expect(await w.router.accept(m)).toBe('accepted');
      expect(await w.router.accept({ ...m })).toBe('duplicate');
      await waitFor(() => w.adapter.texts('dup').includes('only once'));
      expect(await w.router.accept({ ...m })).toBe('duplicate');
      expect(w.runner.runs).toHaveLength(1);
      expect(w.adapter.texts('dup').filter((t) => t === 'only once')).toHaveLength(1);
    });

    it('stores the agent session id and resumes it next turn; another agent starts fresh', async () => {
      const w = await world();
      w.runner.auto = () => ({ text: 'ok', sessionId: 'sess-1' });
      await w.router.accept(msg('r', 'one'));
      await waitFor(() => w.runner.runs.length === 1 && w.adapter.texts('r').length === 1);
      await w.router.accept(msg('r', 'two'));
      await waitFor(() => w.runner.runs.length === 2);
      expect(w.runner.runs[0]!.req.resumeSessionId).toBeUndefined();
      expect(w.runner.runs[1]!.req.resumeSessionId).toBe('sess-1');
      await w.store.conversations.update('local:general:r', { agent: 'codex' });
      w.codex.auto = () => ({ text: 'from codex' });
      await waitFor(() => w.adapter.texts('r').length === 2);
      await w.router.accept(msg('r', 'three'));
      await waitFor(() => w.codex.runs.length === 1);
      expect(w.codex.runs[0]!.req.resumeSessionId).toBeUndefined();
    });

    it('stops a running turn, tells the user, and keeps queued messages for the next turn', async () => {
      const w = await world();
      await w.router.accept(msg('s', 'long job'));
      await w.runner.waitRuns(1);
      await w.router.accept(msg('s', 'queued meanwhile'));
      expect(w.bridges.stop('local:general:s')).toBe(true);
      await w.runner.waitRuns(2);
      expect(w.runner.runs[1]!.req.prompt).toContain('queued meanwhile');
      await waitFor(() => w.adapter.texts('s').some((t) => t.includes('stopped')));
      w.runner.runs[1]!.finish({ text: 'second answer' });
      await waitFor(() => w.adapter.texts('s').includes('second answer'));
      // The answer shows before the turn has ended (its end is written after delivery: on PostgreSQL a round trip later).
      await waitFor(() => !w.bridges.status('local:general:s').running || undefined, 5_000, 'the turn ended');
      expect(w.bridges.stop('local:general:s')).toBe(false);
    });

    it('shows progress in one message that becomes the answer; long answers are chunked', async () => {
      const w = await world();
      await w.router.accept(msg('p', 'go'));
      await w.runner.waitRuns(1);
      const run = w.runner.runs[0]!;
      run.emit({ type: 'tool_start', id: 't1', name: 'Bash', summary: 'Bash: ls' });
      await waitFor(() => w.adapter.calls.some((c) => c.op === 'edit' && c.text?.includes('Bash: ls')));
      // Edits start as soon as the progress message is posted; its record is written alongside (not promised before the first edit).
      const progress = await waitFor(
        async () => {
          const rows = await w.store.postedMessages.listForConversation('local:general:p');
          return rows.length > 0 ? rows : undefined;
        },
        5_000,
        'the progress message recorded',
      );
      expect(progress.map((p) => p.kind)).toEqual(['progress']);
      const long = Array.from({ length: 12 }, (_, i) => `Paragraph ${i} ${'x'.repeat(40)}`).join('\n\n');
      run.finish({ text: long });
      await waitFor(() => settled(w));
      const texts = w.adapter.texts('p');
      expect(texts.length).toBeGreaterThan(1);
      expect(texts.every((t) => t.length <= 200)).toBe(true);
      expect(texts.join('\n\n').replace(/\s+/g, ' ')).toBe(long.replace(/\s+/g, ' '));
      expect(w.adapter.calls.some((c) => c.op === 'react' && c.state === 'done')).toBe(true);
      const progressRef = w.adapter.calls.find((c) => c.op === 'post')!.ref!;
      const cp = await w.store.postedMessages.get(`local:general:${progressRef}`);
      expect(cp?.assistantText).toBe(texts[0]);
      expect(cp?.sessionEntryId).not.toBeNull();
      // The progress message became the answer's first chunk; every chunk is recorded as an answer.
      expect(cp?.kind).toBe('answer');
      const posted = await w.store.postedMessages.listForConversation('local:general:p');
      expect(posted).toHaveLength(texts.length);
      expect(posted.every((p) => p.kind === 'answer')).toBe(true);
    });

    it('keeps an answer that could not be posted and delivers it later, also after a restart', async () => {
      const db = await database();
      const w = await world({ db });
      w.adapter.failPosts = 100;
      w.adapter.failEdits = 100;
      w.runner.auto = () => ({ text: 'durable answer' });
      await w.router.accept(msg('o', 'hello'));
      await waitFor(async () => (await w.store.outbox.pending()).length === 1);
      await w.outbox.stop();
      await w.bridges.shutdown();
      await w.store.close();
      stores.splice(stores.indexOf(w.store), 1);

      const w2 = await world({ db });
      await w2.outbox.deliverAll();
      expect(w2.adapter.texts('o')).toEqual(['durable answer']);
      expect(await w2.store.outbox.pending()).toHaveLength(0);
      expect(w2.runner.runs).toHaveLength(0); // answered once: not re-run
      // Every attempt, before and after the restart, carried the row's one idempotency key.
      const keys = [...w.adapter.postAttempts, ...w2.adapter.postAttempts].filter((a) => a.text === 'durable answer').map((a) => a.key);
      expect(keys.length).toBeGreaterThan(1);
      expect(new Set(keys)).toEqual(new Set([keys[0]]));
      expect(keys[0]).toMatch(/^ab-o\d+-[0-9a-z]+$/);
      expect(keys[0]!.length).toBeLessThanOrEqual(MAX_IDEMPOTENCY_KEY_CHARS);
    });

    it('an answer posted whose confirmation was lost is retried with the same key: shown once', async () => {
      const w = await world();
      await w.router.accept(msg('once', 'hello'));
      await w.runner.waitRuns(1); // the progress message is out
      w.adapter.failEdits = 100; // it cannot become the answer: the answer is posted
      w.adapter.failAfterPosts = 1;
      w.runner.runs[0]!.finish({ text: 'said once' });
      await waitFor(() => settled(w));
      const attempts = w.adapter.postAttempts.filter((a) => a.text === 'said once');
      expect(attempts).toHaveLength(2);
      expect(attempts[1]!.key).toBe(attempts[0]!.key);
      expect(w.adapter.texts('once').filter((t) => t === 'said once')).toHaveLength(1);
      // The posted row and its posted-message row name the message that was created the first time.
      const ref = w.adapter.keys.get(attempts[0]!.key!)!;
      expect((await w.store.postedMessages.get(`local:general:${ref}`))?.assistantText).toBe('said once');
    });

    it('keys differ between rows, and from the rows of a new database with the same ids', () => {
      expect(idempotencyKeyOf({ id: 1, createdAt: 1_700_000_000_000 })).toBe('ab-o1-loyw3v28');
      expect(idempotencyKeyOf({ id: 2, createdAt: 1_700_000_000_000 })).not.toBe(idempotencyKeyOf({ id: 1, createdAt: 1_700_000_000_000 }));
      expect(idempotencyKeyOf({ id: 1, createdAt: 1_700_000_000_001 })).not.toBe(idempotencyKeyOf({ id: 1, createdAt: 1_700_000_000_000 }));
      expect(idempotencyKeyOf({ id: 99_999_999_999, createdAt: Date.UTC(2100, 0, 1) }).length).toBeLessThanOrEqual(MAX_IDEMPOTENCY_KEY_CHARS);
    });

    it('a message taken during recovery after its read of the inbox is queued when recovery ends; one it read is queued once', async () => {
      const w = await world({ recover: false });
      w.runner.auto = (req) => ({ text: `answer to ${req.prompt}` });
      const read = msg('h', 'read by recovery');
      await w.router.accept(read); // in the inbox; held while recovering
      await w.router.resume(read); // recovery's own read queued it
      await w.router.accept(msg('h2', 'taken after the read')); // held only
      w.router.recovered();
      await waitFor(async () => w.runner.runs.length === 2 && (await settled(w)));
      expect(w.runner.runs.map((r) => r.req.prompt).sort()).toEqual(['read by recovery', 'taken after the read']);
      expect(w.adapter.texts('h')).toEqual(['answer to read by recovery']);
      expect(w.adapter.texts('h2')).toEqual(['answer to taken after the read']);
    });

    it('after a crash, re-runs accepted messages in order and tells interrupted conversations', async () => {
      const db = await database();
      const w = await world({ db });
      await w.router.accept(msg('x', 'was running'));
      await w.runner.waitRuns(1);
      await w.router.accept(msg('x', 'was queued'));
      await w.router.accept(msg('y', 'other conversation'));
      await w.runner.waitRuns(2); // y's turn runs too
      // "crash": drop everything without finishing
      await w.store.close();
      stores.splice(stores.indexOf(w.store), 1);

      const w2 = await world({ db, recover: false });
      w2.runner.auto = (req) => ({ text: `answer to ${req.prompt}` });
      await w2.router.accept(msg('x', 'arrived during recovery'));
      const report = await recoverInbox(w2.store, w2.router, w2.outbound, logger);
      expect(report.interrupted.sort()).toEqual(['local:general:x', 'local:general:y']);
      await waitFor(async () => (await w2.store.inbox.unfinished()).length === 0);
      await waitFor(() => w2.adapter.texts('x').length >= 2);
      const xs = w2.adapter.texts('x');
      expect(xs[0]).toBe(INTERRUPTED_NOTICE);
      // The cut turn's progress message no longer says "Working…".
      const oldProgress = w.adapter.calls.find((c) => c.op === 'post' && c.target.thread === 'x')!.ref;
      expect(w2.adapter.calls).toContainEqual(expect.objectContaining({ op: 'edit', ref: oldProgress, text: STALE_PROGRESS_TEXT }));
      // Recorded by kind: the interruption notice and the retired progress message are notices now.
      expect((await w2.store.postedMessages.get(`local:general:${oldProgress}`))?.kind).toBe('notice');
      expect((await w2.store.postedMessages.listForConversation('local:general:x')).find((p) => p.assistantText === INTERRUPTED_NOTICE)?.kind).toBe('notice');
      const prompts = w2.runner.runs.filter((r) => r.req.prompt.includes('was running')).map((r) => r.req.prompt);
      expect(prompts).toHaveLength(1);
      const p = prompts[0]!;
      expect(p.indexOf('was running')).toBeLessThan(p.indexOf('was queued'));
      expect(p.indexOf('was queued')).toBeLessThan(p.indexOf('arrived during recovery'));
      // y's turn was running: it is a re-run, so its prompt carries the interruption note.
      expect(w2.runner.runs.some((r) => r.req.prompt === rerunPrompt('other conversation'))).toBe(true);
      // (The answer echoes the longer prompt, so the recording adapter splits it into chunks.)
      await waitFor(() => w2.adapter.texts('y').join('').includes('other conversation'));
      expect(w2.adapter.texts('y')[0]).toBe(INTERRUPTED_NOTICE);
      expect(w2.adapter.texts('y').slice(1).join(' ').replace(/\s+/g, ' ')).toBe(`answer to ${rerunPrompt('other conversation')}`.replace(/\s+/g, ' '));
      // A conversation that was only queued (not running) gets no notice.
      await w2.router.accept(msg('z', 'fresh'));
      // (The progress message shows first; the answer replaces it.)
      await waitFor(() => w2.adapter.texts('z')[0] === 'answer to fresh' || undefined);
      expect(w2.adapter.texts('z')).toEqual(['answer to fresh']);
    });

    it('after a crash, the "⏳ Queued" message of a conversation that only waited for a slot is retired, not left behind', async () => {
      const db = await database();
      const w = await world({ db, concurrency: 1 });
      await w.router.accept(msg('r', 'was running'));
      await w.runner.waitRuns(1);
      await w.router.accept(msg('q', 'was waiting'));
      const queued = () => w.adapter.calls.find((c) => c.op === 'post' && c.target.thread === 'q' && c.text?.startsWith('⏳ Queued'))?.ref;
      await waitFor(() => queued() !== undefined || undefined, 5_000, 'the queued message');
      const queuedRef = queued()!;
      await waitFor(async () => (await w.store.postedMessages.get(`local:general:${queuedRef}`))?.kind === 'progress' || undefined);
      // "crash"
      await w.store.close();
      stores.splice(stores.indexOf(w.store), 1);

      const w2 = await world({ db, recover: false, concurrency: 1 });
      w2.runner.auto = (req) => ({ text: `answer to ${req.prompt}` });
      const report = await recoverInbox(w2.store, w2.router, w2.outbound, logger);
      expect(report.interrupted).toEqual(['local:general:r']);
      await waitFor(async () => (await settled(w2)) || undefined, 10_000, 'all answered');
      // The old queued message is gone (deleted), recorded as no longer a progress message; q got one answer and no notice.
      await waitFor(() => w2.adapter.deleted.has(queuedRef) || undefined, 5_000, 'queued message deleted');
      expect((await w2.store.postedMessages.get(`local:general:${queuedRef}`))?.kind).toBe('notice');
      expect(w2.adapter.texts('q')).toEqual(['answer to was waiting']);
      // A second restart has nothing left to retire.
      expect(await w2.store.postedMessages.listForConversation('local:general:q', 'progress')).toEqual([]);
    });

    it('tells the user what went wrong when a turn times out or fails, keeping any partial answer', async () => {
      const w = await world();
      w.runner.auto = (req) =>
        req.prompt === 'slow'
          ? { ok: false, text: 'partial findings', error: { kind: 'timeout', message: '' }, exitCode: null }
          : { ok: false, text: '', error: { kind: 'not_authenticated', message: 'Not logged in · Please run /login' }, exitCode: 1 };
      await w.router.accept(msg('f', 'slow'));
      await waitFor(() => (w.adapter.texts('f').length === 1 && w.adapter.texts('f')[0]!.includes('partial findings')) || undefined);
      const [timeout] = w.adapter.texts('f');
      expect(timeout).toContain('⏱️ The turn took longer than 60 s and was stopped');
      // ❌ follows the answer.
      await waitFor(() => w.adapter.calls.some((c) => c.op === 'react' && c.state === 'failed') || undefined);
      await w.router.accept(msg('f', 'again'));
      await waitFor(() => (w.adapter.texts('f').length === 2 && !w.adapter.texts('f')[1]!.startsWith('⏳')) || undefined);
      expect(w.adapter.texts('f')[1]).toMatch(/Claude Code is not logged in \(Not logged in · Please run \/login\)\. An admin needs to log the CLI in/);
      const entries = await w.store.entries.list('local:general:f');
      expect(entries.filter((e) => e.role === 'system')).toHaveLength(2);
      expect((await w.store.inbox.countByState()).failed).toBe(2);
    });

    it('seeds a thread started on the latest answer by forking the agent session, once', async () => {
      const w = await world();
      w.runner.auto = (req) => ({
        text: `answer to ${req.prompt.slice(-20)}`,
        sessionId: req.resumeSessionId && !req.forkSession ? req.resumeSessionId : `s-${w.runner.runs.length}`,
      });
      await w.router.accept(msg('main', 'design the cache'));
      await waitFor(() => settled(w));
      const answerRef = w.adapter.calls.find((c) => c.op === 'post' && c.target.thread === 'main')!.ref!;
      const key = `local:general:${answerRef}`;
      expect((await w.store.postedMessages.get(key))?.sessionEntryId).not.toBeNull();

      await w.router.accept({ ...msg('th', 'go deeper'), seedFrom: key });
      await waitFor(async () => w.runner.runs.length === 2 && (await w.store.inbox.unfinished()).length === 0);
      expect(w.runner.runs[1]!.req).toMatchObject({ resumeSessionId: 's-1', forkSession: true, prompt: 'go deeper' });
      const conv = (await w.store.conversations.get('local:general:th'))!;
      expect(conv.seededFrom).toBe(key);
      expect(conv.seededAt).not.toBeNull();
      expect(conv.agentSessionId).toBe('s-2'); // the fork's own session, not the origin's
      expect((await w.store.entries.list(conv.id)).some((e) => e.role === 'system' && e.text.includes('forked agent session s-1'))).toBe(true);

      await waitFor(async () => (await w.store.outbox.pending()).length === 0);
      await w.router.accept(msg('th', 'and then?'));
      await waitFor(() => w.runner.runs.length === 3);
      expect(w.runner.runs[2]!.req).toMatchObject({ resumeSessionId: 's-2' });
      expect(w.runner.runs[2]!.req.forkSession).toBeFalsy();
      expect((await w.store.conversations.get('local:general:main'))!.agentSessionId).toBe('s-1');
    });

    it('seeds a thread on an older answer with the transcript up to that answer', async () => {
      const w = await world();
      w.runner.auto = (_req) => ({ text: `answer ${w.runner.runs.length}`, sessionId: 'main-session' });
      await w.router.accept(msg('m2', 'first question'));
      await waitFor(async () => w.runner.runs.length === 1 && (await settled(w)));
      const firstAnswerRef = w.adapter.calls.find((c) => c.op === 'post' && c.target.thread === 'm2')!.ref!;
      await w.router.accept(msg('m2', 'second question'));
      await waitFor(async () => w.runner.runs.length === 2 && (await settled(w)));

      await w.router.accept({ ...msg('t2', 'about the first one', 'bob'), seedFrom: `local:general:${firstAnswerRef}` });
      await waitFor(() => w.runner.runs.length === 3);
      const req = w.runner.runs[2]!.req;
      expect(req.resumeSessionId).toBeUndefined();
      expect(req.forkSession).toBeFalsy();
      expect(req.prompt).toContain('<earlier-conversation>');
      expect(req.prompt).toContain('[ann]: first question');
      expect(req.prompt).toContain('[assistant]: answer 1');
      expect(req.prompt).not.toContain('second question');
      expect(req.prompt.trimEnd().endsWith('about the first one')).toBe(true);
    });

    it("continues from the transcript when the agent's stored session is gone, once, and tells the user", async () => {
      const w = await world();
      const missing = { ok: false, text: '', error: { kind: 'api_error' as const, message: 'No conversation found with session ID: s-old' }, exitCode: 1 };
      w.runner.auto = (req) => (req.resumeSessionId === 's-old' ? missing : { text: `answer to ${req.prompt.slice(-12)}`, sessionId: 's-new' });
      await w.store.conversations.ensure({ id: 'local:general:lost', platform: 'local', channel: 'general', thread: 'lost' });
      await w.store.entries.append({
        conversationId: 'local:general:lost',
        role: 'user',
        author: 'ann',
        text: 'remember PELICAN',
        agent: 'claude',
        model: null,
        usage: null,
        costUsd: null,
      });
      await w.store.entries.append({
        conversationId: 'local:general:lost',
        role: 'assistant',
        author: null,
        text: 'noted',
        agent: 'claude',
        model: null,
        usage: null,
        costUsd: null,
      });
      await w.store.conversations.setAgentSession('local:general:lost', 'claude', 's-old');

      await w.router.accept(msg('lost', 'what was the word?'));
      await waitFor(() => settled(w));
      expect(w.runner.runs).toHaveLength(2);
      const retry = w.runner.runs[1]!.req;
      expect(retry.resumeSessionId).toBeUndefined();
      expect(retry.prompt).toContain('[ann]: remember PELICAN');
      expect(retry.prompt).toContain('[assistant]: noted');
      expect(retry.prompt.match(/what was the word\?/g)).toHaveLength(1); // the new message once, not also as history
      expect(w.adapter.texts('lost')[0]).toMatch(/^ℹ️ The agent's earlier session could not be restored/);
      expect((await w.store.conversations.get('local:general:lost'))!.agentSessionId).toBe('s-new');

      await w.router.accept(msg('lost', 'and now?'));
      await waitFor(() => w.runner.runs.length === 3);
      expect(w.runner.runs[2]!.req.resumeSessionId).toBe('s-new');
    });

    it('drops idle bridges from memory and recreates them on demand', async () => {
      const w = await world();
      w.runner.auto = () => ({ text: 'ok' });
      await w.router.accept(msg('e', 'hi'));
      await waitFor(() => w.adapter.texts('e').length === 1);
      await waitFor(() => w.bridges.sweep(Date.now() + 1000) === 1 || w.bridges.size === 0);
      expect(w.bridges.size).toBe(0);
      await w.router.accept(msg('e', 'again'));
      expect(w.bridges.size).toBe(1);
      await waitFor(() => w.adapter.texts('e').length === 2);
    });
  });
});
