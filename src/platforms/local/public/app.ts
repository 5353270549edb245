/**
 * The local chat page's client (entry module of index.html; compiled to `app.js` by this
 * folder's tsconfig.json, served by `../api.ts`).
 *
 * Layout: channels (left) · the channel's threads, newest first (middle) · the open thread and
 * the composer (right); below 800 px wide one column at a time. Location is kept in the URL
 * hash: `#/<channel>` (channel; new-thread composer on wide screens), `#/<channel>/new`
 * (new-thread composer), `#/<channel>/<threadId>` (a thread).
 *
 * Data: the JSON routes of `../api.ts` (`/api/local/channels`, `threads`, `messages`, `me`) and
 * its Server-Sent Events (`/api/local/events`: `message.created`, `message.updated`,
 * `thread.status`); after a reconnect the open channel and thread are loaded again.
 *
 * Cards: a bot message with `actions` shows its buttons (`./cards.ts`); a click POSTs
 * `/api/local/actions` (with `user` only when not logged in, like a message) and the card's new
 * state arrives as a `message.updated` event.
 *
 * Safety: user and bot text is only ever placed with `textContent`/text nodes (`./markdown.ts`);
 * the CSP allows only this folder's script and style and same-origin fetches.
 *
 * Login (`../auth.ts`): the page asks `GET /api/local/me` first; a logged-in user's name is shown
 * with a "Log out" button, and any 401 shows how to log in (`agentbridge users link NAME`) instead
 * of failing silently. A logged-in page sends no `user` (the server knows who writes).
 *
 * Test hooks: `data-testid` = composer, send, message (with `data-bot`), thread-item,
 * thread-status, channel-input, connection, account, me, logout, login-notice (cards: see `./cards.ts`).
 */
import { renderCard, type ApiAction, type CardMessage } from './cards.js';
import { $, el } from './dom.js';
import { renderText } from './markdown.js';

/** A message as `../api.ts` sends it (`LocalApiMessage`); times in ms since the epoch. */
interface ApiMessage {
  id: string;
  channel: string;
  thread: string;
  user: string;
  text: string;
  bot: boolean;
  ts: number;
  updatedAt: number;
  /** A card's buttons; omitted when the message has none. */
  actions?: ApiAction[];
}

/** A thread summary as `../api.ts` sends it (`LocalApiThread`). */
interface ApiThread {
  thread: string;
  user: string;
  /** The first message's text: the thread's title. */
  text: string;
  ts: number;
  replies: number;
  lastTs: number;
  status: string | null;
}

/** `GET /api/local/me`. */
interface ApiMe {
  user: string | null;
  admin: boolean;
  loginRequired: boolean;
}

/** The `thread.status` event. */
interface ApiThreadStatus {
  channel: string;
  thread: string;
  status: string | null;
}

type View = 'list' | 'conversation';

/** Channel names the server accepts (`../ids.ts` CHANNEL_PATTERN). */
const CHANNEL = /^[a-z0-9][a-z0-9_-]{0,79}$/;

const state = {
  channel: 'general',
  thread: null as string | null,
  view: 'list' as View,
  channels: ['general'],
  threads: [] as ApiThread[],
  messages: new Map<string, ApiMessage>(),
  /** Bot status by {@link statusKey}. */
  statuses: new Map<string, string>(),
  botName: 'agentbridge',
  /** Display name sent by an anonymous page. */
  user: 'you',
  /** The logged-in user, or null. */
  me: null as string | null,
  sending: false,
};
let loadToken = 0;
let threadsToken = 0;
let threadsTimer: ReturnType<typeof setTimeout> | null = null;
let everConnected = false;

/** Fetches a JSON route; a 401 shows the login notice. @throws Error with the server's `{error}` or "HTTP <status>". */
function api<T>(path: string, opts?: RequestInit): Promise<T> {
  return fetch(path, opts).then((r) =>
    r
      .json()
      .catch(() => ({}))
      .then((body: unknown) => {
        if (r.status === 401) showLogin();
        if (!r.ok) {
          const error = typeof body === 'object' && body !== null && 'error' in body ? body.error : undefined;
          throw new Error(r.status === 401 ? 'not logged in' : error ? String(error) : 'HTTP ' + r.status);
        }
        return body as T;
      }),
  );
}

