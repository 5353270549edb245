/**
 * The line of conversations waiting for a turn slot, in the order the shared slot queue (p-queue,
 * FIFO) will start them, so each can be told how many are ahead of it. Pure bookkeeping: no I/O,
 * no timers; listeners are called synchronously.
 */

/** Told the number of conversations ahead (0 = next) whenever it changes. */
export type PositionListener = (ahead: number) => void;

export class WaitLine {
  private readonly line: { id: string; listener: PositionListener }[] = [];

  /**
   * Puts `id` at the end of the line; `listener` is called at once with its position and again
   * whenever it changes, until {@link leave}. Joining twice moves nothing (the first place counts).
   */
  join(id: string, listener: PositionListener): void {
    if (this.line.some((w) => w.id === id)) return;
    this.line.push({ id, listener });
    listener(this.line.length - 1);
  }

  /** Takes `id` out of the line (its turn started, or it was stopped); everyone behind moves up. */
  leave(id: string): void {
    const i = this.line.findIndex((w) => w.id === id);
    if (i < 0) return;
    this.line.splice(i, 1);
    for (let j = i; j < this.line.length; j++) this.line[j]!.listener(j);
  }

  /** Conversations waiting. */
  get size(): number {
    return this.line.length;
  }
}
