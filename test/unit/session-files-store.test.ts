/**
 * The `agent_session_files` repository (src/store/sql/repos/session-files.ts) on both backends:
 * save replaces the conversation+agent's set atomically, load returns it in byte order, deleteFor
 * and deleting the conversation remove it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BACKENDS, openTestStore, type TestStore } from '../helpers/backends.js';

describe.each(BACKENDS)('session files repository (%s)', (backend) => {
  let store: TestStore;
  let cleanup: () => Promise<void>;

  afterEach(async () => {
    await cleanup?.();
  });

  async function open(): Promise<TestStore> {
    ({ store, cleanup } = await openTestStore(backend, { shared: true }));
    await store.conversations.ensure({ id: 'c1', platform: 'local', channel: 'general' });
    await store.conversations.ensure({ id: 'c2', platform: 'local', channel: 'other' });
    return store;
  }

  it('saves, replaces and loads a set per conversation and agent (sizes in UTF-8 bytes, byte order)', async () => {
    const s = await open();
    await s.sessionFiles.save('c1', 'claude', 's1', [
      { root: 'claude-config', path: 'projects/p/s1.jsonl', content: '{"a":"é"}\n' },
      { root: 'claude-config', path: 'projects/p/s1/Z.txt', content: 'z' },
      { root: 'claude-config', path: 'projects/p/s1/a.txt', content: 'a' },
    ]);
    await s.sessionFiles.save('c1', 'codex', 't1', [{ root: 'codex-home', path: 'sessions/2026/01/02/rollout-x-t1.jsonl', content: 'x\n' }]);
    await s.sessionFiles.save('c2', 'claude', 's9', [{ root: 'claude-config', path: 'projects/q/s9.jsonl', content: 'q\n' }]);

    const rows = await s.sessionFiles.load('c1', 'claude');
    expect(rows.map((r) => r.path)).toEqual(['projects/p/s1.jsonl', 'projects/p/s1/Z.txt', 'projects/p/s1/a.txt']);
    expect(rows[0]).toMatchObject({ conversationId: 'c1', agent: 'claude', sessionId: 's1', root: 'claude-config', content: '{"a":"é"}\n', size: 11 });
    expect(rows[0]!.updatedAt).toBeGreaterThan(0);

    // A new session replaces the whole set of that conversation+agent, and nothing else.
    await s.sessionFiles.save('c1', 'claude', 's2', [{ root: 'claude-config', path: 'projects/p/s2.jsonl', content: 'two\n' }]);
    expect((await s.sessionFiles.load('c1', 'claude')).map((r) => [r.sessionId, r.path])).toEqual([['s2', 'projects/p/s2.jsonl']]);
    expect(await s.sessionFiles.load('c1', 'codex')).toHaveLength(1);
    expect(await s.sessionFiles.load('c2', 'claude')).toHaveLength(1);

    // Inside a caller's transaction that rolls back, nothing changes.
    await expect(
      s.transaction(async (tx) => {
        await tx.sessionFiles.save('c1', 'claude', 's3', [{ root: 'claude-config', path: 'projects/p/s3.jsonl', content: '3\n' }]);
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    expect((await s.sessionFiles.load('c1', 'claude')).map((r) => r.sessionId)).toEqual(['s2']);

    expect(await s.sessionFiles.deleteFor('c1')).toBe(2);
    expect(await s.sessionFiles.load('c1', 'claude')).toEqual([]);
    expect(await s.sessionFiles.load('c2', 'claude')).toHaveLength(1);

    // Deleting a conversation deletes its session files.
    expect(await s.conversations.delete('c2')).toBe(true);
    expect(await s.sessionFiles.load('c2', 'claude')).toEqual([]);
  });

  it('two saves of the same set at once both succeed; one of them wins whole', async () => {
    const s = await open();
    const files = (tag: string) => [
      { root: 'claude-config', path: 'projects/p/s.jsonl', content: `${tag}\n` },
      { root: 'claude-config', path: 'projects/p/s/t.txt', content: tag },
    ];
    await Promise.all([s.sessionFiles.save('c1', 'claude', 's', files('one')), s.sessionFiles.save('c1', 'claude', 's', files('two'))]);
    const rows = await s.sessionFiles.load('c1', 'claude');
    expect(rows).toHaveLength(2);
    expect(new Set(rows.map((r) => r.content.trim())).size).toBe(1);
  });
});
