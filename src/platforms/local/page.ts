/**
 * The local chat page: one self-contained HTML document (inline CSS and JS, no external
 * resources), served at `GET /` by `./api.ts` with {@link LOCAL_PAGE_CSP}.
 *
 * Layout: channels (left) · the channel's threads, newest first (middle) · the open thread and
 * the composer (right); below 800 px wide one column at a time. Location is kept in the URL
 * hash: `#/<channel>` (channel; new-thread composer on wide screens), `#/<channel>/new`
 * (new-thread composer), `#/<channel>/<threadId>` (a thread).
 *
 * Safety: user and bot text is only ever placed with `textContent`/text nodes; the CSP only
 * allows this exact inline script and style (by hash) and same-origin fetches.
 *
 * Login (`./auth.ts`): the page asks `GET /api/local/me` first; a logged-in user's name is shown
 * with a "Log out" button, and any 401 shows how to log in (`agentbridge users link NAME`) instead
 * of failing silently. A logged-in page sends no `user` (the server knows who writes).
 *
 * Test hooks: `data-testid` = composer, send, message (with `data-bot`), thread-item,
 * thread-status, channel-input, connection, account, me, logout, login-notice.
 */
import { createHash } from 'node:crypto';

const STYLE = String.raw`
:root {
  --bg: #f4f5f7; --panel: #ffffff; --border: #d5d9e0; --text: #1b2230; --muted: #566073;
  --accent: #1d5bd0; --accent-weak: #e7effd; --bot: #f3f7ff; --code-bg: #101828; --code-fg: #e4e9f2;
  --danger: #b42318; --focus: #1d5bd0;
  color-scheme: light;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 15px; line-height: 1.45;
}
* { box-sizing: border-box; }
html, body { height: 100%; margin: 0; }
body { background: var(--bg); color: var(--text); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
.app { display: grid; grid-template-columns: 220px minmax(260px, 340px) minmax(0, 1fr); height: 100vh; height: 100dvh; }
.pane { display: flex; flex-direction: column; min-height: 0; min-width: 0; border-right: 1px solid var(--border); background: var(--panel); }
.pane > header { display: flex; align-items: center; gap: 8px; padding: 12px 14px; border-bottom: 1px solid var(--border); min-height: 56px; }
.pane > header h2 { font-size: 16px; margin: 0; flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.channels { background: #1f2633; color: #e9edf4; border-right: 0; }
.channels > header { border-bottom-color: #323c4e; }
.brand { font-size: 17px; font-weight: 700; margin: 0; flex: 1; }
.conn { font-size: 12px; color: #b8c2d3; }
.conn[data-state="down"] { color: #ffb4a8; }
.section-title { font-size: 12px; font-weight: 700; text-transform: uppercase; letter-spacing: .06em; color: #aab4c5; margin: 14px 14px 6px; }
.channel-list { list-style: none; margin: 0; padding: 0 8px; overflow-y: auto; flex: 1; }
.channel-list a { display: block; padding: 6px 10px; border-radius: 6px; color: #dfe5ee; text-decoration: none; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.channel-list a:hover { background: #2c3547; }
.channel-list a[aria-current="page"] { background: var(--accent); color: #fff; font-weight: 600; }
.channel-form { padding: 10px 14px 14px; border-top: 1px solid #323c4e; }
.channel-form label { display: block; font-size: 13px; color: #c9d1de; margin-bottom: 4px; }
.channel-form .row { display: flex; gap: 6px; }
.channel-form input { flex: 1; min-width: 0; padding: 6px 8px; border-radius: 6px; border: 1px solid #4a5568; background: #151b25; color: #fff; font: inherit; }
.channel-form .error { color: #ffb4a8; font-size: 12px; margin: 4px 0 0; min-height: 1em; }
button, .button { font: inherit; padding: 6px 12px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; display: inline-block; white-space: nowrap; }
button:disabled { opacity: .6; cursor: default; }
.button.secondary, button.secondary { background: var(--panel); color: var(--accent); }
.thread-list { list-style: none; margin: 0; padding: 6px; overflow-y: auto; flex: 1; }
.thread-list a { display: block; padding: 9px 10px; border-radius: 8px; color: var(--text); text-decoration: none; border: 1px solid transparent; }
.thread-list a:hover { background: #f0f2f6; }
.thread-list a[aria-current="true"] { background: var(--accent-weak); border-color: #b9cdf6; }
.thread-title { display: block; font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.thread-meta { display: block; font-size: 12.5px; color: var(--muted); margin-top: 2px; }
.badge { display: inline-block; font-size: 11.5px; padding: 0 6px; border-radius: 10px; background: #fff4d6; color: #7a5200; margin-left: 4px; }
.empty { color: var(--muted); padding: 16px; margin: 0; }
.empty[hidden] { display: none; }
.conversation { border-right: 0; }
.back { display: none; }
.messages { list-style: none; margin: 0; padding: 14px 18px; overflow-y: auto; flex: 1; }
.msg { margin: 0 0 10px; padding: 8px 12px; border-radius: 8px; border: 1px solid transparent; max-width: 900px; }
.msg[data-bot="true"] { background: var(--bot); border-color: #d9e4fb; border-left: 3px solid var(--accent); }
.msg-meta { font-size: 13px; color: var(--muted); display: flex; gap: 8px; align-items: baseline; }
.msg-author { font-weight: 700; color: var(--text); }
.msg-body { white-space: pre-wrap; overflow-wrap: anywhere; margin-top: 2px; }
.msg-body pre { white-space: pre; overflow-x: auto; background: var(--code-bg); color: var(--code-fg); padding: 10px 12px; border-radius: 6px; margin: 6px 0; font-size: 13px; line-height: 1.45; }
.msg-body code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: .92em; }
.msg-body :not(pre) > code { background: #e9ecf2; padding: 1px 4px; border-radius: 4px; }
.status { padding: 0 18px; min-height: 26px; color: var(--muted); font-size: 13.5px; display: flex; align-items: center; gap: 8px; }
.spinner { width: 12px; height: 12px; border-radius: 50%; border: 2px solid #b9cdf6; border-top-color: var(--accent); animation: spin 1s linear infinite; }
@keyframes spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { .spinner { animation: none; } }
.composer { display: flex; gap: 8px; align-items: flex-end; padding: 10px 18px 4px; border-top: 1px solid var(--border); }
.composer textarea { flex: 1; min-width: 0; resize: vertical; min-height: 64px; max-height: 40vh; padding: 8px 10px; border: 1px solid #aeb6c3; border-radius: 8px; font: inherit; }
.hint { font-size: 12px; color: var(--muted); margin: 0 18px 2px; }
.error { color: var(--danger); font-size: 13px; margin: 0 18px 8px; min-height: 1em; }
.account { padding: 8px 14px; border-top: 1px solid #323c4e; font-size: 13px; color: #c9d1de; display: flex; gap: 8px; align-items: center; }
.account[hidden] { display: none; }
.account strong { color: #fff; flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.account button { padding: 2px 8px; font-size: 12px; }
.login-notice { position: fixed; inset: 0; background: rgba(20, 26, 36, .72); display: flex; align-items: center; justify-content: center; padding: 16px; z-index: 10; }
.login-notice[hidden] { display: none; }
.login-notice > div { background: var(--panel); color: var(--text); max-width: 34rem; padding: 20px 24px; border-radius: 10px; box-shadow: 0 8px 30px rgba(0,0,0,.3); }
.login-notice h2 { margin: 0 0 8px; font-size: 18px; }
.login-notice pre { background: #eef1f6; padding: 8px 12px; border-radius: 6px; overflow-x: auto; }
@media (max-width: 800px) {
  .app { grid-template-columns: minmax(0, 1fr); grid-template-rows: auto minmax(0, 1fr); }
  .channels > header { min-height: 44px; padding: 8px 12px; }
  .channels .section-title { display: none; }
  .channel-list { display: flex; gap: 4px; overflow-x: auto; padding: 6px 8px; flex: none; }
  .channel-form { padding: 6px 12px 8px; }
  .channel-form label { display: none; }
  body[data-view="conversation"] .threads { display: none; }
  body[data-view="list"] .conversation { display: none; }
  .back { display: inline-block; }
  .messages { padding: 10px; }
  .composer { padding: 8px 10px 4px; }
}
`;

