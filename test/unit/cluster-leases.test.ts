/**
 * Leader leases on a real PostgreSQL: two LeaderLeases (two instance ids) on one database —
 * each lease held by one of them at a time; a holder whose connection is terminated stops its
 * work and the other takes over within a few seconds; close() hands over promptly;
 * readLeaseHolders names the holder.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { LeaderLeases, type LeaseWork } from '../../src/cluster/leases.js';
import { LEASES, type LeaseName } from '../../src/cluster/constants.js';
import { leaseApplicationName, readLeaseHolders, tryLease } from '../../src/store/pg-lease.js';
import { createLogger } from '../../src/logger.js';
import { freshPostgresDatabase } from '../helpers/pg.js';
import { waitFor } from '../helpers/sandbox.js';

const logger = createLogger('silent');
let db: Awaited<ReturnType<typeof freshPostgresDatabase>>;

beforeAll(async () => {
  db = await freshPostgresDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/** Records the start/stop calls of every lease of one instance. */
class Recorder {
  readonly events: string[] = [];
  readonly running = new Set<LeaseName>();
  work(): Partial<Record<LeaseName, LeaseWork>> {
    const out: Partial<Record<LeaseName, LeaseWork>> = {};
    for (const name of LEASES) {
      out[name] = {
        start: () => {
          this.events.push(`start ${name}`);
          this.running.add(name);
        },
        stop: () => {
          this.events.push(`stop ${name}`);
          this.running.delete(name);
        },
      };
    }
    return out;
  }
}

/** Terminates the server sessions of `instanceId`'s leases; resolves to how many. */
async function terminateSessionsOf(url: string, instanceId: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()', [
      leaseApplicationName(instanceId),
    ]);
    return r.rowCount ?? 0;
  } finally {
    await c.end();
  }
}

