/**
 * `/agent restart` in a terminal (AGENTBRIDGE_RESTART_MODE=auto, a TTY on stdin): agentbridge
 * restarts in place — the process the shell waits for stays, the new service runs as its attached
 * child in the same process group — and Ctrl-C typed in the terminal still stops it gracefully.
 * The terminal is a real pseudo-terminal from util-linux `script`; Ctrl-C is the byte 0x03 typed
 * into it (the terminal's line discipline turns it into SIGINT for the foreground process group).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addLocalUsers, LocalChat } from '../helpers/agentbridge.js';
import { processesMentioning } from '../helpers/procs.js';
import { recordSpawn } from '../helpers/reap.js';
import { makeSandbox, waitFor, type Sandbox } from '../helpers/sandbox.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/cli.js');
const hasScript = fs.existsSync('/usr/bin/script');

let sb: Sandbox;
beforeAll(() => {
  sb = makeSandbox();
});
afterAll(() => {
  expect(processesMentioning(sb.root)).toEqual([]);
  sb.cleanup();
});

/** Parent pid and process group of `pid` (/proc/<pid>/stat fields 4 and 5). */
function ids(pid: number): { ppid: number; pgid: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(fields[1]), pgid: Number(fields[2]) };
}

/** Pids of running `dist/cli.js start` processes of this sandbox. */
function agentbridges(): number[] {
  return processesMentioning(sb.root)
    .filter((p) => p.cmd.startsWith(`${process.execPath} ${CLI} start`)) // not `script`, whose command line names it too
    .map((p) => p.pid);
}

describe.skipIf(!hasScript)('/agent restart in a terminal', () => {
  it('restarts in place (the shell keeps waiting) and Ctrl-C still stops the service', async () => {
    const env: NodeJS.ProcessEnv = {
      ...sb.env,
      AGENTBRIDGE_DATA_DIR: path.join(sb.root, 'data'),
      AGENTBRIDGE_WORKDIR: sb.workdir,
      AGENTBRIDGE_HTTP_PORT: '0',
      AGENTBRIDGE_SHUTDOWN_GRACE_S: '0',
      AGENTBRIDGE_ADMINS: 'local:root',
      AGENTBRIDGE_AGENT: 'claude',
      ANTHROPIC_API_KEY: 'test-key',
      LOG_LEVEL: 'info',
    };
    const tokens = await addLocalUsers(env, sb.root, [{ name: 'root' }]);
    // `script -qfec CMD /dev/null`: CMD on a new pseudo-terminal (stdin, stdout and stderr), output flushed; exit code passed on.
    const term: ChildProcess = recordSpawn(
      spawn('script', ['-qfec', `exec ${process.execPath} ${CLI} start`, '/dev/null'], { cwd: sb.root, env, stdio: ['pipe', 'pipe', 'pipe'] }),
    );
    let out = '';
    term.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    term.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => term.on('exit', (code) => r(code)));
    const urls = () => [...out.matchAll(/agentbridge is running: open (http:\/\/[^\s/]+)\//g)].map((m) => m[1]!);

    try {
      const first = await waitFor(() => urls()[0], 60_000, `the first start; output: ${out}`);
      const [original] = await waitFor(() => (agentbridges().length === 1 ? agentbridges() : undefined), 10_000, 'the agentbridge process');
      const chat = new LocalChat(first, tokens);
      await chat.send('general', '/agent restart', { user: 'root' });

      const second = await waitFor(() => urls()[1], 60_000, `the restarted service; output: ${out}`);
      expect(out).toContain('restart: starting agentbridge again in this terminal');
      // The first process still runs (the shell would still wait), its service stopped; the new one is its child, in its process group.
      const now = agentbridges();
      expect(now).toHaveLength(2);
      expect(now).toContain(original);
      const child = now.find((p) => p !== original)!;
      expect(ids(child)).toEqual({ ppid: original, pgid: ids(original!).pgid });
      expect(term.exitCode).toBeNull();
      // The new service answers and says it restarted.
      const chat2 = new LocalChat(second, tokens);
      const threads = await waitFor(
        async () => {
          const res = (await (await fetch(`${second}/api/local/threads?channel=general`, { headers: { authorization: `Bearer ${tokens.root}` } })).json()) as {
            threads: Array<{ thread: string }>;
          };
          for (const t of res.threads) {
            if ((await chat2.botTexts('general', t.thread)).some((x) => x.includes('agentbridge restarted'))) return true;
          }
          return undefined;
        },
        30_000,
        'the restart report',
      );
      expect(threads).toBe(true);

      // A second restart: the child exits 75 and the first process starts the next one — restarts never nest.
      await chat2.send('general', '/agent restart', { user: 'root' });
      await waitFor(() => urls()[2], 60_000, `the second restart; output: ${out}`);
      const after = agentbridges();
      expect(after).toHaveLength(2);
      expect(after).toContain(original);
      expect(after).not.toContain(child);
      expect(ids(after.find((p) => p !== original)!).ppid).toBe(original);

      // Ctrl-C in the terminal: a graceful stop of the service, then the terminal's command ends.
      term.stdin!.write('\x03');
      expect(await exited).toBe(0);
      expect(out).toMatch(/signal received/);
      expect(out).toMatch(/stopped/);
      expect(agentbridges()).toEqual([]);
    } finally {
      if (term.exitCode === null) term.kill('SIGKILL');
    }
  });
});
