/**
 * A minimal JSON-RPC 2.0 peer over newline-delimited JSON — the framing `codex app-server`
 * speaks on stdio (verified with @openai/codex 0.169.0: one JSON object per line; the server's
 * messages carry no `"jsonrpc"` member, so it is not required here; the server sends requests of
 * its own, with ids counting from 0, that the client answers by id).
 *
 * Transport-free: {@link JsonRpcPeer.handleLine} takes each received line, `write` sends one
 * message. Every received line is validated with zod; a malformed one is reported through
 * `onMalformed` and dropped (never thrown). No dependency has a JSON-RPC peer that works over
 * plain lines (the MCP SDK's is tied to its own transports), hence this small one.
 */
import { z } from 'zod';

/** A JSON-RPC id (codex uses numbers for its own requests). */
export type RpcId = string | number;

/** An error response to one of our requests (`code`, `message` as sent by the peer). */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** Raised for requests still pending when the peer closes (the process ended). */
export class RpcClosedError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RpcClosedError';
  }
}

/** JSON-RPC error codes (JSON-RPC 2.0 §5.1). */
export const RPC_METHOD_NOT_FOUND = -32601;

const id = z.union([z.string(), z.number()]);
const response = z.object({ id, result: z.unknown() }).refine((m) => 'result' in m);
const errorResponse = z.object({ id: id.nullable(), error: z.object({ code: z.number(), message: z.string(), data: z.unknown().optional() }) });
const request = z.object({ id, method: z.string(), params: z.unknown().optional() });
const notification = z.object({ method: z.string(), params: z.unknown().optional() });

export interface JsonRpcPeerHandlers {
  /** A notification from the peer. */
  onNotification(method: string, params: unknown): void;
  /** A request from the peer; answer it with {@link JsonRpcPeer.respond} or {@link JsonRpcPeer.respondError}. */
  onRequest(id: RpcId, method: string, params: unknown): void;
  /** A line that is not a JSON-RPC message (not JSON, or no known shape), or a response to no pending request. */
  onMalformed?(line: string, why: string): void;
}

interface Pending {
  resolve(result: unknown): void;
  reject(err: Error): void;
}

/** One side of a JSON-RPC connection. Methods never throw. */
export class JsonRpcPeer {
  private nextId = 1;
  private readonly pending = new Map<RpcId, Pending>();
  private closedReason?: string;

  /**
   * @param write sends one message (serialised by the caller as one line); false = could not be sent
   * @param handlers what to do with messages from the peer
   */
  constructor(
    private readonly write: (message: object) => boolean,
    private readonly handlers: JsonRpcPeerHandlers,
  ) {}

  /**
   * Sends a request; resolves with its `result`.
   * Rejects with {@link RpcError} for an error response, {@link RpcClosedError} when the peer is
   * closed (before or while waiting) or the message could not be written.
   */
  request(method: string, params: unknown): Promise<unknown> {
    if (this.closedReason !== undefined) return Promise.reject(new RpcClosedError(this.closedReason));
    const reqId = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(reqId, { resolve, reject });
      if (!this.write({ jsonrpc: '2.0', id: reqId, method, params })) {
        this.pending.delete(reqId);
        reject(new RpcClosedError('the connection is closed'));
      }
    });
  }

  /** Sends a notification (no answer). */
  notify(method: string, params?: unknown): void {
    if (this.closedReason === undefined) this.write({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }) });
  }

  /** Answers a request of the peer. */
  respond(reqId: RpcId, result: unknown): void {
    if (this.closedReason === undefined) this.write({ jsonrpc: '2.0', id: reqId, result });
  }

  /** Answers a request of the peer with an error. */
  respondError(reqId: RpcId, code: number, message: string): void {
    if (this.closedReason === undefined) this.write({ jsonrpc: '2.0', id: reqId, error: { code, message } });
  }

  /** Feeds one received line. */
  handleLine(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.handlers.onMalformed?.(line, 'not JSON');
      return;
    }
    const req = request.safeParse(value);
    if (req.success) {
      this.handlers.onRequest(req.data.id, req.data.method, req.data.params);
      return;
    }
    const note = notification.safeParse(value);
    if (note.success) {
      this.handlers.onNotification(note.data.method, note.data.params);
      return;
    }
    const err = errorResponse.safeParse(value);
    if (err.success && err.data.id !== null) {
      const { code, message, data } = err.data.error;
      this.settle(err.data.id, line, (p) => p.reject(new RpcError(code, message, data)));
      return;
    }
    const ok = response.safeParse(value);
    if (ok.success) {
      this.settle(ok.data.id, line, (p) => p.resolve(ok.data.result));
      return;
    }
    this.handlers.onMalformed?.(line, 'not a JSON-RPC message');
  }

  /** Rejects every pending request with {@link RpcClosedError}; later calls fail at once. Idempotent. */
  close(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    for (const p of this.pending.values()) p.reject(new RpcClosedError(reason));
    this.pending.clear();
  }

  private settle(reqId: RpcId, line: string, f: (p: Pending) => void): void {
    const p = this.pending.get(reqId);
    if (!p) {
      this.handlers.onMalformed?.(line, `a response to no pending request (id ${String(reqId)})`);
      return;
    }
    this.pending.delete(reqId);
    f(p);
  }
}
