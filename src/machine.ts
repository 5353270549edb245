/**
 * Reads what the turn-slot rule (`src/core/slots.ts`) needs about this machine: the CPUs this
 * process may use (`os.availableParallelism()`), the total memory (`os.totalmem()`), and the
 * cgroup limits of the process's own cgroup and its ancestors — cgroup v2 (`cpu.max`,
 * `memory.max` under `/sys/fs/cgroup<path>`), else v1 (`cpu.cfs_quota_us`/`cpu.cfs_period_us`
 * under `/sys/fs/cgroup/cpu<path>`, `memory.limit_in_bytes` under `/sys/fs/cgroup/memory<path>`).
 * A file that is missing or unreadable counts as "no limit". Used by the config loader
 * (`src/config.ts`) when AGENTBRIDGE_MAX_CONCURRENT_TURNS is unset.
 */
import fs from 'node:fs';
import os from 'node:os';
import { cgroupAncestors, parseCgroupCpuMax, parseCgroupMemory, parseCgroupV1Cpu, parseProcCgroup, type MachineFacts } from './core/slots.js';

/** Reads a file as text; undefined when it cannot be read. */
export type ReadText = (file: string) => string | undefined;

const readText: ReadText = (file) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * The machine's facts for `deriveTurnSlots` (`src/core/slots.ts`). Never throws.
 * @param read file reader (tests pass a fake cgroup tree)
 * @param base CPUs and total memory (bytes); default from `node:os`
 * @param cgroupRoot where the cgroup file system is mounted (default `/sys/fs/cgroup`)
 */
export function readMachineFacts(
  read: ReadText = readText,
  base: { cpus: number; memoryBytes: number } = { cpus: os.availableParallelism(), memoryBytes: os.totalmem() },
  cgroupRoot = '/sys/fs/cgroup',
): MachineFacts {
  const own = parseProcCgroup(read('/proc/self/cgroup') ?? '');
  const cpuLimits: number[] = [];
  const memLimits: number[] = [];
  for (const dir of cgroupAncestors(own.v2 ?? '/')) {
    const at = `${cgroupRoot}${dir === '/' ? '' : dir}`;
    push(cpuLimits, parseCgroupCpuMax(read(`${at}/cpu.max`)));
    push(memLimits, parseCgroupMemory(read(`${at}/memory.max`)));
  }
  if (!cpuLimits.length) {
    for (const dir of cgroupAncestors(own.v1.cpu ?? '/')) {
      const at = `${cgroupRoot}/cpu${dir === '/' ? '' : dir}`;
      push(cpuLimits, parseCgroupV1Cpu(read(`${at}/cpu.cfs_quota_us`), read(`${at}/cpu.cfs_period_us`)));
    }
  }
  if (!memLimits.length) {
    for (const dir of cgroupAncestors(own.v1.memory ?? '/')) {
      push(memLimits, parseCgroupMemory(read(`${cgroupRoot}/memory${dir === '/' ? '' : dir}/memory.limit_in_bytes`)));
    }
  }
  return {
    ...base,
    ...(cpuLimits.length ? { cgroupCpus: Math.min(...cpuLimits) } : {}),
    ...(memLimits.length ? { cgroupMemoryBytes: Math.min(...memLimits) } : {}),
  };
}

function push(list: number[], v: number | undefined): void {
  if (v !== undefined) list.push(v);
}