const SCRIPT = String.raw`
(function () {
  'use strict';
  var BT = String.fromCharCode(96);
  var FENCE = new RegExp(BT + BT + BT + '([^\\n' + BT + ']*)\\n([\\s\\S]*?)(?:\\n?' + BT + BT + BT + '|$)', 'g');
  var INLINE = new RegExp(BT + '([^' + BT + '\\n]+)' + BT + '|\\*\\*([^*\\n]+)\\*\\*|(https?://[^\\s<>"]*[^\\s<>".,;:!?)\\]])', 'g');
  var CHANNEL = /^[a-z0-9][a-z0-9_-]{0,79}$/;
  var state = { channel: 'general', thread: null, view: 'list', channels: ['general'], threads: [],
    messages: new Map(), statuses: new Map(), botName: 'agentbridge', user: 'you', me: null, sending: false };
  var loadToken = 0, threadsToken = 0, threadsTimer = null, everConnected = false;
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }

  function api(path, opts) {
    return fetch(path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (r.status === 401) showLogin();
        if (!r.ok) throw new Error(r.status === 401 ? 'not logged in' : body && body.error ? body.error : 'HTTP ' + r.status);
        return body;
      });
    });
  }

  /* ---- login ---- */
  function showLogin() { $('login-notice').hidden = false; $('account').hidden = true; $('connection').textContent = 'not logged in'; }
  function showAccount(me) {
    state.me = me.user;
    if (!me.user) return;
    $('account-name').textContent = me.user + (me.admin ? ' (admin)' : '');
    $('account').hidden = false;
  }
  function logout() {
    fetch('/logout', { method: 'POST' }).then(function () { location.reload(); }, function () { location.reload(); });
  }
  function fmtTime(ts) {
    var d = new Date(ts), now = new Date();
    var t = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return d.toDateString() === now.toDateString() ? t : d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + t;
  }
  function statusKey(channel, thread) { return channel + '\n' + thread; }

  /* ---- rendering text safely: text nodes only ---- */
  function renderInline(parent, text) {
    var last = 0, m;
    INLINE.lastIndex = 0;
    while ((m = INLINE.exec(text))) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      if (m[1] != null) parent.appendChild(el('code', null, m[1]));
      else if (m[2] != null) parent.appendChild(el('strong', null, m[2]));
      else { var a = el('a', null, m[3]); a.href = m[3]; a.target = '_blank'; a.rel = 'noopener noreferrer'; parent.appendChild(a); }
      last = INLINE.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }
  function renderText(parent, text) {
    parent.textContent = '';
    var last = 0, m;
    FENCE.lastIndex = 0;
    while ((m = FENCE.exec(text))) {
      if (m.index > last) renderInline(parent, text.slice(last, m.index).replace(/\n$/, ''));
      var pre = el('pre'), code = el('code', null, m[2]);
      if (m[1].trim()) code.setAttribute('data-lang', m[1].trim());
      pre.appendChild(code); parent.appendChild(pre);
      last = FENCE.lastIndex;
      if (text.charAt(last) === '\n') last++;
    }
    if (last < text.length) renderInline(parent, text.slice(last));
  }

  /* ---- channels ---- */
  function addChannel(name) {
    if (state.channels.indexOf(name) >= 0) return false;
    state.channels.push(name);
    state.channels.sort(function (a, b) { return a === 'general' ? -1 : b === 'general' ? 1 : a < b ? -1 : a > b ? 1 : 0; });
    return true;
  }
  function renderChannels() {
    var list = $('channel-list');
    list.textContent = '';
    state.channels.forEach(function (name) {
      var li = el('li'), a = el('a', null, '# ' + name);
      a.href = '#/' + name;
      a.setAttribute('data-testid', 'channel-item');
      if (name === state.channel) a.setAttribute('aria-current', 'page');
      li.appendChild(a); list.appendChild(li);
    });
  }

  /* ---- threads ---- */
  function renderThreads() {
    var list = $('thread-list');
    list.textContent = '';
    $('threads-empty').hidden = state.threads.length > 0;
    state.threads.forEach(function (t) {
      var li = el('li'), a = el('a');
      a.href = '#/' + state.channel + '/' + encodeURIComponent(t.thread);
      a.setAttribute('data-testid', 'thread-item');
      a.setAttribute('data-thread', t.thread);
      if (t.thread === state.thread) a.setAttribute('aria-current', 'true');
      a.appendChild(el('span', 'thread-title', (t.text.split('\n')[0] || '(empty)')));
      var meta = el('span', 'thread-meta', t.user + ' · ' + fmtTime(t.lastTs) + ' · ' + t.replies + (t.replies === 1 ? ' reply' : ' replies'));
      var st = state.statuses.get(statusKey(state.channel, t.thread));
      if (st) meta.appendChild(el('span', 'badge', 'working'));
      a.appendChild(meta); li.appendChild(a); list.appendChild(li);
    });
  }
  function loadThreads() {
    var token = ++threadsToken, channel = state.channel;
    return api('/api/local/threads?channel=' + encodeURIComponent(channel)).then(function (body) {
      if (token !== threadsToken || channel !== state.channel) return;
      state.threads = body.threads;
      body.threads.forEach(function (t) {
        var k = statusKey(channel, t.thread);
        if (t.status) state.statuses.set(k, t.status); else state.statuses.delete(k);
      });
      renderThreads(); renderStatus();
    }).catch(function (e) { showError('Could not load threads: ' + e.message); });
  }
  function scheduleThreads() {
    if (threadsTimer) return;
    threadsTimer = setTimeout(function () { threadsTimer = null; loadThreads(); }, 120);
  }

  /* ---- messages ---- */
  var nodes = new Map();
  function nearBottom(list) { return list.scrollHeight - list.scrollTop - list.clientHeight < 80; }
  function renderMessage(msg) {
    var list = $('messages'), stick = nearBottom(list), li = nodes.get(msg.id);
    if (!li) {
      li = el('li', 'msg');
      li.setAttribute('data-testid', 'message');
      li.setAttribute('data-id', msg.id);
      var meta = el('div', 'msg-meta');
      meta.appendChild(el('span', 'msg-author'));
      var time = el('time'); meta.appendChild(time);
      li.appendChild(meta);
      li.appendChild(el('div', 'msg-body'));
      var before = null;
      nodes.forEach(function (node, id) { if (id > msg.id && (!before || id < before.getAttribute('data-id'))) before = node; });
      list.insertBefore(li, before);
      nodes.set(msg.id, li);
    }
    li.setAttribute('data-bot', msg.bot ? 'true' : 'false');
    li.querySelector('.msg-author').textContent = msg.user;
    var t = li.querySelector('time');
    t.textContent = fmtTime(msg.ts); t.dateTime = new Date(msg.ts).toISOString(); t.title = new Date(msg.ts).toLocaleString();
    renderText(li.querySelector('.msg-body'), msg.text);
    if (stick) list.scrollTop = list.scrollHeight;
  }
  function upsert(msg) {
    if (msg.channel !== state.channel || msg.thread !== state.thread) return;
    var old = state.messages.get(msg.id);
    if (old && old.updatedAt > msg.updatedAt) return;
    state.messages.set(msg.id, msg);
    renderMessage(msg);
  }
  function clearMessages() { state.messages = new Map(); nodes = new Map(); $('messages').textContent = ''; }
  function loadMessages() {
    if (!state.thread) return Promise.resolve();
    var token = ++loadToken, channel = state.channel, thread = state.thread;
    return api('/api/local/messages?channel=' + encodeURIComponent(channel) + '&thread=' + encodeURIComponent(thread)).then(function (body) {
      if (token !== loadToken) return;
      body.messages.forEach(upsert);
      var list = $('messages'); list.scrollTop = list.scrollHeight;
    }).catch(function (e) { if (token === loadToken) showError('Could not load the thread: ' + e.message); });
  }
  function renderStatus() {
    var box = $('status'), st = state.thread ? state.statuses.get(statusKey(state.channel, state.thread)) : null;
    box.textContent = '';
    if (!st) return;
    box.appendChild(el('span', 'spinner'));
    var generic = /^(working|thinking|typing)?[\s.…]*$/i.test(st);
    box.appendChild(el('span', null, st.indexOf(state.botName) === 0 ? st : state.botName + ' is working…' + (generic ? '' : ' — ' + st)));
  }

  /* ---- navigation ---- */
  function parseHash() {
    var parts = location.hash.replace(/^#\/?/, '').split('/');
    var channel = '', thread = null, view = 'list';
    try { channel = decodeURIComponent(parts[0] || ''); thread = parts[1] ? decodeURIComponent(parts[1]) : null; } catch (e) { channel = ''; }
    if (!CHANNEL.test(channel)) return { channel: 'general', thread: null, view: 'list' };
    if (thread === 'new') { thread = null; view = 'conversation'; } else if (thread) view = 'conversation';
    return { channel: channel, thread: thread, view: view };
  }
  function applyLocation() {
    var loc = parseHash(), channelChanged = loc.channel !== state.channel, threadChanged = loc.thread !== state.thread;
    state.channel = loc.channel; state.thread = loc.thread; state.view = loc.view;
    document.body.setAttribute('data-view', state.view);
    addChannel(state.channel);
    renderChannels();
    document.title = '#' + state.channel + ' — ' + state.botName;
    $('threads-heading').textContent = '# ' + state.channel;
    $('new-thread').href = '#/' + state.channel + '/new';
    $('back').href = '#/' + state.channel;
    var title = state.thread ? 'Thread' : 'New thread in #' + state.channel;
    if (state.thread) { var t = state.threads.find(function (x) { return x.thread === state.thread; }); if (t) title = t.text.split('\n')[0]; }
    $('conversation-heading').textContent = title;
    $('conversation-empty').hidden = !!state.thread;
    $('composer-label').textContent = state.thread ? 'Reply in this thread' : 'Start a new thread in #' + state.channel;
    $('composer').placeholder = state.thread ? 'Reply…' : 'Message #' + state.channel + ' to start a thread…';
    showError('');
    if (channelChanged || threadChanged) { clearMessages(); loadMessages(); }
    if (channelChanged) { state.threads = []; renderThreads(); }
    loadThreads().then(function () {
      if (!state.thread) return;
      var t = state.threads.find(function (x) { return x.thread === state.thread; });
      if (t) $('conversation-heading').textContent = t.text.split('\n')[0];
    });
    renderThreads(); renderStatus();
    if (state.view === 'conversation' && window.matchMedia('(max-width: 800px)').matches) $('composer').focus();
  }
  function go(channel, thread) {
    var h = '#/' + channel + (thread ? '/' + encodeURIComponent(thread) : '');
    if (location.hash === h) applyLocation(); else location.hash = h;
  }

  /* ---- sending ---- */
  function showError(text) { $('composer-error').textContent = text; }
  function send() {
    var composer = $('composer'), text = composer.value;
    if (!text.trim() || state.sending) return;
    var channel = state.channel, thread = state.thread, body = { channel: channel, text: text };
    if (!state.me) body.user = state.user; /* logged in: the server knows who writes */
    if (thread) body.thread = thread;
    state.sending = true; $('send').disabled = true; showError('');
    api('/api/local/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (res) {
        if (composer.value === text) composer.value = '';
        if (!thread && channel === state.channel) go(channel, res.thread);
      })
      .catch(function (e) { showError('Not sent: ' + e.message); })
      .then(function () { state.sending = false; $('send').disabled = false; composer.focus(); });
  }

  /* ---- live updates ---- */
  function connect() {
    var es = new EventSource('/api/local/events'), conn = $('connection');
    es.onopen = function () {
      conn.textContent = 'live'; conn.setAttribute('data-state', 'up');
      if (everConnected) { loadThreads(); loadMessages(); }
      everConnected = true;
    };
    es.onerror = function () { conn.textContent = 'reconnecting…'; conn.setAttribute('data-state', 'down'); };
    function onMessage(ev) {
      var msg; try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (addChannel(msg.channel)) renderChannels();
      if (msg.channel === state.channel) scheduleThreads();
      upsert(msg);
    }
    es.addEventListener('message.created', onMessage);
    es.addEventListener('message.updated', onMessage);
    es.addEventListener('thread.status', function (ev) {
      var s; try { s = JSON.parse(ev.data); } catch (e) { return; }
      var k = statusKey(s.channel, s.thread);
      if (s.status) state.statuses.set(k, s.status); else state.statuses.delete(k);
      if (s.channel === state.channel) { renderThreads(); renderStatus(); }
    });
  }

  /* ---- wiring ---- */
  $('logout').addEventListener('click', logout);
  $('composer').addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) { e.preventDefault(); send(); }
  });
  $('composer-form').addEventListener('submit', function (e) { e.preventDefault(); send(); });
  $('channel-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var input = $('channel-input'), name = input.value.trim().toLowerCase().replace(/^#/, '');
    if (!CHANNEL.test(name)) { $('channel-error').textContent = 'Use a-z, 0-9, "_" or "-" (up to 80).'; return; }
    $('channel-error').textContent = ''; input.value = '';
    go(name, null);
  });
  window.addEventListener('hashchange', applyLocation);
  try { state.user = localStorage.getItem('agentbridge.user') || 'you'; } catch (e) { /* storage unavailable */ }
  api('/api/local/channels').then(function (body) {
    state.botName = body.botName || state.botName;
    body.channels.forEach(addChannel); renderChannels();
  }).catch(function () { /* shown on first send */ });
  if (!location.hash) history.replaceState(null, '', '#/general');
  api('/api/local/me').then(function (me) {
    showAccount(me);
    state.channel = ''; applyLocation();
    connect();
  }).catch(function () { /* 401: the login notice is shown */ });
  if (!window.matchMedia('(max-width: 800px)').matches) $('composer').focus();
})();
`;

