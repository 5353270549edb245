/**
 * The cluster's status (docs/ARCHITECTURE.md §10, "Cluster mode — visibility"), for
 * `agentbridge cluster status` and `/agent status`: the instances and their heartbeats, the holder
 * of each leader lease, the turn queue's depth and the blocked conversations (a wake-up job that
 * failed past its retries holds back its conversation: `cluster retry|skip <conversation>`).
 * {@link gatherClusterStatus} reads; {@link formatClusterStatus} and {@link formatClusterStatusText}
 * are pure.
 */
import type { ClusterRole } from '../core/config.js';
import { maskSecrets } from '../logger.js';
import type { ClusterInstancesRepo } from '../store/types.js';
import { LEASES, TURN_QUEUE } from './constants.js';
import { LIVE_WINDOW_MS } from './instances.js';
import type { TurnQueue } from './turn-queue.js';
import type { LeaseHolder as StoreLeaseHolder } from '../store/pg-lease.js';

/** Who holds a lease (src/store/pg-lease.ts `readLeaseHolders`). `since`: ms since the epoch, undefined when the server does not show it. */
export type LeaseHolder = Pick<StoreLeaseHolder, 'lease' | 'instanceId' | 'since'>;

/** One instance as `cluster status` shows it. */
export interface InstanceStatus {
  id: string;
  host: string;
  pid: number;
  roles: ClusterRole[];
  url: string | null;
  /** Seconds since its last heartbeat (rounded down, ≥ 0). */
  heartbeatAgeS: number;
  /** Turns running at its last heartbeat (0 once stopped). */
  turnsRunning: number;
  /** Beat within {@link LIVE_WINDOW_MS} and not stopped. */
  live: boolean;
  /** It stopped gracefully (its row says so). */
  stopped: boolean;
}

/** The turn queue's counts, as of pg-boss's last monitor pass (`asOf`, ms since the epoch). */
export interface QueueDepth {
  /** Jobs waiting (created or retry), including deferred ones. */
  queued: number;
  /** Jobs running now (a turn each). */
  active: number;
  /** Queued jobs whose start is still ahead (a retry's back-off). */
  deferred: number;
  /** Failed jobs still kept (each blocks its conversation). */
  failed: number;
  asOf: number;
}

/** A conversation whose wake-up job failed past its retries: its later jobs wait behind it. */
export interface BlockedConversation {
  conversationId: string;
  /** The failed job(s) of its key, oldest first. */
  jobIds: string[];
  /** When the newest of them failed, ms since the epoch (null when pg-boss has no time). */
  failedAt: number | null;
  /** The last failure's error message, when pg-boss kept one (at most 300 characters). */
  error: string | null;
  /** Its jobs waiting behind the failed one(s). */
  waiting: number;
}

/** Everything `cluster status` shows; `at`: when it was gathered, ms since the epoch. */
export interface ClusterStatus {
  at: number;
  instances: InstanceStatus[];
  /**
   * Every lease of {@link LEASES} (and any other one reported), with its holder (undefined: nobody
   * holds it); `known` false when the holders could not be read (no `leaseHolders` source).
   */
  leases: { lease: string; holder?: LeaseHolder; known: boolean }[];
  /** Undefined: the turn queue does not exist yet (no instance in cluster mode has started). */
  queue?: QueueDepth;
  blocked: BlockedConversation[];
}

/** What {@link gatherClusterStatus} reads from. */
export interface ClusterStatusSources {
  instances: Pick<ClusterInstancesRepo, 'list'>;
  /** The holder of each held lease (a lease nobody holds is absent); absent: holders shown as unknown. */
  leaseHolders?: () => Promise<LeaseHolder[]>;
  /** pg-boss on the cluster's database; undefined: pg-boss is not installed there yet. */
  queue?: TurnQueue;
  now?: () => number;
}

/** Most blocked conversations listed (pg-boss lists keys in key order). */
const MAX_BLOCKED = 100;
/** Longest error text kept, characters. */
const MAX_ERROR_CHARS = 300;

