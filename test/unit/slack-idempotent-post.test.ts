/** Slack idempotent posts (pure parts): which failures are ambiguous, matching a post by its metadata key, paging. */
import { webApi } from '@slack/bolt';
import { describe, expect, it } from 'vitest';
import { classifyPostFailure, findPostByKey, isPostWithKey, oldestTs, postMetadata, POST_EVENT_TYPE } from '../../src/platforms/slack/idempotent-post.js';

const self = { userId: 'U0BOT', botId: 'B0BOT' };

describe('classifyPostFailure', () => {
  it('429 → rate limited with Retry-After; 5xx, network errors and Slack internal errors → ambiguous; 4xx and other errors → definite', () => {
    expect(classifyPostFailure(new webApi.WebAPIRateLimitedError(7))).toEqual({ kind: 'rate_limited', retryAfterS: 7 });
    expect(classifyPostFailure(new webApi.WebAPIHTTPError(500, 'Internal Server Error', {}))).toEqual({ kind: 'ambiguous' });
    expect(classifyPostFailure(new webApi.WebAPIHTTPError(503, 'Service Unavailable', {}))).toEqual({ kind: 'ambiguous' });
    expect(classifyPostFailure(new webApi.WebAPIRequestError(new Error('ECONNRESET')))).toEqual({ kind: 'ambiguous' });
    expect(classifyPostFailure(new Error('The operation was aborted due to timeout'))).toEqual({ kind: 'ambiguous' });
    expect(classifyPostFailure(new webApi.WebAPIHTTPError(400, 'Bad Request', {}))).toEqual({ kind: 'definite' });
    expect(classifyPostFailure(new webApi.WebAPIHTTPError(404, 'Not Found', {}))).toEqual({ kind: 'definite' });
    const platform = (error: string) =>
      Object.assign(new Error(`An API error occurred: ${error}`), { code: webApi.ErrorCode.PlatformError, data: { ok: false, error } });
    expect(classifyPostFailure(platform('channel_not_found'))).toEqual({ kind: 'definite' });
    expect(classifyPostFailure(platform('msg_too_long'))).toEqual({ kind: 'definite' });
    expect(classifyPostFailure(platform('internal_error'))).toEqual({ kind: 'ambiguous' });
    expect(classifyPostFailure(platform('fatal_error'))).toEqual({ kind: 'ambiguous' });
  });
});

describe('finding a post by its key', () => {
  const mine = (ts: string, key: string) => ({ ts, bot_id: 'B0BOT', user: 'U0BOT', metadata: postMetadata(key) });

  it("matches only the bot's own message with agentbridge's event_type and the same key", () => {
    expect(postMetadata('ab-o1-x')).toEqual({ event_type: POST_EVENT_TYPE, event_payload: { key: 'ab-o1-x' } });
    expect(isPostWithKey(mine('1.1', 'ab-o1-x'), 'ab-o1-x', self)).toBe(true);
    expect(isPostWithKey(mine('1.1', 'ab-o1-x'), 'ab-o2-x', self)).toBe(false);
    expect(isPostWithKey({ ts: '1.1', user: 'U0ALICE', metadata: postMetadata('ab-o1-x') }, 'ab-o1-x', self)).toBe(false);
    expect(isPostWithKey({ ts: '1.1', bot_id: 'B0BOT', metadata: { event_type: 'other_app', event_payload: { key: 'ab-o1-x' } } }, 'ab-o1-x', self)).toBe(
      false,
    );
    expect(isPostWithKey({ ts: '1.1', bot_id: 'B0BOT' }, 'ab-o1-x', self)).toBe(false);
  });

  it('pages through the listing with the cursor, bounded', async () => {
    const pages: Record<string, { messages: ReturnType<typeof mine>[]; next?: string }> = {
      first: { messages: [mine('1.1', 'a')], next: 'c2' },
      c2: { messages: [mine('1.2', 'b')], next: 'c3' },
      c3: { messages: [mine('1.3', 'target')] },
    };
    const seen: Array<string | undefined> = [];
    const page = async (cursor: string | undefined) => {
      seen.push(cursor);
      const p = pages[cursor ?? 'first']!;
      return { messages: p.messages, response_metadata: { next_cursor: p.next ?? '' } };
    };
    expect(await findPostByKey({ key: 'target', self, page })).toBe('1.3');
    expect(seen).toEqual([undefined, 'c2', 'c3']);
    expect(await findPostByKey({ key: 'missing', self, page })).toBeUndefined();
    expect(await findPostByKey({ key: 'target', self, page, maxPages: 2 })).toBeUndefined();
  });

  it('oldest is the attempt time in Unix seconds minus a margin for clock skew', () => {
    expect(oldestTs(1_700_000_000_500)).toBe('1699999880');
    expect(oldestTs(1_700_000_000_500, 0)).toBe('1700000000');
  });
});
