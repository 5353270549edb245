import { describe, expect, it } from 'vitest';
import { ClaudeEventParser } from '../../src/runners/claude/events.js';

// Shapes as claude 2.1.197 printed them against a closed port and a server answering 529.
const retry = (fields: Record<string, unknown>) =>
  JSON.stringify({ type: 'system', subtype: 'api_retry', attempt: 5, max_retries: 10, retry_delay_ms: 2136.1, session_id: 's1', ...fields });

describe('claude api_retry → a warning that says why', () => {
  it('an HTTP error: its status and kind, and when the next try comes', () => {
    const events = new ClaudeEventParser().push(retry({ error_status: 529, error: 'overloaded' }));
    expect(events.find((e) => e.type === 'warning')).toEqual({
      type: 'warning',
      message: 'Retrying the model request (attempt 5/10): HTTP 529 overloaded; next try in 2 s',
    });
  });

  it('no HTTP answer ("unknown") is said in words, never as "unknown"', () => {
    const events = new ClaudeEventParser().push(retry({ error_status: null, error: 'unknown' }));
    const warning = events.find((e) => e.type === 'warning');
    expect(warning).toMatchObject({ message: expect.stringContaining('no answer from the model API (connection refused, reset or timed out)') });
    expect(JSON.stringify(warning)).not.toContain('unknown');
  });
});
