/**
 * The calls of one open transaction of the store (sql/store.ts): its nested transactions
 * (savepoints) as a stack of {@link Frame}s, and a {@link FrameScheduler} that runs the
 * transaction's store calls one at a time, in the order they were made — each only when its frame
 * is the innermost open one. So a call made outside an open nested transaction (by a sibling of
 * its callback) waits until that nested transaction has ended instead of landing in its
 * savepoint, nested transactions started together run one after another, and the end of a frame
 * (queued when its callback settled) runs after every call made inside it.
 */

/** An open transaction (`parent` undefined) or one of its nested transactions. */
export class Frame {
  /** The transaction this frame belongs to (itself for the transaction). */
  readonly root: Frame;
  /** False once the frame has ended (or, for the transaction, is ending: no call runs any more). */
  open = true;

  constructor(
    readonly parent: Frame | undefined,
    /** Savepoint name; undefined for the transaction. */
    readonly savepoint: string | undefined,
  ) {
    this.root = parent ? parent.root : this;
  }
}

/** `frame`, or its innermost open ancestor when it has ended. */
export function openAncestor(frame: Frame): Frame {
  let f = frame;
  while (!f.open && f.parent) f = f.parent;
  return f;
}

/** A call waiting for its turn. */
interface Waiter {
  readonly level: Frame;
  readonly start: () => void;
}

/** The scheduler of one transaction (see the file comment). */
export class FrameScheduler {
  /** Open frames, the transaction first. */
  private readonly stack: Frame[];
  private readonly waiting: Waiter[] = [];
  private busy = false;

  constructor(readonly root: Frame) {
    this.stack = [root];
  }

  /**
   * Runs `op` when no other call of the transaction runs and `level` (or, once that has ended,
   * its innermost open ancestor) is the innermost open frame — oldest waiting call first — and
   * settles with its outcome. Once the transaction has ended every waiting call may run (to reject).
   */
  run<T>(level: Frame, op: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        let p: Promise<T>;
        try {
          p = op();
        } catch (err) {
          p = Promise.reject(err);
        }
        void p.then(resolve, reject).finally(() => {
          this.busy = false;
          this.pump();
        });
      };
      this.waiting.push({ level, start });
      this.pump();
    });
  }

  /** Makes `frame` the innermost open frame (call from inside an op). */
  push(frame: Frame): void {
    this.stack.push(frame);
  }

  /** Ends the innermost open frame (call from inside an op). */
  pop(): void {
    const frame = this.stack.pop();
    if (frame) frame.open = false;
  }

  /** The innermost open frame. */
  top(): Frame {
    return this.stack[this.stack.length - 1] ?? this.root;
  }

  private pump(): void {
    if (this.busy) return;
    const i = this.waiting.findIndex((w) => !w.level.root.open || openAncestor(w.level) === this.top());
    if (i < 0) return;
    const [w] = this.waiting.splice(i, 1);
    this.busy = true;
    w!.start();
  }
}
