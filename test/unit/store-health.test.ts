/**
 * The store health (src/store/health.ts): which errors are storage faults, and the probe loop —
 * unhealthy on a reported fault, probing with backoff until a write succeeds, then healthy again
 * with listeners and waiters told.
 */
import { describe, expect, it } from 'vitest';
import { backoffDelay, isStorageFault, StoreHealth } from '../../src/store/health.js';
import { collectingLogger } from '../helpers/core.js';

const sqlite = (code: string) => Object.assign(new Error(`${code} (test)`), { code });

describe('storage faults', () => {
  it('classifies SQLite and file-system errors', () => {
    for (const code of [
      'SQLITE_FULL',
      'SQLITE_IOERR',
      'SQLITE_IOERR_WRITE',
      'SQLITE_IOERR_SHMSIZE',
      'SQLITE_READONLY',
      'SQLITE_READONLY_DBMOVED',
      'SQLITE_CANTOPEN',
      'SQLITE_BUSY',
      'SQLITE_CORRUPT',
      'SQLITE_NOTADB',
      'ENOSPC',
      'EROFS',
      'EIO',
      'EDQUOT',
    ]) {
      expect(isStorageFault(sqlite(code)), code).toBe(true);
    }
    for (const code of ['SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_ERROR', 'SQLITE_MISMATCH', 'SQLITE_FULLX', 'ENOENT', 'EACCES']) {
      expect(isStorageFault(sqlite(code)), code).toBe(false);
    }
    expect(isStorageFault(new Error('plain'))).toBe(false);
    expect(isStorageFault(undefined)).toBe(false);
    expect(isStorageFault(new Error('wrapped', { cause: sqlite('SQLITE_FULL') }))).toBe(true);
  });

  it('backs off 0.5 s doubling to 5 s', () => {
    expect([0, 1, 2, 3, 4, 5, 50].map((n) => backoffDelay(n))).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000]);
  });
});

describe('StoreHealth', () => {
  it('is unhealthy after a reported fault, probes with backoff until a write succeeds, then tells listeners and waiters', async () => {
    const { logger, lines } = collectingLogger('info');
    let failing = 3;
    const probes: number[] = [];
    const health = new StoreHealth({
      logger,
      initialDelayMs: 10,
      maxDelayMs: 40,
      probe: async () => {
        probes.push(Date.now());
        await Promise.resolve();
        if (failing-- > 0) throw sqlite('SQLITE_FULL');
      },
    });
    const changes: Array<[boolean, string | undefined]> = [];
    health.onChange((ok, reason) => changes.push([ok, reason]));
    expect(health.healthy).toBe(true);
    expect(health.report(new Error('a bug'))).toBe(false);
    expect(health.healthy).toBe(true);

    expect(health.report(sqlite('SQLITE_FULL'), 'test')).toBe(true);
    expect(health.healthy).toBe(false);
    expect(health.reason).toBe('SQLITE_FULL: SQLITE_FULL (test)');
    const healed = health.whenHealthy();
    await healed;
    expect(health.healthy).toBe(true);
    expect(health.reason).toBeUndefined();
    expect(probes).toHaveLength(4); // three failures, then success
    // Backoff: the gaps between probes grow (10, 20, 40 ms; timers may fire late, never early).
    const gaps = probes.slice(1).map((t, i) => t - probes[i]!);
    expect(gaps[0]!).toBeGreaterThanOrEqual(18);
    expect(gaps[1]!).toBeGreaterThanOrEqual(38);
    expect(changes).toEqual([
      [false, 'SQLITE_FULL: SQLITE_FULL (test)'],
      [true, undefined],
    ]);
    expect(lines.map((l) => l.msg)).toEqual([
      'storage fault: the database cannot be written; retrying until it can (no restart needed)',
      'storage fault cleared: the database can be written again',
    ]);
    await expect(health.whenHealthy()).resolves.toBeUndefined();
    health.stop();
  });

  it('a fault soon after a recovery continues the backoff instead of starting again at the first delay', async () => {
    const probes: number[] = [];
    const health = new StoreHealth({
      logger: collectingLogger('silent').logger,
      initialDelayMs: 20,
      maxDelayMs: 1_000,
      probe: async () => void probes.push(Date.now()),
    });
    health.report(sqlite('SQLITE_FULL'));
    await health.whenHealthy();
    const again = Date.now();
    health.report(sqlite('SQLITE_FULL')); // flapping: the disk is still nearly full
    await health.whenHealthy();
    expect(probes).toHaveLength(2);
    expect(probes[1]! - again).toBeGreaterThanOrEqual(38); // the second delay (40 ms), not the first (20 ms)
    health.stop();
  });

  it('probeNow resolves to the outcome; calls while a probe runs share it', async () => {
    let release!: () => void;
    let fail = true;
    let calls = 0;
    const health = new StoreHealth({
      logger: collectingLogger('silent').logger,
      initialDelayMs: 60_000,
      probe: async () => {
        calls++;
        await new Promise<void>((r) => (release = r));
        if (fail) throw Object.assign(new Error('only 10 bytes free'), { code: 'ENOSPC' });
      },
    });
    expect(await health.probeNow()).toBe(true); // healthy: no probe
    expect(calls).toBe(0);
    health.report(sqlite('SQLITE_FULL'));
    const a = health.probeNow();
    const b = health.probeNow();
    expect(calls).toBe(1);
    release();
    expect(await a).toBe(false);
    expect(await b).toBe(false);
    expect(health.reason).toBe('ENOSPC: only 10 bytes free');
    fail = false;
    const c = health.probeNow();
    expect(calls).toBe(2);
    release();
    expect(await c).toBe(true);
    expect(health.healthy).toBe(true);
    health.stop();
  });
});