const BODY = String.raw`
<div class="app">
  <nav class="pane channels" aria-label="Channels">
    <header><p class="brand">agentbridge</p><span class="conn" id="connection" data-testid="connection" role="status">connecting…</span></header>
    <h2 class="section-title" id="channels-title">Channels</h2>
    <ul class="channel-list" id="channel-list" aria-labelledby="channels-title"></ul>
    <div class="account" id="account" data-testid="account" hidden><span>Logged in as</span> <strong id="account-name" data-testid="me"></strong><button type="button" class="secondary" id="logout" data-testid="logout">Log out</button></div>
    <form class="channel-form" id="channel-form" autocomplete="off">
      <label for="channel-input">Open or create a channel</label>
      <div class="row">
        <input id="channel-input" data-testid="channel-input" name="channel" placeholder="channel-name" maxlength="81" spellcheck="false" aria-describedby="channel-error">
        <button type="submit" class="secondary">Go</button>
      </div>
      <p class="error" id="channel-error" role="alert"></p>
    </form>
  </nav>
  <section class="pane threads" aria-labelledby="threads-heading">
    <header><h2 id="threads-heading"># general</h2><a class="button" id="new-thread" data-testid="new-thread" href="#/general/new">New thread</a></header>
    <ul class="thread-list" id="thread-list" aria-label="Threads, newest first"></ul>
    <p class="empty" id="threads-empty">No threads yet. Write a message to start one.</p>
  </section>
  <main class="pane conversation" aria-labelledby="conversation-heading">
    <header><a class="button secondary back" id="back" href="#/general">← Threads</a><h2 id="conversation-heading">New thread</h2></header>
    <p class="empty" id="conversation-empty">Write a message below to start a new thread. Each thread is its own conversation with the agent.</p>
    <ol class="messages" id="messages" data-testid="messages" aria-live="polite" aria-label="Messages"></ol>
    <div class="status" id="status" data-testid="thread-status" role="status" aria-live="polite"></div>
    <form class="composer" id="composer-form">
      <label class="visually-hidden" id="composer-label" for="composer">Message</label>
      <textarea id="composer" data-testid="composer" rows="3" aria-describedby="composer-hint composer-error"></textarea>
      <button type="submit" id="send" data-testid="send">Send</button>
    </form>
    <p class="hint" id="composer-hint">Enter to send · Shift+Enter for a new line</p>
    <p class="error" id="composer-error" role="alert"></p>
  </main>
</div>
<div class="login-notice" id="login-notice" data-testid="login-notice" role="alertdialog" aria-labelledby="login-title" hidden>
  <div>
    <h2 id="login-title">Log in to use this chat</h2>
    <p>This agentbridge requires a login. On the machine where agentbridge runs, run</p>
    <pre>agentbridge users link NAME</pre>
    <p>with your user name (a new user: <code>agentbridge users add NAME</code>) and open the link it prints in this browser. Links work once, for 24 hours.</p>
  </div>
</div>
`;

/** The whole page. */
export const LOCAL_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>agentbridge</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-view="list">${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('base64');

/** Content-Security-Policy for the page: only its own inline script and style, same-origin requests. */
export const LOCAL_PAGE_CSP = [
  "default-src 'none'",
  `script-src 'sha256-${sha256(SCRIPT)}'`,
  `style-src 'sha256-${sha256(STYLE)}'`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
