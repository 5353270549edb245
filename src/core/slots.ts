/**
 * The default number of turn slots (AGENTBRIDGE_MAX_CONCURRENT_TURNS) from the machine: about one
 * turn per half core and per 400 MiB of memory, at least one. Pure: the numbers come from the
 * config loader's reader (`src/machine.ts`: `os.availableParallelism()`, `os.totalmem()` and the
 * cgroup limits), parsed by the helpers below.
 *
 * Why (issue 16, measured on 2 cores with the real claude CLI): one claude turn costs about
 * 1.46 CPU-seconds, and 8 slots on 2 cores answered bursts 10–25 % later than 4 — the CLIs starve
 * each other. One turn per 0.5 core gives 4 on 2 cores. An idle claude process holds ~193 MB
 * (README "Approvals and steering"); 400 MiB per turn leaves room for a live session per slot and
 * a one-shot run beside it.
 *
 * cgroup formats (kernel docs, Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/):
 * - v2 `cpu.max`: `"$MAX $PERIOD"`, `$MAX` = `max` for no limit (µs); `memory.max`: bytes or `max`;
 * - v1 `cpu.cfs_quota_us` (`-1` = no limit) / `cpu.cfs_period_us`; `memory.limit_in_bytes`
 *   (no limit = a value near 2^63, page-rounded);
 * - `/proc/self/cgroup`: lines `hierarchy-ID:controller-list:path`; v2 is `0::<path>`.
 */

/** CPU cores per turn slot. */
export const CORES_PER_TURN = 0.5;
/** Memory per turn slot, bytes (400 MiB). */
export const BYTES_PER_TURN = 400 * 1024 * 1024;

/** What the slot rule reads about the machine. */
export interface MachineFacts {
  /** `os.availableParallelism()`: CPUs this process may run on (respects CPU affinity / cpusets). */
  cpus: number;
  /** The cgroup CPU quota in cores (quota / period; may be fractional); undefined when unlimited or unknown. */
  cgroupCpus?: number;
  /** `os.totalmem()`, bytes. */
  memoryBytes: number;
  /** The cgroup memory limit, bytes; undefined when unlimited or unknown. */
  cgroupMemoryBytes?: number;
}

/** The derived slot count and what it was derived from. */
export interface DerivedTurnSlots {
  /** `max(1, min(floor(cores / 0.5), floor(memory / 400 MiB)))` */
  slots: number;
  /** The cores counted: the smaller of `cpus` and the cgroup quota. */
  cores: number;
  /** The memory counted, bytes: the smaller of the total and the cgroup limit. */
  memoryBytes: number;
  /** What bounds `slots`: the cores, the memory, or the minimum of 1. */
  limitedBy: 'cores' | 'memory' | 'minimum';
}

/**
 * The default number of turn slots for a machine.
 * @example deriveTurnSlots({ cpus: 2, memoryBytes: 8 * 2 ** 30 }).slots === 4
 * @example deriveTurnSlots({ cpus: 16, cgroupCpus: 2, memoryBytes: 64 * 2 ** 30 }).slots === 4
 */
export function deriveTurnSlots(facts: MachineFacts): DerivedTurnSlots {
  const cores = positiveMin(facts.cpus, facts.cgroupCpus) ?? 1;
  const memoryBytes = positiveMin(facts.memoryBytes, facts.cgroupMemoryBytes) ?? 0;
  // The epsilon keeps 1.5 cores (a 150000/100000 quota) at 3, not 2.999… → 2.
  const byCores = Math.floor(cores / CORES_PER_TURN + 1e-9);
  const byMemory = Math.floor(memoryBytes / BYTES_PER_TURN);
  const slots = Math.max(1, Math.min(byCores, byMemory));
  const limitedBy = Math.min(byCores, byMemory) < 1 ? 'minimum' : byCores <= byMemory ? 'cores' : 'memory';
  return { slots, cores, memoryBytes, limitedBy };
}