/** The message of a rejection. */
const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/* ---- login ---- */
function showLogin(): void {
  $('login-notice').hidden = false;
  $('account').hidden = true;
  $('connection').textContent = 'not logged in';
}
function showAccount(me: ApiMe): void {
  state.me = me.user;
  if (!me.user) return;
  $('account-name').textContent = me.user + (me.admin ? ' (admin)' : '');
  $('account').hidden = false;
}
function logout(): void {
  fetch('/logout', { method: 'POST' }).then(
    () => location.reload(),
    () => location.reload(),
  );
}
function fmtTime(ts: number): string {
  const d = new Date(ts);
  const now = new Date();
  const t = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toDateString() === now.toDateString() ? t : d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + t;
}
function statusKey(channel: string, thread: string): string {
  return channel + '\n' + thread;
}

/* ---- channels ---- */
function addChannel(name: string): boolean {
  if (state.channels.indexOf(name) >= 0) return false;
  state.channels.push(name);
  state.channels.sort((a, b) => (a === 'general' ? -1 : b === 'general' ? 1 : a < b ? -1 : a > b ? 1 : 0));
  return true;
}
function renderChannels(): void {
  const list = $('channel-list');
  list.textContent = '';
  state.channels.forEach((name) => {
    const li = el('li');
    const a = el('a', null, '# ' + name);
    a.href = '#/' + name;
    a.setAttribute('data-testid', 'channel-item');
    if (name === state.channel) a.setAttribute('aria-current', 'page');
    li.appendChild(a);
    list.appendChild(li);
  });
}

/* ---- threads ---- */
function renderThreads(): void {
  const list = $('thread-list');
  list.textContent = '';
  $('threads-empty').hidden = state.threads.length > 0;
  state.threads.forEach((t) => {
    const li = el('li');
    const a = el('a');
    a.href = '#/' + state.channel + '/' + encodeURIComponent(t.thread);
    a.setAttribute('data-testid', 'thread-item');
    a.setAttribute('data-thread', t.thread);
    if (t.thread === state.thread) a.setAttribute('aria-current', 'true');
    a.appendChild(el('span', 'thread-title', t.text.split('\n')[0] || '(empty)'));
    const meta = el('span', 'thread-meta', t.user + ' · ' + fmtTime(t.lastTs) + ' · ' + t.replies + (t.replies === 1 ? ' reply' : ' replies'));
    const st = state.statuses.get(statusKey(state.channel, t.thread));
    if (st) meta.appendChild(el('span', 'badge', 'working'));
    a.appendChild(meta);
    li.appendChild(a);
    list.appendChild(li);
  });
}
function loadThreads(): Promise<void> {
  const token = ++threadsToken;
  const channel = state.channel;
  return api<{ threads: ApiThread[] }>('/api/local/threads?channel=' + encodeURIComponent(channel))
    .then((body) => {
      if (token !== threadsToken || channel !== state.channel) return;
      state.threads = body.threads;
      body.threads.forEach((t) => {
        const k = statusKey(channel, t.thread);
        if (t.status) state.statuses.set(k, t.status);
        else state.statuses.delete(k);
      });
      renderThreads();
      renderStatus();
    })
    .catch((e: unknown) => showError('Could not load threads: ' + messageOf(e)));
}
function scheduleThreads(): void {
  if (threadsTimer) return;
  threadsTimer = setTimeout(() => {
    threadsTimer = null;
    void loadThreads();
  }, 120);
}

