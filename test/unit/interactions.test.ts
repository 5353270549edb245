/**
 * Interactive turns in the core, with a runner whose live sessions the test drives
 * (test/helpers/fake-session.ts): approval cards and who may decide, the first decision winning,
 * timeouts, always-rules, stop and restart, questions answered by button and by message, plan
 * approval, and messages steered into a running turn. Every case runs on both backends (SQLite
 * file, PostgreSQL).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { actionId, type ActionRequest, type InteractionRequest } from '../../src/core/interactions.js';
import type { Backend } from '../../src/store/sql/kysely.js';
import type { AppStore } from '../../src/store/open.js';
import { BACKENDS, testDatabase } from '../helpers/backends.js';
import { startCore, type Core } from '../helpers/core.js';
import { localMessage } from '../helpers/fakes.js';
import { ManualSessionRunner } from '../helpers/fake-session.js';

const BASH: InteractionRequest = { kind: 'approval', tool: 'Bash', preview: { format: 'command', text: 'touch /tmp/x' }, ruleKey: 'touch' };

type AnyCore = Core<AppStore>;

let cores: AnyCore[] = [];
const removals: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cores) {
    await c.close();
    c.removeDir();
  }
  cores = [];
  for (const r of removals.splice(0)) await r();
});

type Config = Parameters<typeof startCore>[0] extends infer O ? (O extends { config?: infer C } ? Exclude<C, (d: string) => unknown> : never) : never;

/** A core on a new database of `backend` (PostgreSQL: the file's shared one, emptied), with a session runner the test drives. */
async function setupOn(backend: Backend, config: Config = {}) {
  const db = await testDatabase(backend, { shared: true });
  removals.push(() => db.remove());
  const runner = new ManualSessionRunner();
  const core = startCore({
    store: await db.open(),
    claudeRunner: runner,
    config: { access: { admins: ['local:boss'], allowedUsers: [], allowedChannels: [] }, ...config },
  });
  core.adapter.limits.maxMessageChars = 4000;
  cores.push(core);
  return { core, runner, db };
}

/** The card with buttons in the adapter (its ref and buttons), once posted. */
async function card(core: AnyCore) {
  await expect.poll(() => core.adapter.actions.size).toBe(1);
  const [ref, actions] = [...core.adapter.actions][0]!;
  return { ref, actions, text: core.adapter.messages.get(ref)! };
}

async function click(
  core: AnyCore,
  ref: string,
  choice: string,
  user = 'ann',
): Promise<ReturnType<AnyCore['interactions']['onAction']> extends Promise<infer R> ? R : never> {
  const row = (await core.store.interactions.pending())[0] ?? (await core.store.interactions.get(core.adapter.actions.get(ref)?.[0]?.id.split(':')[1] ?? ''));
  const id = row?.id ?? '';
  const req: ActionRequest = {
    platform: 'local',
    userId: user,
    userName: user,
    channel: 'general',
    thread: 't',
    messageRef: ref,
    actionId: actionId(id, choice),
  };
  return core.interactions.onAction(req);
}