/**
 * `"2 cores, 7.8 GiB"` (cores with at most one decimal; memory in GiB, one decimal; `cgroup` noted
 * when a cgroup limit was the smaller number).
 */
export function describeMachine(facts: MachineFacts): string {
  const { cores, memoryBytes } = deriveTurnSlots(facts);
  const coreText = `${round1(cores)} ${cores === 1 ? 'core' : 'cores'}${facts.cgroupCpus !== undefined && facts.cgroupCpus < facts.cpus ? ' (cgroup)' : ''}`;
  const memText = `${round1(memoryBytes / 2 ** 30)} GiB${facts.cgroupMemoryBytes !== undefined && facts.cgroupMemoryBytes < facts.memoryBytes ? ' (cgroup)' : ''}`;
  return `${coreText}, ${memText}`;
}

/**
 * The startup log's and `agentbridge doctor`'s line, e.g. `"4 turn slots (2 cores, 7.8 GiB)"` or
 * `"8 turn slots (AGENTBRIDGE_MAX_CONCURRENT_TURNS)"`.
 * @param source {@link describeMachine}'s text, or the variable that set the number
 */
export function describeTurnSlots(slots: number, source: string): string {
  return `${slots} turn ${slots === 1 ? 'slot' : 'slots'} (${source})`;
}

/**
 * v2 `cpu.max` → cores.
 * @example parseCgroupCpuMax('200000 100000') === 2
 * @returns undefined for `max …` (no limit) or text that is not `<quota> <period>`.
 */
export function parseCgroupCpuMax(text: string | undefined): number | undefined {
  const m = /^\s*(\d+|max)(?:\s+(\d+))?\s*$/.exec(text ?? '');
  if (!m || m[1] === 'max') return undefined;
  return coresOf(Number(m[1]), Number(m[2] ?? 100_000));
}

/**
 * v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` → cores.
 * @returns undefined for a quota of -1 (no limit) or unreadable values.
 */
export function parseCgroupV1Cpu(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number((quota ?? '').trim());
  const p = Number((period ?? '').trim());
  if (!quota?.trim() || !period?.trim() || !Number.isFinite(q) || q <= 0) return undefined;
  return coresOf(q, p);
}

/**
 * v2 `memory.max` or v1 `memory.limit_in_bytes` → bytes.
 * @returns undefined for `max`, for v1's "no limit" (≥ 2^60) and for text that is not a number.
 */
export function parseCgroupMemory(text: string | undefined): number | undefined {
  const t = (text ?? '').trim();
  if (!/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return n > 0 && n < 2 ** 60 ? n : undefined;
}

/**
 * `/proc/self/cgroup` → the v2 path (`0::<path>`) and the v1 path of each controller.
 * @example parseProcCgroup('0::/system.slice/x.service\n').v2 === '/system.slice/x.service'
 */
export function parseProcCgroup(text: string): { v2?: string; v1: Record<string, string> } {
  const out: { v2?: string; v1: Record<string, string> } = { v1: {} };
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(\/.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') out.v2 = m[3];
    else for (const c of m[2]!.split(',')) if (c) out.v1[c] = m[3]!;
  }
  return out;
}

/**
 * A cgroup path and its ancestors, deepest first: limits of every level apply.
 * @example cgroupAncestors('/a/b') → ['/a/b', '/a', '/']
 */
export function cgroupAncestors(p: string): string[] {
  const parts = p.split('/').filter(Boolean);
  const out: string[] = [];
  for (let i = parts.length; i > 0; i--) out.push(`/${parts.slice(0, i).join('/')}`);
  out.push('/');
  return out;
}

function coresOf(quota: number, period: number): number | undefined {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return undefined;
  return quota / period;
}

/** The smaller of the positive numbers among `values`; undefined when there is none. */
function positiveMin(...values: Array<number | undefined>): number | undefined {
  const ok = values.filter((v): v is number => v !== undefined && Number.isFinite(v) && v > 0);
  return ok.length ? Math.min(...ok) : undefined;
}

function round1(n: number): string {
  return String(Math.round(n * 10) / 10);
}
