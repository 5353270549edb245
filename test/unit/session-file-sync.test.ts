/**
 * Agent session files following a conversation between workers: claude's declared location (the
 * project slug as claude 2.1.197 makes it), and `SessionFileSync` save/restore between two homes
 * with temp directories (src/cluster/session-files.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRunner } from '../../src/runners/define.js';
import { claude } from '../../src/runners/claude/index.js';
import { claudeProjectSlug, claudeSessionFiles } from '../../src/runners/claude/session-files.js';
import { SessionFileSync, textOf } from '../../src/cluster/session-files.js';
import { createLogger } from '../../src/logger.js';
import { BACKENDS, openTestStore, type TestStore } from '../helpers/backends.js';

const SID = '3be44dc8-1131-4d99-a4d2-c62ed937dd8b';
let tmp: string;

beforeEach(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-sf-')));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function write(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

describe('claude session file location', () => {
  it('slugs the cwd as claude does: every character but [a-zA-Z0-9] becomes "-"', () => {
    // Seen with the real claude 2.1.197 for this cwd: projects/-tmp-agentbridge-test-joFbhD-My-dir-x-y-z----/
    expect(claudeProjectSlug('/tmp/agentbridge-test-joFbhD/My.dir_x-y z+é~@')).toBe('-tmp-agentbridge-test-joFbhD-My-dir-x-y-z----');
    expect(claudeProjectSlug('/srv/my.app_1')).toBe('-srv-my-app-1');
  });

  it('cuts a slug over 200 characters and appends claude’s base-36 hash of the path', () => {
    const long = `/w/${'a'.repeat(250)}`;
    const slug = claudeProjectSlug(long);
    expect(slug.slice(0, 200)).toBe(`-w-${'a'.repeat(197)}`);
    expect(slug).toMatch(/^.{200}-[0-9a-z]+$/);
    // Deterministic and path-dependent.
    expect(claudeProjectSlug(long)).toBe(slug);
    expect(claudeProjectSlug(`${long}b`)).not.toBe(slug);
  });

  it('finds the transcript and the session directory under CLAUDE_CONFIG_DIR, else HOME/.claude', async () => {
    const cwd = path.join(tmp, 'work.dir');
    fs.mkdirSync(cwd);
    const conf = path.join(tmp, 'conf');
    const dir = path.join(conf, 'projects', claudeProjectSlug(cwd));
    write(path.join(dir, `${SID}.jsonl`), '{}\n');
    write(path.join(dir, SID, 'subagents', 'agent-1.jsonl'), '{}\n');
    write(path.join(dir, SID, 'tool-results', 'x.txt'), 'out');
    write(path.join(dir, 'other-session.jsonl'), '{}\n');

    const loc = claudeSessionFiles({ env: { CLAUDE_CONFIG_DIR: conf, HOME: '/nowhere' }, cwd, sessionId: SID });
    expect(loc.name).toBe('claude-config');
    expect(loc.root).toBe(conf);
    const slug = claudeProjectSlug(cwd);
    expect((await loc.paths()).sort()).toEqual([
      `projects/${slug}/${SID}.jsonl`,
      `projects/${slug}/${SID}/subagents/agent-1.jsonl`,
      `projects/${slug}/${SID}/tool-results/x.txt`,
    ]);

    // Without CLAUDE_CONFIG_DIR: HOME/.claude; a session not there yet: no files.
    const home = claudeSessionFiles({ env: { HOME: tmp }, cwd, sessionId: SID });
    expect(home.root).toBe(path.join(tmp, '.claude'));
    expect(await home.paths()).toEqual([]);
  });

  it('finds the transcript under another project directory when the slug does not match (drift)', async () => {
    const conf = path.join(tmp, 'conf');
    write(path.join(conf, 'projects', 'some-other-slug', `${SID}.jsonl`), '{}\n');
    const loc = claudeSessionFiles({ env: { CLAUDE_CONFIG_DIR: conf }, cwd: path.join(tmp, 'w'), sessionId: SID });
    expect(await loc.paths()).toEqual([`projects/some-other-slug/${SID}.jsonl`]);
  });

  it('is declared by the claude runner, through its env', () => {
    const runner = createRunner(claude);
    expect(runner.sessionFiles?.({ env: { CLAUDE_CONFIG_DIR: '/c' }, cwd: '/w', sessionId: SID }).root).toBe('/c');
  });
});

describe('textOf', () => {
  it('keeps UTF-8 text, cuts JSON lines after the last complete line, refuses NUL and invalid UTF-8', () => {
    expect(textOf(Buffer.from('{"a":1}\n{"b":'), 'x.jsonl')).toBe('{"a":1}\n');
    expect(textOf(Buffer.from('no newline'), 'x.txt')).toBe('no newline');
    expect(textOf(Buffer.from([0x61, 0, 0x62]), 'x.txt')).toBeUndefined();
    expect(textOf(Buffer.from([0xc3, 0x28]), 'x.txt')).toBeUndefined();
  });
});

describe.each(BACKENDS)('SessionFileSync (%s)', (backend) => {
  let store: TestStore;
  let cleanup: () => Promise<void>;
  afterEach(async () => {
    await cleanup?.();
  });

  const logger = createLogger('silent');
  const runners = { claude: createRunner(claude) };

  /** Two workers: different homes (claude under HOME/.claude), the same absolute workdir. */
  function hosts() {
    const workdir = path.join(tmp, 'work');
    fs.mkdirSync(workdir);
    const a = { HOME: path.join(tmp, 'hostA') };
    const b = { HOME: path.join(tmp, 'hostB') };
    const dirOf = (env: { HOME: string }) => path.join(env.HOME, '.claude', 'projects', claudeProjectSlug(workdir));
    return { workdir, a, b, dirA: dirOf(a), dirB: dirOf(b) };
  }

  it('saves on one host and restores into another HOME: missing files written (0600, dirs 0700), longer local copies kept, shorter ones replaced', async () => {
    ({ store, cleanup } = await openTestStore(backend, { shared: true }));
    await store.conversations.ensure({ id: 'c1', platform: 'local', channel: 'general' });
    const sync = new SessionFileSync({ store, runners, logger, settleMs: 0 });
    const { workdir, a, b, dirA, dirB } = hosts();
    write(path.join(dirA, `${SID}.jsonl`), '{"turn":1}\n{"turn":1,"part":2}\n');
    write(path.join(dirA, SID, 'tool-results', 'r.txt'), 'result');
    write(path.join(dirA, SID, 'subagents', 'long.jsonl'), '{"s":1}\n');

    const saved = await sync.save({ conversationId: 'c1', agent: 'claude', sessionId: SID, workdir, env: a });
    expect(saved.saved).toHaveLength(3);
    const rows = await store.sessionFiles.load('c1', 'claude');
    expect(rows.map((r) => r.root)).toEqual(['claude-config', 'claude-config', 'claude-config']);
    // Rows hold no host path.
    for (const r of rows) expect(r.path.startsWith('projects/')).toBe(true);

    // Host B: one file shorter (replaced), one longer (kept), one missing (written).
    write(path.join(dirB, `${SID}.jsonl`), '{"turn":1}\n');
    write(path.join(dirB, SID, 'subagents', 'long.jsonl'), '{"s":1}\n{"s":2}\n');
    const restored = await sync.restore({ conversationId: 'c1', agent: 'claude', sessionId: SID, workdir, env: b });
    const slug = claudeProjectSlug(workdir);
    expect(restored.written.sort()).toEqual([`projects/${slug}/${SID}.jsonl`, `projects/${slug}/${SID}/tool-results/r.txt`]);
    expect(restored.kept).toEqual([`projects/${slug}/${SID}/subagents/long.jsonl`]);
    expect(fs.readFileSync(path.join(dirB, `${SID}.jsonl`), 'utf8')).toBe('{"turn":1}\n{"turn":1,"part":2}\n');
    expect(fs.readFileSync(path.join(dirB, SID, 'tool-results', 'r.txt'), 'utf8')).toBe('result');
    expect(fs.readFileSync(path.join(dirB, SID, 'subagents', 'long.jsonl'), 'utf8')).toBe('{"s":1}\n{"s":2}\n');
    expect(fs.statSync(path.join(dirB, SID, 'tool-results', 'r.txt')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dirB, SID, 'tool-results')).mode & 0o777).toBe(0o700);
    // Nothing left behind in host A's tree, and no temp files in B's.
    expect(fs.readdirSync(dirB).sort()).toEqual([SID, `${SID}.jsonl`]);

    // Host A again: its copy is as long: nothing written.
    expect((await sync.restore({ conversationId: 'c1', agent: 'claude', sessionId: SID, workdir, env: a })).written).toEqual([]);
    // Another session id: the stored files are not that session's, nothing written.
    const other = await sync.restore({ conversationId: 'c1', agent: 'claude', sessionId: 'other', workdir, env: { HOME: path.join(tmp, 'hostC') } });
    expect(other).toEqual({ written: [], kept: [] });
  });

  it('waits for the session files to settle before reading them (the CLI writes its last lines as it exits)', async () => {
    ({ store, cleanup } = await openTestStore(backend, { shared: true }));
    await store.conversations.ensure({ id: 'c1', platform: 'local', channel: 'general' });
    const { workdir, a, dirA } = hosts();
    const file = path.join(dirA, `${SID}.jsonl`);
    write(file, '{"type":"user"}\n');
    const sync = new SessionFileSync({ store, runners, logger, settleMs: 300, maxSettleMs: 5000 });
    const saving = sync.save({ conversationId: 'c1', agent: 'claude', sessionId: SID, workdir, env: a });
    setTimeout(() => fs.appendFileSync(file, '{"type":"assistant"}\n'), 100);
    await saving;
    expect((await store.sessionFiles.load('c1', 'claude'))[0]!.content).toBe('{"type":"user"}\n{"type":"assistant"}\n');
  });

  it('leaves out files over the size limit and never rejects: a failing store is logged, and an unknown root or a path leaving the root is ignored', async () => {
    ({ store, cleanup } = await openTestStore(backend, { shared: true }));
    await store.conversations.ensure({ id: 'c1', platform: 'local', channel: 'general' });
    const { workdir, a, b, dirA, dirB } = hosts();
    write(path.join(dirA, `${SID}.jsonl`), '{"x":1}\n');
    write(path.join(dirA, SID, 'tool-results', 'big.txt'), 'x'.repeat(2000));
    const sync = new SessionFileSync({ store, runners, logger, maxFileBytes: 1000, settleMs: 0 });
    const saved = await sync.save({ conversationId: 'c1', agent: 'claude', sessionId: SID, workdir, env: a });
    expect(saved.skipped).toEqual([`projects/${claudeProjectSlug(workdir)}/${SID}/tool-results/big.txt`]);
    expect(await store.sessionFiles.load('c1', 'claude')).toHaveLength(1);

    await store.sessionFiles.save('c1', 'claude', SID, [
      { root: 'codex-home', path: 'sessions/x.jsonl', content: 'x\n' },
      { root: 'claude-config', path: '../../escape.txt', content: 'bad' },
      { root: 'claude-config', path: `projects/${claudeProjectSlug(workdir)}/${SID}.jsonl`, content: 'ok\n' },
    ]);
    const r = await sync.restore({ conversationId: 'c1', agent: 'claude', sessionId: SID, workdir, env: b });
    expect(r.written).toEqual([`projects/${claudeProjectSlug(workdir)}/${SID}.jsonl`]);
    expect(fs.existsSync(path.join(tmp, 'escape.txt'))).toBe(false);
    expect(fs.existsSync(path.join(dirB, `${SID}.jsonl`))).toBe(true);

    const broken = new SessionFileSync({
      store: { sessionFiles: { save: () => Promise.reject(new Error('db down')), load: () => Promise.reject(new Error('db down')), deleteFor: async () => 0 } },
      runners,
      logger,
    });
    await expect(broken.save({ conversationId: 'c1', agent: 'claude', sessionId: SID, workdir, env: a })).resolves.toMatchObject({ saved: [] });
    await expect(broken.restore({ conversationId: 'c1', agent: 'claude', sessionId: SID, workdir, env: b })).resolves.toEqual({ written: [], kept: [] });
    // A runner without a declaration: nothing to do.
    await expect(sync.save({ conversationId: 'c1', agent: 'nope', sessionId: SID, workdir, env: a })).resolves.toEqual({ saved: [], skipped: [] });
  });
});
