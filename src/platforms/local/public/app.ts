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
 * Messages: an avatar with the author's initials, the name and time, the user's message's mark
 * (`reaction`: 👀 received / queued or being worked on, ✅ answered, ❌ failed, ↪ taken by the
 * running turn; set by the core through `LocalAdapter.react`), and the text as Markdown
 * (`./markdown.ts`: sanitised HTML, code blocks with a language label and a copy button) — or, for
 * a running turn's progress message, its ticking elapsed time and steps (`./progress.ts`).
 * Thread titles are the first message as plain text (Markdown marks stripped).
 *
 * Safety: Markdown becomes HTML only through DOMPurify (TrustedHTML; the CSP's Trusted Types allow
 * DOMPurify's policy only); everything else is placed with `textContent`/text nodes. The CSP
 * allows only this server's scripts and styles and same-origin fetches.
 *
 * Login (`../auth.ts`): the page asks `GET /api/local/me` first; a logged-in user's name is shown
 * with a "Log out" button, and any 401 shows how to log in (`agentbridge users link NAME`) instead
 * of failing silently. A logged-in page sends no `user` (the server knows who writes) and has no
 * name field. Without a login the page asks for a display name once and keeps it (`./name.ts`).
 *
 * Files: the 📎 button, a paste of files or images into the composer, or a drop on the thread
 * upload files at once (`./attach.ts`); they show as removable chips until the message is sent
 * with their ids (`files`; the text may then be empty). A user's message shows its files, and a
 * bot message the file the agent sent, as links to `/api/local/files/<id>`, with the picture for
 * PNG/JPEG/GIF/WebP images (the types the server serves inline).
 *
 * Keyboard: Enter sends, Shift+Enter is a new line; the theme follows `prefers-color-scheme`.
 *
 * Test hooks: `data-testid` = composer, send, message (with `data-bot`), avatar, author, reaction
 * (with `data-state`), thread-item, thread-title, thread-status, channel-input, connection,
 * account, me, logout, change-name, login-notice, attach, file-input, file-link, file-image (files:
 * `./attach.ts`; cards: `./cards.ts`; code blocks:
 * `./markdown.ts`; progress: `./progress.ts`; name prompt: `./name.ts`).
 */
import { renderCard, type ApiAction, type CardMessage } from './cards.js';
import { Attachments, fmtSize, type UploadedFile } from './attach.js';
import { $, el } from './dom.js';
import { copyCode, plainText, renderMarkdown } from './markdown.js';
import { askName, storedName } from './name.js';
import { isProgressText, renderProgress, tickProgress } from './progress.js';

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
  /** The mark on a user's message; omitted when there is none. */
  reaction?: Reaction;
  /** The file a bot message carries (an agent's send_file), served at `/api/local/files/<message id>`. */
  file?: ApiFile;
  /** The files a user sent with the message, each served at `/api/local/files/<upload id>`. */
  files?: Array<ApiFile & { id: string }>;
}

/** A file on a message. */
interface ApiFile {
  name: string;
  size: number;
  type: string;
}

/** Image types the server serves inline (`src/platforms/local/files.ts` INLINE_IMAGE_TYPES): shown as pictures. */
const INLINE_IMAGES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** A mark the core sets on a user's message (`ReactionState`). */
type Reaction = 'working' | 'done' | 'failed' | 'steered';