/* ---- messages ---- */
/** The rendered `<li>` of each message of the open thread, by message id. */
let nodes = new Map<string, HTMLLIElement>();
function nearBottom(list: HTMLElement): boolean {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}
function renderMessage(msg: ApiMessage): void {
  const list = $('messages');
  const stick = nearBottom(list);
  let li = nodes.get(msg.id);
  if (!li) {
    li = el('li', 'msg');
    li.setAttribute('data-testid', 'message');
    li.setAttribute('data-id', msg.id);
    const meta = el('div', 'msg-meta');
    meta.appendChild(el('span', 'msg-author'));
    meta.appendChild(el('time'));
    li.appendChild(meta);
    li.appendChild(el('div', 'msg-body'));
    // Ids sort by time: insert before the first later message.
    let before: HTMLLIElement | null = null;
    nodes.forEach((node, id) => {
      if (id > msg.id && (!before || id < (before.getAttribute('data-id') ?? ''))) before = node;
    });
    list.insertBefore(li, before);
    nodes.set(msg.id, li);
  }
  li.setAttribute('data-bot', msg.bot ? 'true' : 'false');
  const author = li.querySelector<HTMLElement>('.msg-author');
  if (author) author.textContent = msg.user;
  const t = li.querySelector('time');
  if (t) {
    t.textContent = fmtTime(msg.ts);
    t.dateTime = new Date(msg.ts).toISOString();
    t.title = new Date(msg.ts).toLocaleString();
  }
  const body = li.querySelector<HTMLElement>('.msg-body');
  if (body) renderText(body, msg.text);
  if (msg.bot) renderCard(li, msg, sendClick);
  if (stick) list.scrollTop = list.scrollHeight;
}
function upsert(msg: ApiMessage): void {
  if (msg.channel !== state.channel || msg.thread !== state.thread) return;
  const old = state.messages.get(msg.id);
  if (old && old.updatedAt > msg.updatedAt) return;
  state.messages.set(msg.id, msg);
  renderMessage(msg);
}
function clearMessages(): void {
  state.messages = new Map();
  nodes = new Map();
  $('messages').textContent = '';
}
function loadMessages(): Promise<void> {
  if (!state.thread) return Promise.resolve();
  const token = ++loadToken;
  const channel = state.channel;
  const thread = state.thread;
  return api<{ messages: ApiMessage[] }>('/api/local/messages?channel=' + encodeURIComponent(channel) + '&thread=' + encodeURIComponent(thread))
    .then((body) => {
      if (token !== loadToken) return;
      body.messages.forEach(upsert);
      const list = $('messages');
      list.scrollTop = list.scrollHeight;
    })
    .catch((e: unknown) => {
      if (token === loadToken) showError('Could not load the thread: ' + messageOf(e));
    });
}
function renderStatus(): void {
  const box = $('status');
  const st = state.thread ? state.statuses.get(statusKey(state.channel, state.thread)) : undefined;
  box.textContent = '';
  if (!st) return;
  box.appendChild(el('span', 'spinner'));
  const generic = /^(working|thinking|typing)?[\s.…]*$/i.test(st);
  box.appendChild(el('span', null, st.indexOf(state.botName) === 0 ? st : state.botName + ' is working…' + (generic ? '' : ' — ' + st)));
}

/* ---- navigation ---- */
function parseHash(): { channel: string; thread: string | null; view: View } {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  let channel: string;
  let thread: string | null = null;
  let view: View = 'list';
  try {
    channel = decodeURIComponent(parts[0] || '');
    thread = parts[1] ? decodeURIComponent(parts[1]) : null;
  } catch {
    channel = '';
  }
  if (!CHANNEL.test(channel)) return { channel: 'general', thread: null, view: 'list' };
  if (thread === 'new') {
    thread = null;
    view = 'conversation';
  } else if (thread) view = 'conversation';
  return { channel, thread, view };
}
/** The first line of the open thread's title, when the thread list has it. */
function openThreadTitle(): string | undefined {
  const t = state.threads.find((x) => x.thread === state.thread);
  return t ? t.text.split('\n')[0] : undefined;
}
function applyLocation(): void {
  const loc = parseHash();
  const channelChanged = loc.channel !== state.channel;
  const threadChanged = loc.thread !== state.thread;
  state.channel = loc.channel;
  state.thread = loc.thread;
  state.view = loc.view;
  document.body.setAttribute('data-view', state.view);
  addChannel(state.channel);
  renderChannels();
  document.title = '#' + state.channel + ' — ' + state.botName;
  $('threads-heading').textContent = '# ' + state.channel;
  $('new-thread', HTMLAnchorElement).href = '#/' + state.channel + '/new';
  $('back', HTMLAnchorElement).href = '#/' + state.channel;
  let title = state.thread ? 'Thread' : 'New thread in #' + state.channel;
  if (state.thread) title = openThreadTitle() ?? title;
  $('conversation-heading').textContent = title;
  $('conversation-empty').hidden = !!state.thread;
  $('composer-label').textContent = state.thread ? 'Reply in this thread' : 'Start a new thread in #' + state.channel;
  $('composer', HTMLTextAreaElement).placeholder = state.thread ? 'Reply…' : 'Message #' + state.channel + ' to start a thread…';
  showError('');
  if (channelChanged || threadChanged) {
    clearMessages();
    void loadMessages();
  }
  if (channelChanged) {
    state.threads = [];
    renderThreads();
  }
  void loadThreads().then(() => {
    if (!state.thread) return;
    const title = openThreadTitle();
    if (title !== undefined) $('conversation-heading').textContent = title;
  });
  renderThreads();
  renderStatus();
  if (state.view === 'conversation' && window.matchMedia('(max-width: 800px)').matches) $('composer').focus();
}
function go(channel: string, thread: string | null): void {
  const h = '#/' + channel + (thread ? '/' + encodeURIComponent(thread) : '');
  if (location.hash === h) applyLocation();
  else location.hash = h;
}