describe.each(BACKENDS)('%s', (backend) => {
  const setup = (config: Config = {}) => setupOn(backend, config);

  describe('approvals', () => {
    it('posts a card with buttons; the requester approves; the card loses its buttons and says who decided', async () => {
      const { core, runner } = await setup();
      await core.router.accept(localMessage('t', 'do it'));
      const turn = await runner.waitTurn(1);
      const decided = turn.ask(BASH);
      const c = await card(core);
      expect(c.text).toContain('touch /tmp/x');
      expect(c.text).toContain('Who can decide: ann (who started this turn) or an admin.');
      expect(c.actions.map((a) => a.label)).toEqual(['Approve', 'Always in this conversation', 'Deny']);
      // The progress message says the turn waits for people.
      await expect
        .poll(() => core.adapter.calls.some((x) => x.op === 'edit' && x.text?.includes('waiting: approval of Bash: decide on the card below')))
        .toBe(true);
      expect(await click(core, c.ref, 'approve')).toEqual({ status: 'ok', text: '' });
      expect(await decided).toEqual({ kind: 'allow' });
      await expect.poll(() => core.adapter.actions.size).toBe(0);
      expect(core.adapter.messages.get(c.ref)).toMatch(/✅ Approved by ann at \d\d:\d\d UTC/);
      turn.finish();
      await expect.poll(() => core.adapter.texts('t').some((t) => t.includes('answer to do it'))).toBe(true);
    });

    it('refuses a stranger, lets an admin decide, and tells a later click who decided', async () => {
      const { core, runner } = await setup();
      await core.router.accept(localMessage('t', 'go'));
      const turn = await runner.waitTurn(1);
      const decided = turn.ask(BASH);
      const c = await card(core);
      const stranger = await click(core, c.ref, 'approve', 'mallory');
      expect(stranger.status).toBe('forbidden');
      expect(stranger.text).toContain('ann (who started this turn) or an admin');
      // Two approvers at once: exactly one decision.
      const [a, b] = await Promise.all([click(core, c.ref, 'deny', 'boss'), click(core, c.ref, 'approve', 'ann')]);
      expect([a.status, b.status].sort()).toEqual(['decided', 'ok']);
      const loser = a.status === 'decided' ? a : b;
      expect(loser.text).toMatch(/Already decided by (boss|ann) at \d\d:\d\d UTC/);
      const d = await decided;
      expect(d.kind === 'deny' ? 'boss' : 'ann').toBe(a.status === 'ok' ? 'boss' : 'ann');
      expect(await core.store.interactions.pending()).toEqual([]);
      turn.finish();
    });

    it('denies when nobody decides in time (fails closed) and says so on the card', async () => {
      const { core, runner } = await setup({ approvalTimeoutMs: 150 });
      await core.router.accept(localMessage('t', 'go'));
      const turn = await runner.waitTurn(1);
      const d = await turn.ask(BASH);
      expect(d.kind).toBe('deny');
      await expect.poll(() => core.adapter.actions.size).toBe(0);
      expect([...core.adapter.messages.values()].some((t) => t.includes('⌛ No decision within 1 min, so it was denied'))).toBe(true);
      expect(await core.store.interactions.pending()).toEqual([]);
      turn.finish();
    });

    it('"always" stores a rule: the next matching request runs without a card; status lists it; reset clears it', async () => {
      const { core, runner } = await setup();
      await core.router.accept(localMessage('t', 'go'));
      const turn = await runner.waitTurn(1);
      const first = turn.ask(BASH);
      const c = await card(core);
      await click(core, c.ref, 'always');
      expect(await first).toEqual({ kind: 'allow', always: true });
      // The card loses its buttons (through the outbox) before the next card is looked for: else
      // the poll below could see this card's stale buttons (seen on PostgreSQL, whose writes take longer).
      await expect.poll(() => core.adapter.actions.size).toBe(0);
      const posts = core.adapter.calls.filter((x) => x.op === 'post').length;
      expect(await turn.ask({ ...BASH, preview: { format: 'command', text: 'touch /tmp/y' } })).toEqual({ kind: 'allow' });
      expect(core.adapter.calls.filter((x) => x.op === 'post').length).toBe(posts); // no second card
      // A different command still asks.
      const other = turn.ask({ ...BASH, preview: { format: 'command', text: 'rm -rf /' }, ruleKey: 'rm' });
      await expect.poll(() => core.adapter.actions.size).toBe(1);
      await click(core, [...core.adapter.actions.keys()][0]!, 'deny');
      expect((await other).kind).toBe('deny');
      turn.finish();
      await expect.poll(() => core.bridges.status('local:general:t').running).toBe(false);
      await core.router.accept(localMessage('t', '/agent status', { addressed: true }));
      await expect.poll(() => core.adapter.texts('t').find((t) => t.includes('always approved here'))).toContain('`Bash touch`');
      await core.router.accept(localMessage('t', '/agent reset', { addressed: true }));
      await expect.poll(() => core.adapter.texts('t').some((t) => t.includes('Cleared 1 "always" approval'))).toBe(true);
      expect(await core.store.approvalRules.list('local:general:t')).toEqual([]);
    });

    it('a stopped turn cancels its open request and edits the card', async () => {
      const { core, runner } = await setup();
      await core.router.accept(localMessage('t', 'go'));
      const turn = await runner.waitTurn(1);
      const d = turn.ask(BASH);
      await card(core);
      core.bridges.stop('local:general:t');
      expect((await d).kind).toBe('cancel');
      await expect.poll(() => core.adapter.actions.size).toBe(0);
      expect([...core.adapter.messages.values()].some((t) => t.includes('✖️ Cancelled'))).toBe(true);
      expect(await core.store.interactions.get((await core.store.interactions.pending())[0]?.id ?? 'x')).toBeUndefined();
    });

    it('after a crash, an open request is expired at start and its card edited; the turn runs again', async () => {
      const { core, runner, db } = await setup();
      await core.router.accept(localMessage('t', 'go'));
      const turn = await runner.waitTurn(1);
      void turn.ask(BASH);
      await card(core);
      // A second core on the same database, as after a crash (the first one never ended the request).
      const runner2 = new ManualSessionRunner();
      const core2 = startCore({ store: await db.open(), claudeRunner: runner2, recovering: true });
      core2.adapter.limits.maxMessageChars = 4000;
      cores.push(core2);
      await core2.start();
      expect(await core2.store.interactions.pending()).toEqual([]);
      // The card (posted by the first adapter) is edited through the outbox of the second.
      await expect.poll(() => core2.adapter.calls.some((c) => c.op === 'edit' && c.text?.includes('♻️ Expired') && c.actions?.length === 0)).toBe(true);
      // No turn waits for it any more, yet the card still names the agent that asked (the default agent here).
      const expired = core2.adapter.calls.find((c) => c.op === 'edit' && c.text?.includes('♻️ Expired'))!;
      expect(expired.text).toContain('**Claude Code wants to run a command**');
      const rerun = await runner2.waitTurn(1);
      expect(rerun.prompt).toContain('go');
      rerun.finish();
    });
  });

  describe('questions and plans', () => {
    const QUESTION: InteractionRequest = {
      kind: 'question',
      questions: [{ id: 'Which colour?', question: 'Which colour?', options: [{ label: 'red' }, { label: 'blue' }] }],
    };

    it('answered by a button', async () => {
      const { core, runner } = await setup();
      await core.router.accept(localMessage('t', 'paint'));
      const turn = await runner.waitTurn(1);
      const d = turn.ask(QUESTION);
      const c = await card(core);
      expect(c.actions.map((a) => a.label)).toEqual(['red', 'blue']);
      await click(core, c.ref, 'opt-1');
      expect(await d).toEqual({ kind: 'answer', answers: { 'Which colour?': 'blue' } });
      turn.finish();
    });

    it('answered by a message from the requester: no new turn, the inbox row is done', async () => {
      const { core, runner } = await setup();
      await core.router.accept(localMessage('t', 'paint'));
      const turn = await runner.waitTurn(1);
      const d = turn.ask(QUESTION);
      await card(core);
      // A stranger's message is an ordinary message (steered here), not an answer.
      const answer = localMessage('t', 'green please');
      expect(await core.router.accept(answer)).toBe('accepted');
      expect(await d).toEqual({ kind: 'answer', answers: { 'Which colour?': 'green please' } });
      expect((await core.store.inbox.get(answer.eventKey))?.state).toBe('done');
      expect(turn.steered).toEqual([]);
      turn.finish();
      await expect.poll(() => core.bridges.status('local:general:t').running).toBe(false);
      expect(runner.turns.length).toBe(1);
    });

    it('plan: approve switches the conversation to edit; keep planning passes the next message as feedback', async () => {
      const { core, runner } = await setup();
      await core.router.accept(localMessage('t', 'plan it'));
      const turn = await runner.waitTurn(1);
      const first = turn.ask({ kind: 'plan', plan: '1. do a\n2. do b' });
      let c = await card(core);
      expect(c.actions.map((a) => a.label)).toEqual(['Approve plan', 'Keep planning']);
      expect(await click(core, c.ref, 'keep-planning')).toEqual({ status: 'ok', text: '' });
      await expect.poll(() => core.adapter.actions.size).toBe(0);
      await core.router.accept(localMessage('t', 'also do c'));
      expect(await first).toEqual({ kind: 'deny', message: 'Keep planning. Feedback: also do c' });
      const second = turn.ask({ kind: 'plan', plan: '1. a 2. b 3. c' });
      c = await card(core);
      await click(core, c.ref, 'approve-plan');
      expect(await second).toEqual({ kind: 'approve-plan' });
      expect((await core.store.conversations.get('local:general:t'))?.permissionMode).toBe('edit');
      turn.finish();
      // The next turn runs in edit mode (a new process: the mode changed).
      await core.router.accept(localMessage('t', 'next'));
      const next = await runner.waitTurn(2);
      expect(next.session.options.permissionMode).toBe('edit');
      next.finish();
    });
  });

  describe('busy modes', () => {
    it('steer: a message sent while a turn runs joins it (↪), is recorded with it and closed with it', async () => {
      const { core, runner } = await setup();
      await core.router.accept(localMessage('t', 'first'));
      const turn = await runner.waitTurn(1);
      const late = localMessage('t', 'and also this');
      await core.router.accept(late);
      await expect.poll(() => turn.steered).toEqual(['[ann]: and also this']);
      // Recorded (in its own transaction) after the agent took it, then marked.
      await expect.poll(async () => (await core.store.inbox.get(late.eventKey))?.state).toBe('running');
      await expect.poll(() => core.adapter.calls.some((c) => c.op === 'react' && c.ref === late.messageRef && c.state === 'steered')).toBe(true);
      turn.finish();
      await expect.poll(async () => (await core.store.inbox.get(late.eventKey))?.state).toBe('done');
      await expect.poll(() => core.bridges.status('local:general:t').running).toBe(false);
      expect(runner.turns.length).toBe(1); // answered once, inside the first turn
      expect((await core.store.entries.list('local:general:t')).filter((e) => e.role === 'user').map((e) => e.text)).toEqual(['first', 'and also this']);
    });

    it('steer: a message the agent does not take waits for the next turn (never both, never neither)', async () => {
      const { core, runner } = await setup();
      await core.router.accept(localMessage('t', 'first'));
      const turn = await runner.waitTurn(1);
      turn.session.steerAnswer = 'not-running';
      const late = localMessage('t', 'later');
      await core.router.accept(late);
      await expect.poll(() => core.bridges.status('local:general:t').queued).toBe(1);
      turn.finish();
      const next = await runner.waitTurn(2);
      expect(next.prompt).toBe('later');
      expect(next.session).toBe(turn.session); // the same live process
      next.finish();
      await expect.poll(async () => (await core.store.inbox.get(late.eventKey))?.state).toBe('done');
    });

    it('steer never lets a message overtake one that is already queued (order kept)', async () => {
      const { core, runner } = await setup();
      await core.router.accept(localMessage('t', 'first'));
      const turn = await runner.waitTurn(1);
      turn.session.steerAnswer = 'not-running';
      await core.router.accept(localMessage('t', 'second'));
      await expect.poll(() => core.bridges.status('local:general:t').queued).toBe(1);
      turn.session.steerAnswer = 'taken'; // the agent could take the third now, but the second waits
      await core.router.accept(localMessage('t', 'third'));
      await expect.poll(() => core.bridges.status('local:general:t').queued).toBe(2);
      expect(turn.steered).toEqual([]);
      turn.finish();
      const next = await runner.waitTurn(2);
      expect(next.prompt).toBe('[ann]: second\n\n[ann]: third');
      next.finish();
    });

    it('queue: the message waits for the next turn', async () => {
      const { core, runner } = await setup({ busyMode: 'queue' });
      await core.router.accept(localMessage('t', 'first'));
      const turn = await runner.waitTurn(1);
      await core.router.accept(localMessage('t', 'second'));
      expect(turn.steered).toEqual([]);
      turn.finish();
      (await runner.waitTurn(2)).finish();
    });

    it('interrupt: the message stops the running turn and starts a new one with it', async () => {
      const { core, runner } = await setup({ busyMode: 'interrupt' });
      await core.router.accept(localMessage('t', 'first'));
      const turn = await runner.waitTurn(1);
      await core.router.accept(localMessage('t', 'instead do this'));
      const r = await turn.done;
      expect(r.error?.kind).toBe('stopped');
      const next = await runner.waitTurn(2);
      expect(next.prompt).toBe('instead do this');
      next.finish();
      await expect.poll(() => core.adapter.texts('t').some((t) => t.includes('Stopped to take the newer message'))).toBe(true);
    });
  });

  describe('live sessions', () => {
    it('reuses the process for the next turn, closes it when idle, and resumes the stored session after', async () => {
      const { core, runner } = await setup({ sessionIdleMs: 200 });
      await core.router.accept(localMessage('t', 'one'));
      (await runner.waitTurn(1)).finish();
      await core.router.accept(localMessage('t', 'two'));
      const two = await runner.waitTurn(2);
      expect(two.session).toBe(runner.sessions[0]);
      two.finish();
      await expect.poll(() => runner.sessions[0]!.closed, { timeout: 5000 }).toBe(true);
      await core.router.accept(localMessage('t', 'three'));
      const three = await runner.waitTurn(3);
      expect(three.session).not.toBe(runner.sessions[0]);
      expect(three.session.options.resumeSessionId).toBe(runner.sessions[0]!.sessionId);
      three.finish();
    });

    it('keeps at most AGENTBRIDGE_MAX_LIVE_SESSIONS processes, closing the least recently used', async () => {
      const { core, runner } = await setup({ maxLiveSessions: 2 });
      for (const t of ['a', 'b', 'c']) {
        const turns = runner.turns.length;
        await core.router.accept(localMessage(t, `hi ${t}`));
        (await runner.waitTurn(turns + 1)).finish();
        await expect.poll(() => core.bridges.status(`local:general:${t}`).running).toBe(false);
      }
      expect(runner.sessions.map((s) => s.closed)).toEqual([true, false, false]);
      expect(core.sessions.size).toBe(2);
    });
  });
});
