/**
 * In-memory {@link LocalMessagesRepo} for tests of the local chat (same contract as the
 * SQLite repository in src/store/, every method resolving a Promise): ids unique, lists oldest
 * first, threads newest activity first. `rows` stays synchronous for assertions.
 */
import type { CardAction } from '../../src/core/interactions.js';
import type { LocalMessageRow, LocalMessagesRepo, LocalReaction, LocalThreadSummary } from '../../src/store/types.js';

/** A copy of `row` with its own `actions` and `files` arrays, without the keys when there are none. */
function copy(row: LocalMessageRow): LocalMessageRow {
  const { actions, files, ...rest } = row;
  const out: LocalMessageRow = actions && actions.length > 0 ? { ...rest, actions: actions.map((a) => ({ ...a })) } : rest;
  if (files && files.length > 0) out.files = files.map((f) => ({ ...f }));
  return out;
}

export class MemoryLocalMessages implements LocalMessagesRepo {
  /** Rows in insertion order (exposed for assertions). */
  readonly rows = new Map<string, LocalMessageRow>();

  async insert(row: Omit<LocalMessageRow, 'updatedAt'>): Promise<LocalMessageRow> {
    if (this.rows.has(row.id)) throw new Error(`duplicate local message id ${row.id}`);
    const stored = copy({ ...row, updatedAt: row.ts });
    this.rows.set(row.id, stored);
    return copy(stored);
  }

  async update(id: string, text: string, actions?: CardAction[]): Promise<LocalMessageRow | undefined> {
    const old = this.rows.get(id);
    if (!old) return undefined;
    const row = copy({ ...old, text, updatedAt: Math.max(Date.now(), old.updatedAt + 1), ...(actions !== undefined ? { actions } : {}) });
    this.rows.set(id, row);
    return copy(row);
  }

  async setReaction(id: string, reaction: LocalReaction): Promise<LocalMessageRow | undefined> {
    const old = this.rows.get(id);
    if (!old) return undefined;
    const row = copy({ ...old, reaction, updatedAt: Math.max(Date.now(), old.updatedAt + 1) });
    this.rows.set(id, row);
    return copy(row);
  }

  async get(id: string): Promise<LocalMessageRow | undefined> {
    const row = this.rows.get(id);
    return row ? copy(row) : undefined;
  }

  async list(channel: string, thread: string): Promise<LocalMessageRow[]> {
    return this.listNow(channel, thread);
  }

  async threads(channel: string, limit = 100): Promise<LocalThreadSummary[]> {
    const summaries: LocalThreadSummary[] = [];
    for (const root of this.rows.values()) {
      if (root.channel !== channel || root.thread !== root.id) continue;
      const msgs = this.listNow(channel, root.id);
      summaries.push({
        thread: root.id,
        user: root.user,
        text: root.text.slice(0, 200),
        ts: root.ts,
        replies: msgs.length - 1,
        lastTs: Math.max(...msgs.map((m) => m.ts)),
      });
    }
    return summaries.sort((a, b) => b.lastTs - a.lastTs || (a.thread < b.thread ? 1 : -1)).slice(0, limit);
  }

  async channels(): Promise<string[]> {
    return [...new Set([...this.rows.values()].map((r) => r.channel))].sort();
  }

  /** Messages of one thread, oldest first (copies). */
  private listNow(channel: string, thread: string): LocalMessageRow[] {
    return [...this.rows.values()]
      .filter((r) => r.channel === channel && r.thread === thread)
      .sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map(copy);
  }
}