/* ---- sending ---- */
function showError(text: string): void {
  $('composer-error').textContent = text;
}
function send(): void {
  const composer = $('composer', HTMLTextAreaElement);
  const sendButton = $('send', HTMLButtonElement);
  const text = composer.value;
  if (!text.trim() || state.sending) return;
  const channel = state.channel;
  const thread = state.thread;
  const body: { channel: string; text: string; user?: string; thread?: string } = { channel, text };
  if (!state.me) body.user = state.user; // logged in: the server knows who writes
  if (thread) body.thread = thread;
  state.sending = true;
  sendButton.disabled = true;
  showError('');
  api<{ message: string; thread: string }>('/api/local/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
    .then((res) => {
      if (composer.value === text) composer.value = '';
      if (!thread && channel === state.channel) go(channel, res.thread);
    })
    .catch((e: unknown) => showError('Not sent: ' + messageOf(e)))
    .then(() => {
      state.sending = false;
      sendButton.disabled = false;
      composer.focus();
    });
}

/** Sends a click on a card button; rejects with the server's error text (403, 409, 404, …). */
function sendClick(msg: CardMessage, action: ApiAction): Promise<unknown> {
  const body: { channel: string; thread: string; message: string; action: string; user?: string } = {
    channel: msg.channel,
    thread: msg.thread,
    message: msg.id,
    action: action.id,
  };
  if (!state.me) body.user = state.user; // logged in: the server knows who clicks
  return api<{ ok: boolean }>('/api/local/actions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/* ---- live updates ---- */
/** Parses an event's JSON data; undefined when it is not JSON. */
function eventData<T>(ev: Event): T | undefined {
  try {
    return JSON.parse((ev as MessageEvent<string>).data) as T;
  } catch {
    return undefined;
  }
}
function connect(): void {
  const es = new EventSource('/api/local/events');
  const conn = $('connection');
  es.onopen = () => {
    conn.textContent = 'live';
    conn.setAttribute('data-state', 'up');
    if (everConnected) {
      void loadThreads();
      void loadMessages();
    }
    everConnected = true;
  };
  es.onerror = () => {
    conn.textContent = 'reconnecting…';
    conn.setAttribute('data-state', 'down');
  };
  const onMessage = (ev: Event) => {
    const msg = eventData<ApiMessage>(ev);
    if (!msg) return;
    if (addChannel(msg.channel)) renderChannels();
    if (msg.channel === state.channel) scheduleThreads();
    upsert(msg);
  };
  es.addEventListener('message.created', onMessage);
  es.addEventListener('message.updated', onMessage);
  es.addEventListener('thread.status', (ev) => {
    const s = eventData<ApiThreadStatus>(ev);
    if (!s) return;
    const k = statusKey(s.channel, s.thread);
    if (s.status) state.statuses.set(k, s.status);
    else state.statuses.delete(k);
    if (s.channel === state.channel) {
      renderThreads();
      renderStatus();
    }
  });
}

/* ---- wiring ---- */
$('logout').addEventListener('click', logout);
$('composer').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    send();
  }
});
$('composer-form').addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});
$('channel-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('channel-input', HTMLInputElement);
  const name = input.value.trim().toLowerCase().replace(/^#/, '');
  if (!CHANNEL.test(name)) {
    $('channel-error').textContent = 'Use a-z, 0-9, "_" or "-" (up to 80).';
    return;
  }
  $('channel-error').textContent = '';
  input.value = '';
  go(name, null);
});
window.addEventListener('hashchange', applyLocation);
try {
  state.user = localStorage.getItem('agentbridge.user') || 'you';
} catch {
  /* storage unavailable */
}
api<{ channels: string[]; botName?: string }>('/api/local/channels')
  .then((body) => {
    state.botName = body.botName || state.botName;
    body.channels.forEach(addChannel);
    renderChannels();
  })
  .catch(() => {
    /* shown on first send */
  });
if (!location.hash) history.replaceState(null, '', '#/general');
api<ApiMe>('/api/local/me')
  .then((me) => {
    showAccount(me);
    state.channel = '';
    applyLocation();
    connect();
  })
  .catch(() => {
    /* 401: the login notice is shown */
  });
if (!window.matchMedia('(max-width: 800px)').matches) $('composer').focus();
