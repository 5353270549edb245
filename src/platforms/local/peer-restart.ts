/**
 * What the local web chat shows when another cluster instance, which runs a turn of one of its
 * threads, begins a graceful stop (src/cluster/restart-notices.ts): the thread's status line.
 * Pure functions.
 */
import type { PeerStoppedNotice, PeerStoppingNotice } from './events.js';
import { parseLocalConversationId } from './ids.js';

/** The local threads among `turns` (conversation ids `local:<channel>:<thread>`); other platforms' ids are skipped. */
export function localThreadsOf(turns: readonly string[]): Array<{ channel: string; thread: string }> {
  const out: Array<{ channel: string; thread: string }> = [];
  for (const id of turns) {
    const [platform, ...parts] = id.split(':');
    if (platform !== 'local') continue;
    try {
      const { channel, thread } = parseLocalConversationId(id, parts);
      out.push({ channel, thread });
    } catch {
      // not a well-formed local conversation id: skipped
    }
  }
  return out;
}

/**
 * The status line of a thread whose turn runs on the stopping instance, e.g. "♻️ agentbridge
 * instance node-1, which runs this turn, is restarting. The turn has up to 30 s to finish there;
 * if it does not, another instance runs it again and answers here."
 */
export function peerStoppingStatus(notice: Pick<PeerStoppingNotice, 'instanceId' | 'again' | 'graceS'>): string {
  const what = notice.again ? 'is restarting' : 'is shutting down';
  const then =
    notice.graceS > 0
      ? `The turn has up to ${notice.graceS} s to finish there; if it does not, another instance runs it again and answers here.`
      : 'Another instance runs the turn again and answers here.';
  return `♻️ agentbridge instance ${notice.instanceId}, which runs this turn, ${what}. ${then}`;
}

/**
 * The status line of a thread whose turn the stopped instance cut, e.g. "♻️ agentbridge instance
 * node-1 restarted before this turn finished. Another instance runs it again and answers here."
 */
export function peerStoppedStatus(notice: Pick<PeerStoppedNotice, 'instanceId' | 'again'>): string {
  return `♻️ agentbridge instance ${notice.instanceId} ${notice.again ? 'restarted' : 'shut down'} before this turn finished. Another instance runs it again and answers here.`;
}
