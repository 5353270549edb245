/**
 * {@link TurnToolAccess} for the core: each turn gets the MCP endpoint URL and a fresh token
 * naming its conversation and a new turn id (see ./tokens.ts). `revoke()` — called by the turn
 * when it ends — makes the token useless at once; `ttlMs` bounds it otherwise.
 */
import { randomUUID } from 'node:crypto';
import type { TurnToolAccess } from '../conversation/turn.js';
import type { ReplyTarget } from '../core/messages.js';
import type { ToolTokens } from './tokens.js';

export interface ToolAccessOptions {
  tokens: Pick<ToolTokens, 'issue' | 'revoke'>;
  /**
   * The MCP endpoint URL as agent processes reach it, e.g. `http://127.0.0.1:8080/mcp`; a function
   * when it is only known after the HTTP server listens (port 0). Called on every grant.
   */
  url: string | (() => string);
}

export class ToolAccess implements TurnToolAccess {
  constructor(private readonly opts: ToolAccessOptions) {}

  /**
   * @param turn.ttlMs token lifetime in ms (the turn's timeout plus a margin).
   * @returns `{url, token, revoke}`; `revoke` is idempotent.
   * @throws Error when the URL is not known yet (the HTTP server is not listening).
   */
  grant(turn: { conversationId: string; replyTarget: ReplyTarget; ttlMs: number }): { url: string; token: string; revoke(): void } {
    const url = typeof this.opts.url === 'function' ? this.opts.url() : this.opts.url;
    if (!url) throw new Error('the MCP endpoint URL is not known yet');
    const turnId = randomUUID();
    const token = this.opts.tokens.issue({ conversationId: turn.conversationId, turnId, target: turn.replyTarget, ttlMs: turn.ttlMs });
    return { url, token, revoke: () => this.opts.tokens.revoke(turnId) };
  }
}