/** How each mark shows: the emoji and what it means. */
const REACTIONS: Readonly<Record<Reaction, { mark: string; label: string }>> = {
  working: { mark: '👀', label: 'Received: queued or being worked on' },
  done: { mark: '✅', label: 'Answered' },
  failed: { mark: '❌', label: 'The turn failed' },
  steered: { mark: '↪️', label: 'Passed to the running turn' },
};

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
  /** Display name sent by an anonymous page (asked once, `./name.ts`); null until known. */
  user: null as string | null,
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
  const name = me.user ?? state.user;
  if (!name) return;
  $('account-label').textContent = me.user ? 'Logged in as' : 'Writing as';
  $('account-name').textContent = name + (me.user && me.admin ? ' (admin)' : '');
  $('logout').hidden = !me.user;
  $('change-name').hidden = !!me.user;
  $('account').hidden = false;
}
/** Asks for the display name (first visit, or "Change") and shows it. */
function chooseName(): Promise<string> {
  return askName(state.user).then((name) => {
    state.user = name;
    showAccount({ user: null, admin: false, loginRequired: false });
    $('composer').focus();
    return name;
  });
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
/** A thread's title: its first message as plain text. */
function threadTitle(text: string): string {
  return plainText(text) || '(empty)';
}
function renderThreads(): void {
  // The open thread's heading follows the list: its title may arrive after the thread was opened.
  const openTitle = state.thread ? openThreadTitle() : undefined;
  if (openTitle !== undefined) $('conversation-heading').textContent = openTitle;
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
    const title = el('span', 'thread-title', threadTitle(t.text));
    title.setAttribute('data-testid', 'thread-title');
    a.appendChild(title);
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
    const avatar = el('span', 'avatar', initials(msg.user));
    avatar.className = 'avatar avatar-' + (msg.bot ? 'bot' : String(hue(msg.user)));
    avatar.setAttribute('data-testid', 'avatar');
    avatar.setAttribute('aria-hidden', 'true');
    li.appendChild(avatar);
    const meta = el('div', 'msg-meta');
    const author = el('span', 'msg-author');
    author.setAttribute('data-testid', 'author');
    meta.appendChild(author);
    meta.appendChild(el('time'));
    const mark = el('span', 'msg-reaction');
    mark.setAttribute('data-testid', 'reaction');
    mark.hidden = true;
    meta.appendChild(mark);
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
  const mark = li.querySelector<HTMLElement>('.msg-reaction');
  if (mark) {
    const r = msg.reaction ? REACTIONS[msg.reaction] : undefined;
    mark.hidden = !r;
    mark.textContent = r ? r.mark : '';
    mark.title = r ? r.label : '';
    mark.setAttribute('aria-label', r ? r.label : '');
    if (msg.reaction) mark.setAttribute('data-state', msg.reaction);
    else mark.removeAttribute('data-state');
  }
  const body = li.querySelector<HTMLElement>('.msg-body');
  if (body) {
    const progress = msg.bot && isProgressText(msg.text);
    li.classList.toggle('msg-progress', progress);
    if (progress) renderProgress(body, msg.id, msg.text);
    else renderMarkdown(body, msg.text);
  }
  if ((msg.file || msg.files) && !li.querySelector('.msg-files')) {
    const box = el('div', 'msg-files');
    if (msg.file) box.appendChild(renderFile(msg.id, msg.file));
    (msg.files ?? []).forEach((f) => box.appendChild(renderFile(f.id, f)));
    li.appendChild(box);
  }
  if (msg.bot) renderCard(li, msg, sendClick);
  if (stick) list.scrollTop = list.scrollHeight;
}
/**
 * A file of a message: a download link (name and size), and the picture for an inline image type.
 * Built from DOM nodes with text content only (never HTML); the URL carries only the id (the
 * bot message's, or the upload's).
 */
function renderFile(id: string, file: ApiFile): HTMLElement {
  const box = el('div', 'msg-file');
  const url = '/api/local/files/' + encodeURIComponent(id);
  if (INLINE_IMAGES.has(file.type)) {
    const img = el('img', 'msg-file-image');
    img.setAttribute('data-testid', 'file-image');
    img.alt = file.name;
    img.src = url;
    box.appendChild(img);
  }
  const link = el('a', 'msg-file-link', '📎 ' + file.name);
  link.setAttribute('data-testid', 'file-link');
  link.href = url;
  link.download = file.name;
  box.appendChild(link);
  box.appendChild(el('span', 'msg-file-size', ' ' + fmtSize(file.size)));
  return box;
}
/** Up to two initials of a name ("Ada Lovelace" → "AL", "bob" → "B"). */
function initials(name: string): string {
  const words = name
    .trim()
    .split(/[\s._-]+/)
    .filter(Boolean);
  const letters = words.length > 1 ? [words[0]!, words[words.length - 1]!].map((w) => [...w][0] ?? '') : [[...(words[0] ?? '?')][0] ?? '?'];
  return letters.join('').toUpperCase();
}
/** One of 8 avatar colours, by name. */
function hue(name: string): number {
  let h = 0;
  for (const c of name) h = (h * 31 + (c.codePointAt(0) ?? 0)) >>> 0;
  return h % 8;
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
  // "working…", "is working…", "is thinking… (Bash)": one "<bot> is working…", then what is left.
  const rest = st.replace(/^(is\s+)?(working|thinking|typing)?[\s.…]*/i, '').replace(/^[—–-]\s*/, '');
  box.appendChild(el('span', null, st.indexOf(state.botName) === 0 ? st : state.botName + ' is working…' + (rest ? ' — ' + rest : '')));
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
  return t ? threadTitle(t.text) : undefined;
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
  void loadThreads();
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
/** Uploads one file (`POST /api/local/files`); rejects with the server's error (e.g. the 413's). */
function uploadFile(file: File): Promise<UploadedFile> {
  const form = new FormData();
  form.append('file', file, file.name);
  return api<{ file: UploadedFile }>('/api/local/files', { method: 'POST', body: form }).then((body) => body.file);
}
const attachments = new Attachments({ list: $('attachments'), upload: uploadFile, showError });
function send(): void {
  const composer = $('composer', HTMLTextAreaElement);
  const sendButton = $('send', HTMLButtonElement);
  const text = composer.value;
  if ((!text.trim() && attachments.count === 0) || state.sending) return;
  if (!state.me && !state.user) {
    void chooseName();
    return;
  }
  const channel = state.channel;
  const thread = state.thread;
  const body: { channel: string; text: string; user?: string; thread?: string; files?: string[] } = { channel, text };
  if (!state.me && state.user) body.user = state.user; // logged in: the server knows who writes
  if (thread) body.thread = thread;
  state.sending = true;
  sendButton.disabled = true;
  showError('');
  // Uploads still running are waited for; a failed one is gone (its error shown) by then.
  void attachments
    .ready()
    .then((files) => {
      if (files.length > 0) body.files = files;
      if (!text.trim() && files.length === 0) return;
      return api<{ message: string; thread: string }>('/api/local/messages', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then((res) => {
        if (composer.value === text) composer.value = '';
        attachments.sent(files);
        if (!thread && channel === state.channel) go(channel, res.thread);
      });
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
  if (!state.me && state.user) body.user = state.user; // logged in: the server knows who clicks
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
$('change-name').addEventListener('click', () => void chooseName());
$('messages').addEventListener('click', (e) => {
  const button = e.target instanceof Element ? e.target.closest<HTMLButtonElement>('button.code-copy') : null;
  if (button) copyCode(button);
});
setInterval(() => tickProgress($('messages')), 1_000);
$('composer').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    send();
  }
});
// Files: the 📎 button, a paste into the composer, a drop on the thread.
$('attach').addEventListener('click', () => $('file-input', HTMLInputElement).click());
$('file-input').addEventListener('change', () => {
  const input = $('file-input', HTMLInputElement);
  if (input.files && input.files.length > 0) attachments.add(input.files);
  input.value = '';
});
$('composer').addEventListener('paste', (e) => {
  const files = e.clipboardData?.files;
  if (!files || files.length === 0 || attachments.maxBytes === undefined) return;
  e.preventDefault(); // the files, not their names as text
  attachments.add(files);
});
const conversation = $('conversation');
const carriesFiles = (e: DragEvent) => attachments.maxBytes !== undefined && !!e.dataTransfer && Array.from(e.dataTransfer.types).indexOf('Files') >= 0;
conversation.addEventListener('dragover', (e) => {
  if (!carriesFiles(e)) return;
  e.preventDefault();
  if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  conversation.classList.add('dropping');
});
conversation.addEventListener('dragleave', (e) => {
  if (!(e.relatedTarget instanceof Node && conversation.contains(e.relatedTarget))) conversation.classList.remove('dropping');
});
conversation.addEventListener('drop', (e) => {
  conversation.classList.remove('dropping');
  if (!carriesFiles(e)) return;
  e.preventDefault();
  if (e.dataTransfer && e.dataTransfer.files.length > 0) attachments.add(e.dataTransfer.files);
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
state.user = storedName();
api<{ channels: string[]; botName?: string; maxFileBytes?: number }>('/api/local/channels')
  .then((body) => {
    state.botName = body.botName || state.botName;
    // Uploads are on when the server says how large a file may be.
    attachments.maxBytes = body.maxFileBytes;
    $('attach').hidden = body.maxFileBytes === undefined;
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
    if (!me.user && !state.user) void chooseName();
  })
  .catch(() => {
    /* 401: the login notice is shown */
  });
if (!window.matchMedia('(max-width: 800px)').matches) $('composer').focus();
