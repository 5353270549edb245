/**
 * `agentbridge cluster status|retry|skip` end to end (node dist/cli.js) on a new PostgreSQL
 * database whose URL carries a password (never printed): not on PostgreSQL → exit 2; before
 * pg-boss is installed `status` says so (exit 0) and `retry` fails (exit 1); with a heartbeat row
 * and a blocked conversation (a key_strict_fifo job failed past its retries, made here with
 * pg-boss as a worker would) `status` lists both, `retry` queues the job again (exit 0; again:
 * not blocked, exit 1), `skip` closes the inbox rows failed and lets the later job run; bad usage
 * → exit 2.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgBoss } from 'pg-boss';
import { PGBOSS_SCHEMA, TURN_QUEUE } from '../../src/cluster/constants.js';
import { createLogger } from '../../src/logger.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { runCli } from '../helpers/agentbridge.js';
import { localMessage } from '../helpers/fakes.js';
import { freshPostgresDatabase } from '../helpers/pg.js';
import { processesMentioning } from '../helpers/procs.js';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.js';

const PASSWORD = 'hunter2-secret';
let sb: Sandbox;
const cleanups: Array<() => Promise<void>> = [];

function env(url?: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...sb.env, AGENTBRIDGE_DATA_DIR: path.join(sb.root, 'data'), AGENTBRIDGE_WORKDIR: sb.workdir, ANTHROPIC_API_KEY: 'test-key' };
  if (url) e.AGENTBRIDGE_DATABASE_URL = url;
  else delete e.AGENTBRIDGE_DATABASE_URL;
  return e;
}

async function cli(args: string[], e: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await runCli(args, e, sb.root, 60_000);
  expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  return r;
}

beforeAll(() => {
  sb = makeSandbox();
});
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  expect(processesMentioning(sb.root)).toEqual([]);
  sb.cleanup();
});

describe('agentbridge cluster', () => {
  it('status, retry and skip of a blocked conversation; refusals and exit codes', async () => {
    const sqlite = await cli(['cluster', 'status'], env());
    expect(sqlite.code).toBe(2);
    expect(sqlite.stderr).toContain('set AGENTBRIDGE_DATABASE_URL');

    const db = await freshPostgresDatabase();
    cleanups.push(db.drop);
    const u = new URL(db.url);
    u.password = PASSWORD;
    const e = env(u.toString());
    expect((await cli(['db', 'init'], e)).code).toBe(0);

    const early = await cli(['cluster', 'status'], e);
    expect(early.code).toBe(0);
    expect(early.stdout).toContain('none has beaten yet');
    expect(early.stdout).toContain('no turn queue in this database yet');
    const earlyRetry = await cli(['cluster', 'retry', 'local:general:x'], e);
    expect(earlyRetry.code).toBe(1);
    expect(earlyRetry.stderr).toContain('no turn queue in this database yet');

    // A worker's part, done here: pg-boss installed, the queue, a heartbeat, a blocked conversation.
    const store = await openPostgresStore({ url: db.url, logger: createLogger('silent') });
    cleanups.push(() => store.close());
    const boss = new PgBoss({ connectionString: db.url, schema: PGBOSS_SCHEMA, supervise: false, schedule: false, max: 2 });
    boss.on('error', () => {});
    await boss.start();
    cleanups.push(() => boss.stop({ graceful: false, timeout: 1000 }));
    await boss.createQueue(TURN_QUEUE, { policy: 'key_strict_fifo', retryLimit: 0 });
    await store.clusterInstances.beat({
      id: 'node-a',
      host: 'host-a',
      pid: 11,
      roles: ['worker', 'leader'],
      url: null,
      startedAt: Date.now(),
      heartbeatAt: Date.now(),
      turnsRunning: 1,
    });
    const conv = 'local:general:blk';
    const m1 = localMessage('blk', 'one');
    const m2 = localMessage('blk', 'two');
    await store.inbox.accept(m1);
    await store.inbox.accept(m2);
    const j1 = (await boss.send(TURN_QUEUE, { n: 1 }, { singletonKey: conv, retryLimit: 0 }))!;
    const j2 = (await boss.send(TURN_QUEUE, { n: 2 }, { singletonKey: conv, retryLimit: 0 }))!;
    const fetchIds = async () => (await boss.fetch(TURN_QUEUE, { batchSize: 5 })).map((j) => j.id);
    const blockOnce = async (id: string) => {
      expect(await fetchIds()).toEqual([id]);
      await boss.fail(TURN_QUEUE, id, new Error('claude exited with code 1'));
      expect(await fetchIds()).toEqual([]);
    };
    await blockOnce(j1);

    const status = await cli(['cluster', 'status'], e);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^ {2}node-a\s+host-a\s+11\s+worker,leader\s+live\s+\d+s ago\s+1$/m);
    // The lease holders are read from pg_locks (src/store/pg-lease.ts): no instance runs here, so nobody holds one.
    expect(status.stdout).toMatch(/^ {2}scheduler\s+nobody$/m);
    expect(status.stdout).toContain(`blocked conversations: 1\n  ${conv}, failed `);
    expect(status.stdout).toContain('claude exited with code 1');
    const json = JSON.parse((await cli(['cluster', 'status', '--json'], e)).stdout) as { blocked: { conversationId: string; jobIds: string[] }[] };
    expect(json.blocked).toEqual([expect.objectContaining({ conversationId: conv, jobIds: [j1] })]);

    const retry = await cli(['cluster', 'retry', conv], e);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toContain(`retry: ${conv}: 1 failed job queued again (${j1})`);
    const again = await cli(['cluster', 'retry', conv], e);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`${conv} is not blocked`);

    // The retried job runs (first), fails again; skip drops the messages and the later job runs.
    await blockOnce(j1);
    const skip = await cli(['cluster', 'skip', conv], e);
    expect(skip.code).toBe(0);
    expect(skip.stdout).toContain(`skip: ${conv}: 1 failed job removed, 2 messages closed failed`);
    expect(skip.stdout).toContain('2 messages will get no answer');
    expect((await store.inbox.get(m1.eventKey))!.state).toBe('failed');
    expect((await store.inbox.get(m2.eventKey))!.state).toBe('failed');
    expect(await fetchIds()).toEqual([j2]);
    expect((await cli(['cluster', 'skip', conv], e)).code).toBe(1);

    expect((await cli(['cluster', 'retry'], e)).code).toBe(2);
    expect((await cli(['cluster', 'nope'], e)).code).toBe(2);
  });
});
