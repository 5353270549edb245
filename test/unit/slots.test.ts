/**
 * The default turn slots (src/core/slots.ts: one turn per 0.5 core and per 400 MiB, at least 1),
 * the cgroup parsers, the machine reader (src/machine.ts) over a fake cgroup tree, and how the
 * config loader uses them (an explicit AGENTBRIDGE_MAX_CONCURRENT_TURNS wins).
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import {
  BYTES_PER_TURN,
  cgroupAncestors,
  deriveTurnSlots,
  describeMachine,
  describeTurnSlots,
  parseCgroupCpuMax,
  parseCgroupMemory,
  parseCgroupV1Cpu,
  parseProcCgroup,
} from '../../src/core/slots.js';
import { readMachineFacts } from '../../src/machine.js';

const GiB = 2 ** 30;

describe('deriveTurnSlots', () => {
  it('gives one turn per half core when memory is plentiful', () => {
    expect(deriveTurnSlots({ cpus: 1, memoryBytes: 64 * GiB })).toMatchObject({ slots: 2, cores: 1, limitedBy: 'cores' });
    expect(deriveTurnSlots({ cpus: 2, memoryBytes: 7.8 * GiB })).toMatchObject({ slots: 4, limitedBy: 'cores' });
    expect(deriveTurnSlots({ cpus: 8, memoryBytes: 64 * GiB }).slots).toBe(16);
  });

  it('gives one turn per 400 MiB when memory is the tighter bound', () => {
    expect(deriveTurnSlots({ cpus: 8, memoryBytes: 1 * GiB })).toMatchObject({ slots: 2, limitedBy: 'memory' });
    expect(deriveTurnSlots({ cpus: 8, memoryBytes: 4 * BYTES_PER_TURN - 1 }).slots).toBe(3);
    expect(deriveTurnSlots({ cpus: 8, memoryBytes: 4 * BYTES_PER_TURN }).slots).toBe(4);
  });

  it('never gives fewer than one', () => {
    expect(deriveTurnSlots({ cpus: 1, memoryBytes: 100 * 2 ** 20 })).toMatchObject({ slots: 1, limitedBy: 'minimum' });
    expect(deriveTurnSlots({ cpus: 1, cgroupCpus: 0.2, memoryBytes: 8 * GiB })).toMatchObject({ slots: 1, limitedBy: 'minimum' });
    expect(deriveTurnSlots({ cpus: 0, memoryBytes: 0 }).slots).toBe(1);
  });

  it('counts the cgroup limits when they are smaller: a container with 2 CPUs gets 4', () => {
    expect(deriveTurnSlots({ cpus: 16, cgroupCpus: 2, memoryBytes: 64 * GiB })).toMatchObject({ slots: 4, cores: 2 });
    expect(deriveTurnSlots({ cpus: 16, cgroupCpus: 1.5, memoryBytes: 64 * GiB }).slots).toBe(3);
    expect(deriveTurnSlots({ cpus: 16, memoryBytes: 64 * GiB, cgroupMemoryBytes: 1.2 * GiB })).toMatchObject({ slots: 3, limitedBy: 'memory' });
    // A cgroup limit larger than the machine changes nothing.
    expect(deriveTurnSlots({ cpus: 2, cgroupCpus: 8, memoryBytes: 8 * GiB, cgroupMemoryBytes: 100 * GiB }).slots).toBe(4);
  });

  it('describes the machine and the slots for the startup log and doctor', () => {
    expect(describeMachine({ cpus: 2, memoryBytes: 7.8 * GiB })).toBe('2 cores, 7.8 GiB');
    expect(describeMachine({ cpus: 16, cgroupCpus: 1.5, memoryBytes: 64 * GiB, cgroupMemoryBytes: 2 * GiB })).toBe('1.5 cores (cgroup), 2 GiB (cgroup)');
    expect(describeMachine({ cpus: 1, memoryBytes: 0.5 * GiB })).toBe('1 core, 0.5 GiB');
    expect(describeTurnSlots(4, '2 cores, 7.8 GiB')).toBe('4 turn slots (2 cores, 7.8 GiB)');
    expect(describeTurnSlots(1, 'AGENTBRIDGE_MAX_CONCURRENT_TURNS')).toBe('1 turn slot (AGENTBRIDGE_MAX_CONCURRENT_TURNS)');
  });
});

describe('cgroup parsers', () => {
  it('v2 cpu.max and memory.max', () => {
    expect(parseCgroupCpuMax('200000 100000\n')).toBe(2);
    expect(parseCgroupCpuMax('50000 100000')).toBe(0.5);
    expect(parseCgroupCpuMax('max 100000\n')).toBeUndefined();
    expect(parseCgroupCpuMax('')).toBeUndefined();
    expect(parseCgroupCpuMax(undefined)).toBeUndefined();
    expect(parseCgroupCpuMax('garbage')).toBeUndefined();
    expect(parseCgroupMemory('2147483648\n')).toBe(2 * GiB);
    expect(parseCgroupMemory('max\n')).toBeUndefined();
    expect(parseCgroupMemory(undefined)).toBeUndefined();
  });

  it('v1 cfs quota/period and limit_in_bytes ("no limit" spellings)', () => {
    expect(parseCgroupV1Cpu('150000\n', '100000\n')).toBe(1.5);
    expect(parseCgroupV1Cpu('-1\n', '100000\n')).toBeUndefined();
    expect(parseCgroupV1Cpu(undefined, '100000')).toBeUndefined();
    expect(parseCgroupMemory('9223372036854771712\n')).toBeUndefined();
    expect(parseCgroupMemory('1073741824')).toBe(GiB);
  });

  it('/proc/self/cgroup and ancestor paths', () => {
    expect(parseProcCgroup('0::/\n')).toEqual({ v2: '/', v1: {} });
    expect(parseProcCgroup('12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n1:name=systemd:/x\n0::/\n')).toEqual({
      v2: '/',
      v1: { cpu: '/docker/abc', cpuacct: '/docker/abc', memory: '/docker/abc', 'name=systemd': '/x' },
    });
    expect(cgroupAncestors('/a/b')).toEqual(['/a/b', '/a', '/']);
    expect(cgroupAncestors('/')).toEqual(['/']);
  });
});

describe('readMachineFacts (fake cgroup trees)', () => {
  const base = { cpus: 16, memoryBytes: 64 * GiB };
  const tree = (files: Record<string, string>) => (f: string) => files[f];

  it('cgroup v2: the smallest limit of the own cgroup and its ancestors', () => {
    const facts = readMachineFacts(
      tree({
        '/proc/self/cgroup': '0::/system.slice/agentbridge.service\n',
        '/cg/system.slice/agentbridge.service/cpu.max': 'max 100000\n',
        '/cg/system.slice/agentbridge.service/memory.max': '3221225472\n',
        '/cg/system.slice/cpu.max': '200000 100000\n',
        '/cg/system.slice/memory.max': 'max\n',
      }),
      base,
      '/cg',
    );
    expect(facts).toEqual({ ...base, cgroupCpus: 2, cgroupMemoryBytes: 3 * GiB });
    expect(deriveTurnSlots(facts).slots).toBe(4);
  });

  it('a container (cgroup namespace: own cgroup is "/")', () => {
    const facts = readMachineFacts(tree({ '/proc/self/cgroup': '0::/\n', '/cg/cpu.max': '200000 100000\n', '/cg/memory.max': 'max\n' }), base, '/cg');
    expect(facts).toEqual({ ...base, cgroupCpus: 2 });
  });

  it('cgroup v1, and no cgroup information at all', () => {
    const v1 = readMachineFacts(
      tree({
        '/proc/self/cgroup': '4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n',
        '/cg/cpu/docker/abc/cpu.cfs_quota_us': '100000\n',
        '/cg/cpu/docker/abc/cpu.cfs_period_us': '100000\n',
        '/cg/memory/docker/abc/memory.limit_in_bytes': '9223372036854771712\n',
        '/cg/memory/memory.limit_in_bytes': '2147483648\n',
      }),
      base,
      '/cg',
    );
    expect(v1).toEqual({ ...base, cgroupCpus: 1, cgroupMemoryBytes: 2 * GiB });
    expect(readMachineFacts(() => undefined, base, '/cg')).toEqual(base);
  });

  it('reads this machine without throwing', () => {
    const facts = readMachineFacts();
    expect(facts.cpus).toBeGreaterThanOrEqual(1);
    expect(facts.memoryBytes).toBeGreaterThan(0);
  });
});

describe('AGENTBRIDGE_MAX_CONCURRENT_TURNS in the configuration', () => {
  const twoCores = () => ({ cpus: 2, memoryBytes: 7.8 * GiB });

  it('defaults to the machine-derived number; the live-session bound follows (twice the slots)', () => {
    const c = loadConfig({}, '/srv', undefined, twoCores);
    expect(c.maxConcurrentTurns).toBe(4);
    expect(c.maxConcurrentTurnsSource).toBe('2 cores, 7.8 GiB');
    expect(c.maxLiveSessions).toBe(8);
    const small = loadConfig({}, '/srv', undefined, () => ({ cpus: 16, memoryBytes: 64 * GiB, cgroupCpus: 1 }));
    expect(small.maxConcurrentTurns).toBe(2);
    expect(small.maxLiveSessions).toBe(4);
  });

  it('an explicit setting wins, and the machine is not even read', () => {
    const c = loadConfig({ AGENTBRIDGE_MAX_CONCURRENT_TURNS: '8' }, '/srv', undefined, () => {
      throw new Error('must not be read');
    });
    expect(c.maxConcurrentTurns).toBe(8);
    expect(c.maxConcurrentTurnsSource).toBe('AGENTBRIDGE_MAX_CONCURRENT_TURNS');
    expect(c.maxLiveSessions).toBe(16);
    expect(loadConfig({ AGENTBRIDGE_MAX_CONCURRENT_TURNS: '8', AGENTBRIDGE_MAX_LIVE_SESSIONS: '3' }, '/srv', undefined, twoCores).maxLiveSessions).toBe(3);
  });
});