/** The error message of a failed job's `output` (pg-boss keeps what the worker failed it with), URL passwords masked. */
export function failureMessage(output: unknown): string | null {
  if (output === null || output === undefined) return null;
  let text: string;
  if (typeof output === 'string') text = output;
  else if (typeof output === 'object' && typeof (output as { message?: unknown }).message === 'string') text = (output as { message: string }).message;
  else if (typeof output === 'object' && typeof (output as { value?: unknown }).value === 'string') text = (output as { value: string }).value;
  else text = JSON.stringify(output);
  text = maskSecrets(text).replace(/\s+/g, ' ').trim();
  if (!text || text === '{}') return null;
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS - 1)}…` : text;
}

/** The blocked conversations of the turn queue (at most {@link MAX_BLOCKED}), by conversation id. */
export async function blockedConversations(queue: TurnQueue): Promise<BlockedConversation[]> {
  const keys = await queue.getBlockedKeys(TURN_QUEUE, { limit: MAX_BLOCKED });
  const out: BlockedConversation[] = [];
  for (const key of keys) {
    const jobs = await queue.findJobs(TURN_QUEUE, { key });
    const failed = jobs.filter((j) => j.state === 'failed');
    if (failed.length === 0) continue; // retried or removed since the keys were read
    const last = failed[failed.length - 1]!;
    out.push({
      conversationId: key,
      jobIds: failed.map((j) => j.id),
      failedAt: last.completedOn ? new Date(last.completedOn).getTime() : null,
      error: failureMessage(last.output),
      waiting: jobs.filter((j) => j.state === 'created' || j.state === 'retry').length,
    });
  }
  return out;
}

/**
 * Reads the cluster's status. Rejects with the first failed read (the store, the lease holders
 * or pg-boss); a queue that does not exist yet is not an error (`queue` undefined).
 */
export async function gatherClusterStatus(src: ClusterStatusSources): Promise<ClusterStatus> {
  const at = (src.now ?? Date.now)();
  const [rows, holders] = await Promise.all([src.instances.list(), src.leaseHolders?.()]);
  const instances = rows.map((r): InstanceStatus => {
    const age = Math.max(0, at - r.heartbeatAt);
    return {
      id: r.id,
      host: r.host,
      pid: r.pid,
      roles: r.roles,
      url: r.url,
      heartbeatAgeS: Math.floor(age / 1000),
      turnsRunning: r.stoppedAt === null ? r.turnsRunning : 0,
      live: r.stoppedAt === null && age <= LIVE_WINDOW_MS,
      stopped: r.stoppedAt !== null,
    };
  });
  const names = [...LEASES, ...(holders ?? []).map((h) => h.lease).filter((l) => !(LEASES as readonly string[]).includes(l))];
  const leases = [...new Set(names)].map((lease) => ({ lease, holder: holders?.find((h) => h.lease === lease), known: holders !== undefined }));
  let queue: QueueDepth | undefined;
  let blocked: BlockedConversation[] = [];
  if (src.queue) {
    const q = await src.queue.getQueue(TURN_QUEUE);
    if (q) {
      queue = { queued: q.queuedCount, active: q.activeCount, deferred: q.deferredCount, failed: q.failedCount, asOf: new Date(q.updatedOn).getTime() };
      blocked = await blockedConversations(src.queue);
    }
  }
  return { at, instances, leases, queue, blocked };
}

/** `12s`, `3m 4s`, `2h 5m`, `3d 1h`: a duration in seconds, short. */
export function shortAge(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

function state(i: InstanceStatus): string {
  return i.stopped ? 'stopped' : i.live ? 'live' : 'not live';
}

function holderText(status: ClusterStatus, holder: LeaseHolder | undefined, known = true): string {
  if (!known) return 'unknown';
  if (!holder) return 'nobody';
  if (holder.since === undefined) return holder.instanceId;
  const age = Math.max(0, Math.floor((status.at - holder.since) / 1000));
  return `${holder.instanceId} (for ${shortAge(age)})`;
}

function queueText(q: QueueDepth | undefined, at: number): string {
  if (!q) return 'no turn queue yet (no instance in cluster mode has started)';
  const age = Math.max(0, Math.floor((at - q.asOf) / 1000));
  return `${q.queued} queued (${q.deferred} deferred), ${q.active} running, ${q.failed} failed — as of ${shortAge(age)} ago`;
}

function blockedLine(b: BlockedConversation, at: number): string {
  const when = b.failedAt === null ? '' : `, failed ${shortAge(Math.max(0, Math.floor((at - b.failedAt) / 1000)))} ago`;
  return `${b.conversationId}${when}, ${b.waiting} waiting behind${b.error ? `: ${b.error}` : ''}`;
}

/** Backticks for inline code, with any backtick in `s` replaced (a conversation id or error text). */
function code(s: string): string {
  return `\`${s.replace(/`/g, "'")}\``;
}

