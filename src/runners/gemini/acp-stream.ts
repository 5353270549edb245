/**
 * The `@agentclientprotocol/sdk` transport over a {@link LiveProcess}: the SDK's `Stream` of
 * JSON-RPC messages, fed with the process's stdout lines and writing to its stdin as JSON lines
 * (ACP over stdio is newline-delimited JSON-RPC 2.0, one message a line). The process is spawned
 * and reaped by LiveProcess (own process group), so the SDK never touches the child itself.
 */
import type { AnyMessage, Stream } from '@agentclientprotocol/sdk';

/** A {@link Stream} plus the two ends the process side drives. */
export interface LineStream {
  stream: Stream;
  /**
   * Feeds one stdout line. Lines that are not a JSON-RPC 2.0 object (startup noise, a torn line)
   * are dropped and counted in {@link dropped}; the SDK validates the rest against the ACP schemas.
   */
  push(line: string): void;
  /** Ends the incoming side (the process exited): the SDK connection closes and rejects pending requests. */
  end(): void;
  /** How many lines {@link push} dropped. */
  readonly dropped: number;
}

/**
 * Builds the stream.
 * @param write sends one message (serialised as one JSON line); returns false when stdin is closed
 *   (the message is then dropped; the exit ends the connection).
 */
export function lineStream(write: (message: AnyMessage) => boolean): LineStream {
  let controller!: ReadableStreamDefaultController<AnyMessage>;
  let ended = false;
  let dropped = 0;
  const readable = new ReadableStream<AnyMessage>({
    start: (c) => {
      controller = c;
    },
  });
  const writable = new WritableStream<AnyMessage>({
    write: (message) => {
      write(message);
    },
  });
  return {
    stream: { readable, writable },
    push(line) {
      if (ended) return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        dropped++;
        return;
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value) || (value as { jsonrpc?: unknown }).jsonrpc !== '2.0') {
        dropped++;
        return;
      }
      controller.enqueue(value as AnyMessage);
    },
    end() {
      if (ended) return;
      ended = true;
      try {
        controller.close();
      } catch {
        /* already closed */
      }
    },
    get dropped() {
      return dropped;
    },
  };
}
