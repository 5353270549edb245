/**
 * Thread seeding: a thread started on a message the bot posted (an answer in a Discord chat
 * channel, a cron post) begins from that message's context instead of from nothing.
 *
 * - `fork`: the message is the latest answer of its conversation, both use the same agent, and
 *   the agent can fork sessions (the runner's `fork` capability; Claude Code: `--resume <id> --fork-session`) → the thread's
 *   first turn forks the origin's agent session as it was at that answer.
 * - `transcript`: otherwise → the origin's transcript up to and including that message is given
 *   as context, bounded to {@link SEED_CONTEXT_CHARS} characters (oldest entries are cut, and the
 *   answer tells the user how many).
 *
 * Seeding applies once per thread: `seededAt` is set when the seeded turn ran.
 */
import type { AgentName } from '../core/agents.js';
import { capabilitiesOf } from '../runners/registry.js';
import type { ConversationRow, SessionEntryRow, Store } from '../store/types.js';

/** Upper bound of the transcript given as seed context, in characters. */
export const SEED_CONTEXT_CHARS = 24_000;

/** `originId`: the origin conversation's id (its agent session files are stored under it, src/cluster/session-files.ts). */
export type SeedPlan =
  { mode: 'fork'; from: string; sessionId: string; originId: string } | { mode: 'transcript'; from: string; context: string; included: number; cut: number };

/**
 * What the first turn of `conv` starts from, or undefined when it has no (pending) seed or
 * the origin is unknown (e.g. pruned).
 */
export async function planSeed(
  store: Pick<Store, 'entries' | 'postedMessages'> & { conversations: Pick<Store['conversations'], 'get'> },
  conv: ConversationRow,
  agent: AgentName,
  opts: { allowFork?: boolean } = {},
): Promise<SeedPlan | undefined> {
  if (!conv.seededFrom || conv.seededAt !== null) return undefined;
  const posted = await store.postedMessages.get(conv.seededFrom);
  if (!posted || posted.conversationId === conv.id) return undefined;
  const origin = await store.conversations.get(posted.conversationId);
  if (!origin) return undefined;

  const entries = await store.entries.list(origin.id, { limit: 200 });
  const atIndex = posted.sessionEntryId === null ? -1 : entries.findIndex((e) => e.id === posted.sessionEntryId);
  const upTo = atIndex >= 0 ? entries.slice(0, atIndex + 1) : entries;
  const lastAnswer = [...entries].reverse().find((e) => e.role === 'assistant');
  const isLatest = posted.sessionEntryId !== null && lastAnswer?.id === posted.sessionEntryId;

  if ((opts.allowFork ?? true) && isLatest && capabilitiesOf(agent).fork && origin.agentSessionId && origin.agentSessionAgent === agent) {
    return { mode: 'fork', from: conv.seededFrom, sessionId: origin.agentSessionId, originId: origin.id };
  }
  const { text, included } = boundedTranscript(upTo, posted.assistantText, SEED_CONTEXT_CHARS);
  return { mode: 'transcript', from: conv.seededFrom, context: text, included, cut: Math.max(0, upTo.length - included) };
}

/**
 * Renders transcript entries newest-first into at most `maxChars` characters (then restores
 * chronological order). When the origin message is not among the entries (e.g. a post whose
 * entry was pruned), its text is used alone.
 */
export function boundedTranscript(entries: SessionEntryRow[], originText: string, maxChars: number): { text: string; included: number } {
  const lines: string[] = [];
  let used = 0;
  let included = 0;
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    const who = e.role === 'user' ? (e.author ?? 'user') : e.role === 'assistant' ? 'assistant' : 'agentbridge';
    const line = `[${who}]: ${e.text}`;
    if (used + line.length > maxChars && included > 0) break;
    lines.push(line.length > maxChars ? `${line.slice(0, maxChars)}…` : line);
    used += Math.min(line.length, maxChars);
    included++;
  }
  if (included === 0) return { text: `[assistant]: ${originText.slice(0, maxChars)}`, included: 0 };
  return { text: lines.reverse().join('\n\n'), included };
}

/** The prompt of a transcript-seeded first turn. */
export function seededPrompt(plan: Extract<SeedPlan, { mode: 'transcript' }>, prompt: string): string {
  return [
    'This conversation continues from an earlier one. Here is what was said there, up to the message this thread started from:',
    '<earlier-conversation>',
    plan.context,
    '</earlier-conversation>',
    '',
    prompt,
  ].join('\n');
}

/** A short note for the user when older turns did not fit into the seed context. */
export function seedNotice(plan: SeedPlan): string | undefined {
  if (plan.mode !== 'transcript' || plan.cut === 0) return undefined;
  return `ℹ️ This thread starts from the earlier conversation; its ${plan.cut} oldest ${plan.cut === 1 ? 'entry was' : 'entries were'} left out to fit.`;
}

/** Describes the applied seed, for the transcript (visible in `agentbridge sessions show`). */
export function seedRecord(plan: SeedPlan): string {
  return plan.mode === 'fork'
    ? `Thread seeded from ${plan.from}: forked agent session ${plan.sessionId}.`
    : `Thread seeded from ${plan.from}: ${plan.included} earlier ${plan.included === 1 ? 'entry' : 'entries'} given as context${plan.cut ? `, ${plan.cut} older left out` : ''}.`;
}

/**
 * The prompt of a turn whose agent session could not be resumed: the conversation's own
 * transcript (before this turn, bounded to {@link SEED_CONTEXT_CHARS}) as context, then `prompt`.
 */
export function continuationPrompt(earlier: SessionEntryRow[], prompt: string): string {
  const relevant = earlier.filter((e) => e.role !== 'system');
  if (relevant.length === 0) return prompt;
  const { text } = boundedTranscript(relevant, '', SEED_CONTEXT_CHARS);
  return [
    'This conversation continues an earlier one whose session could not be restored. Here is what was said so far:',
    '<earlier-conversation>',
    text,
    '</earlier-conversation>',
    '',
    prompt,
  ].join('\n');
}

/** Told to the user when a turn continued from the transcript instead of the agent's own session. */
export const LOST_SESSION_NOTICE = "ℹ️ The agent's earlier session could not be restored, so it continued from this conversation's transcript.";