/**
 * The status as Markdown (for `/agent status`): instances, leases, queue, blocked conversations.
 * The blocked conversations are only counted unless `opts.blockedDetails` (their ids and errors
 * belong to other channels: show them to admins only).
 */
export function formatClusterStatus(status: ClusterStatus, opts: { blockedDetails?: boolean } = {}): string {
  const lines = ['**Cluster**', ''];
  lines.push(`- instances: ${status.instances.filter((i) => i.live).length} live of ${status.instances.length}`);
  for (const i of status.instances) {
    lines.push(
      `  - ${code(i.id)} on ${i.host} (${i.roles.join(', ') || 'no roles'}): ${state(i)}, heartbeat ${shortAge(i.heartbeatAgeS)} ago, ${i.turnsRunning} turn${i.turnsRunning === 1 ? '' : 's'} running`,
    );
  }
  lines.push(
    `- leases: ${status.leases.map((l) => `${l.lease} → ${l.holder ? code(holderText(status, l.holder)) : holderText(status, undefined, l.known)}`).join(', ')}`,
  );
  lines.push(`- turn queue: ${queueText(status.queue, status.at)}`);
  if (status.blocked.length === 0) lines.push('- blocked conversations: none');
  else if (!opts.blockedDetails) lines.push(`- blocked conversations: ${status.blocked.length} (\`agentbridge cluster status\` lists them)`);
  else {
    lines.push(`- blocked conversations (\`agentbridge cluster retry|skip <conversation>\`):`);
    for (const b of status.blocked) lines.push(`  - ${code(blockedLine(b, status.at))}`);
  }
  return lines.join('\n');
}

/** Pads each column of `rows` to its widest cell (two spaces between columns). */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '));
}

/** The status as plain text with tables (for `agentbridge cluster status`). */
export function formatClusterStatusText(status: ClusterStatus): string {
  const out: string[] = [];
  out.push(`instances (${status.instances.filter((i) => i.live).length} live of ${status.instances.length})`);
  if (status.instances.length === 0) out.push('  none has beaten yet');
  else
    out.push(
      ...table([
        ['ID', 'HOST', 'PID', 'ROLES', 'STATE', 'HEARTBEAT', 'TURNS'],
        ...status.instances.map((i) => [
          i.id,
          i.host,
          String(i.pid),
          i.roles.join(',') || '-',
          state(i),
          `${shortAge(i.heartbeatAgeS)} ago`,
          String(i.turnsRunning),
        ]),
      ]).map((l) => `  ${l}`),
    );
  out.push('', 'leases');
  out.push(...table(status.leases.map((l) => [l.lease, holderText(status, l.holder, l.known)])).map((l) => `  ${l}`));
  out.push('', `turn queue: ${queueText(status.queue, status.at)}`);
  out.push('', `blocked conversations: ${status.blocked.length === 0 ? 'none' : status.blocked.length}`);
  for (const b of status.blocked) out.push(`  ${blockedLine(b, status.at)}`);
  if (status.blocked.length > 0) out.push('  (agentbridge cluster retry <conversation> runs it again; skip <conversation> drops its unanswered messages)');
  return out.join('\n') + '\n';
}
