/** A Server-Sent Events reader for tests of the local chat's event stream (`/api/local/events`). */
import { expect } from 'vitest';

export interface SseEvent {
  event: string;
  data: unknown;
}

/** Opens the event stream and collects parsed events (and comment lines) until `close()`. */
export async function openEvents(url: string, headers: Record<string, string> = {}): Promise<{ events: SseEvent[]; comments: string[]; close(): void }> {
  const ctrl = new AbortController();
  const res = await fetch(url, { signal: ctrl.signal, headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  void (async () => {
    const reader = res.body!.getReader();
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        let data = '';
        for (const line of frame.split('\n')) {
          if (line.startsWith(':')) comments.push(line.slice(1).trim());
          else if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data) events.push({ event, data: JSON.parse(data) });
      }
    }
  })();
  return { events, comments, close: () => ctrl.abort() };
}