/** A TCP proxy to the database of `url`; `cut()` stops forwarding in both directions and leaves the sockets open. */
async function cuttableProxy(url: string): Promise<{ url: string; cut: () => void; close: () => Promise<void> }> {
  const target = new URL(url);
  const sockets: net.Socket[] = [];
  let cut = false;
  const server = net.createServer((down) => {
    const up = net.connect(Number(target.port || 5432), target.hostname);
    sockets.push(down, up);
    down.on('data', (d) => void (!cut && up.write(d)));
    up.on('data', (d) => void (!cut && down.write(d)));
    down.on('error', () => {});
    up.on('error', () => {});
    down.on('close', () => !cut && up.destroy());
    up.on('close', () => !cut && down.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as net.AddressInfo).port);
  return {
    url: proxied.toString(),
    cut: () => void (cut = true),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('pg-lease', () => {
  it('one holder per lease; release frees it; readLeaseHolders names the holder', async () => {
    const a = await tryLease(db.url, 'scheduler', 'inst-a');
    expect(a).toBeDefined();
    expect(await tryLease(db.url, 'scheduler', 'inst-b')).toBeUndefined();
    const holders = await readLeaseHolders(db.url, LEASES);
    expect(holders).toEqual([{ lease: 'scheduler', instanceId: 'inst-a', since: expect.any(Number), serverPid: a!.serverPid }]);
    expect(Math.abs(holders[0]!.since! - Date.now())).toBeLessThan(60_000);
    await a!.release();
    const b = await tryLease(db.url, 'scheduler', 'inst-b');
    expect(b).toBeDefined();
    expect((await readLeaseHolders(db.url, LEASES)).map((h) => h.instanceId)).toEqual(['inst-b']);
    await b!.release();
    expect(await readLeaseHolders(db.url, LEASES)).toEqual([]);
  });

  it('lost resolves when the connection is terminated, and when a keep-alive goes unanswered', async () => {
    const a = (await tryLease(db.url, 'maintenance', 'inst-lost'))!;
    const t0 = Date.now();
    expect(await terminateSessionsOf(db.url, 'inst-lost')).toBe(1);
    const err = await a.lost;
    expect(err).toBeInstanceOf(Error);
    expect(Date.now() - t0).toBeLessThan(5_000);
    await a.release();

    // A silent network cut (a proxy that stops forwarding, sockets left open): the keep-alive times out.
    const proxy = await cuttableProxy(db.url);
    try {
      const b = (await tryLease(proxy.url, 'maintenance', 'inst-cut', { keepAliveMs: 200, keepAliveTimeoutMs: 300 }))!;
      expect(b).toBeDefined();
      const t1 = Date.now();
      proxy.cut();
      const lostErr = await Promise.race([b.lost, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5_000))]);
      expect(lostErr?.message).toMatch(/keep-alive/);
      expect(Date.now() - t1).toBeLessThan(3_000);
      await b.release(); // does not hang on the dead link
    } finally {
      await proxy.close(); // the server sees the connection end and frees the lock
    }
    await waitFor(async () => (await readLeaseHolders(db.url, LEASES)).length === 0, 5_000, 'the lock freed');
  });
});

describe('LeaderLeases', () => {
  it('two instances: one holds each lease; terminating the holder moves its work; close() hands over', async () => {
    const ra = new Recorder();
    const rb = new Recorder();
    const a = new LeaderLeases({ url: db.url, instanceId: 'leader-a', work: ra.work(), logger });
    a.start();
    await waitFor(() => a.held().length === LEASES.length, 10_000, 'a holds every lease');
    const b = new LeaderLeases({ url: db.url, instanceId: 'leader-b', work: rb.work(), logger });
    b.start();
    try {
      expect([...ra.running].sort()).toEqual([...LEASES].sort());
      // b keeps trying and gets nothing while a holds them
      await new Promise((r) => setTimeout(r, 2_500));
      expect(b.held()).toEqual([]);
      expect(rb.events).toEqual([]);
      const holders = await readLeaseHolders(db.url, LEASES);
      expect(holders.map((h) => `${h.lease}=${h.instanceId}`).sort()).toEqual(LEASES.map((l) => `${l}=leader-a`).sort());

      // The holder's connections die (what a SIGKILL or a server-side kill does): a stops, b starts.
      const t0 = Date.now();
      expect(await terminateSessionsOf(db.url, 'leader-a')).toBe(LEASES.length);
      await waitFor(() => ra.running.size === 0, 15_000, 'a stopped its work');
      // Sized for a loaded 2-core machine; on an idle one the takeover takes about 1 s (one retry interval).
      await waitFor(() => rb.running.size === LEASES.length, 25_000, 'b started every lease');
      const takeoverMs = Date.now() - t0;
      expect(takeoverMs).toBeLessThan(25_000);
      for (const name of LEASES) {
        expect(ra.events.filter((e) => e === `stop ${name}`)).toHaveLength(1);
        expect(rb.events.filter((e) => e === `start ${name}`)).toHaveLength(1);
      }
      expect(b.held().sort()).toEqual([...LEASES].sort());
      expect(a.held()).toEqual([]);
      // Never both running one lease: a stopped before b could start (the lock was freed by a's connection ending).
      expect((await readLeaseHolders(db.url, LEASES)).every((h) => h.instanceId === 'leader-b')).toBe(true);

      // Graceful shutdown of b: its work stops, and a takes over promptly.
      const t1 = Date.now();
      await b.close();
      expect(rb.running.size).toBe(0);
      expect((await readLeaseHolders(db.url, LEASES)).filter((h) => h.instanceId === 'leader-b')).toEqual([]);
      await waitFor(() => ra.running.size === LEASES.length, 25_000, 'a took every lease back');
      expect(Date.now() - t1).toBeLessThan(25_000);
    } finally {
      await a.close();
      await b.close();
    }
    expect(ra.running.size).toBe(0);
    expect(await readLeaseHolders(db.url, LEASES)).toEqual([]);
  }, 90_000);

  it('the holder process SIGKILLed: another instance takes over within about a retry interval', async () => {
    // The holder: a separate process holding the scheduler lease (tryLease through tsx).
    const leaseModule = pathToFileURL(path.resolve('src/store/pg-lease.ts')).href;
    const code = `const { tryLease } = await import(${JSON.stringify(leaseModule)});
      const l = await tryLease(${JSON.stringify(db.url)}, 'scheduler', 'doomed');
      process.stdout.write(l ? 'held\\n' : 'refused\\n'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const first = await new Promise<string>((resolve, reject) => {
        child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
        child.once('exit', (c) => reject(new Error(`holder exited with ${c}`)));
      });
      expect(first).toBe('held');
      const r = new Recorder();
      const b = new LeaderLeases({ url: db.url, instanceId: 'survivor', work: { scheduler: r.work().scheduler! }, logger });
      b.start();
      try {
        await new Promise((res) => setTimeout(res, 1_500));
        expect(r.running.size).toBe(0);
        const t0 = Date.now();
        child.kill('SIGKILL');
        await waitFor(() => r.running.has('scheduler'), 10_000, 'the takeover');
        const takeoverMs = Date.now() - t0;
        console.info(`lease takeover after SIGKILL of the holder: ${takeoverMs} ms`);
        expect(takeoverMs).toBeLessThan(5_000); // about 1 s (the retry interval ± 25 %) on an idle machine
        expect((await readLeaseHolders(db.url, LEASES)).map((h) => h.instanceId)).toEqual(['survivor']);
      } finally {
        await b.close();
      }
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);

  it('after losing a lease an instance waits three retry intervals before trying for it again (a healthy instance takes it first)', async () => {
    const attempts: number[] = [];
    let lose!: (err: Error) => void;
    const a = new LeaderLeases({
      url: db.url,
      instanceId: 'blip',
      logger,
      retryMs: 100,
      tryLease: async (_url, name) => {
        if (name !== 'scheduler') return undefined;
        attempts.push(Date.now());
        if (attempts.length > 1) return undefined;
        return { name, serverPid: 1, lost: new Promise<Error>((r) => (lose = r)), release: async () => {} };
      },
      work: { scheduler: { start: () => {}, stop: () => {} } },
    });
    a.start();
    try {
      await waitFor(() => a.held().length === 1, 5_000, 'the lease held');
      const lostAt = Date.now();
      lose(new Error('connection terminated'));
      await waitFor(() => attempts.length >= 3, 10_000, 'two more attempts');
      // the first attempt after the loss waits 3 × 100 ms; later ones the usual 75–125 ms
      expect(attempts[1]! - lostAt).toBeGreaterThanOrEqual(300);
      expect(attempts[2]! - attempts[1]!).toBeLessThan(300);
    } finally {
      await a.close();
    }
  });

  it('a lease whose work fails to start is given back', async () => {
    let attempts = 0;
    const a = new LeaderLeases({
      url: db.url,
      instanceId: 'flaky',
      logger,
      work: {
        scheduler: {
          start: () => {
            attempts++;
            throw new Error('cannot start');
          },
          stop: () => {},
        },
      },
    });
    a.start();
    try {
      await waitFor(() => attempts >= 1, 5_000, 'a start attempt');
      await waitFor(async () => (await readLeaseHolders(db.url, LEASES)).length === 0 && a.held().length === 0, 5_000, 'the lease given back');
      const other = await tryLease(db.url, 'scheduler', 'other');
      expect(other).toBeDefined();
      await other!.release();
    } finally {
      await a.close();
    }
  });
});
