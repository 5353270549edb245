/**
 * Helpers for the Slack end-to-end tests of interactive sessions (test/e2e/interactive-slack.test.ts):
 * the environment of an agentbridge process that drives the real `codex` CLI (`codex app-server`)
 * against the scripted Responses API server (test/models/openai.ts) and talks to the Slack twin,
 * a stateless scripted model for "run this command, then answer", and readers of the twin's cards.
 */
import path from 'node:path';
import type { Sandbox } from './sandbox.js';
import { codexServiceEnv } from './agents-env.js';
import { waitFor } from './sandbox.js';
import { escalatedExec, functionCallOutputs, type InputItem, type RecordedRequest, type Reply } from '../models/openai.js';
import type { SlackTwin, TwinMessage } from '../twins/slack/twin.js';

/** Where the agentbridge under test talks to Slack: Socket Mode, or the Events API over HTTP. */
export type SlackTransport = 'socket' | 'http';

/**
 * Environment for `agentbridge start` with codex in `ask` mode against `modelUrl` and Slack against
 * the twin; writes codex's config into the sandbox's CODEX_HOME. `extra` is merged last.
 */
export function codexSlackEnv(sb: Sandbox, modelUrl: string, twin: SlackTwin, transport: SlackTransport, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  // codex's config (the scripted provider) and its key: test/helpers/agents-env.ts.
  return codexServiceEnv(sb, modelUrl, {
    AGENTBRIDGE_PERMISSION_MODE: 'ask',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'debug',
    SLACK_BOT_TOKEN: twin.botToken,
    SLACK_API_URL: `${twin.url}/api`,
    ...(transport === 'socket' ? { SLACK_APP_TOKEN: twin.appToken } : { SLACK_SIGNING_SECRET: twin.signingSecret }),
    ...extra,
  });
}

/** Text of a message item's content. */
function itemText(item: InputItem): string {
  if (typeof item.content === 'string') return item.content;
  if (!Array.isArray(item.content)) return '';
  return item.content.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('');
}

/** The items after the last `user` message of a request (what happened in the turn since the person last spoke). */
export function sinceLastUser(req: RecordedRequest): InputItem[] {
  const input = req.input ?? [];
  let last = -1;
  input.forEach((item, i) => {
    if (item.role === 'user' && (item.type === undefined || item.type === 'message')) last = i;
  });
  return input.slice(last + 1);
}

/** Texts of every `user` message of a request, oldest first. */
export function userTexts(req: RecordedRequest): string[] {
  return (req.input ?? []).filter((i) => i.role === 'user' && (i.type === undefined || i.type === 'message')).map(itemText);
}

/**
 * The scripted model of these tests, stateless (so a rerun after a restart asks again): a main
 * request whose last user text contains `RUN <path> [<path> …]` gets, for each path in turn, an
 * escalated `touch <path>` (codex asks for approval: `escalatedExec`), one per tool result seen since
 * that user message; after the last one the answer `ANSWER <tag>: <n> results` where `tag` is the
 * text's `TAG-…` word. Anything else: `undefined` (the caller decides).
 */
export function runScript(req: RecordedRequest): Reply | undefined {
  const text = userTexts(req).at(-1) ?? '';
  const run = /\bRUN((?:\s+\/\S+)+)/.exec(text);
  if (!run) return undefined;
  const files = run[1]!.trim().split(/\s+/);
  const done = sinceLastUser(req).filter((i) => i.type === 'function_call_output').length;
  if (done < files.length) return escalatedExec(`touch ${files[done]}`, `create ${path.basename(files[done]!)}`);
  const tag = /\bTAG-[\w-]+/.exec(text)?.[0] ?? 'untagged';
  return { text: `ANSWER ${tag}: ${done} results` };
}

/** The tool outputs codex sent back for the last user message of the request (see `functionCallOutputs`). */
export function outputsSinceLastUser(req: RecordedRequest): string[] {
  const since = new Set(sinceLastUser(req));
  return functionCallOutputs(req)
    .filter((o) => [...since].some((i) => i.type === 'function_call_output' && i.call_id === o.callId))
    .map((o) => o.output);
}

/** The action ids of a message's buttons (its `actions` blocks), in order. */
export function buttonIds(m: Pick<TwinMessage, 'blocks'> | undefined): string[] {
  return (m?.blocks ?? [])
    .filter((b) => b.type === 'actions')
    .flatMap((b) => (Array.isArray(b.elements) ? (b.elements as Array<Record<string, unknown>>) : []))
    .map((e) => String(e.action_id));
}

/** The bot's messages in a thread that carry (or carried) card buttons, oldest first. */
export function cards(twin: SlackTwin, channel: string, threadTs: string): TwinMessage[] {
  return twin
    .threadMessages(channel, threadTs)
    .filter((m) => m.bot_id === twin.botId && m.blocksHistory.some((b) => (b ?? []).some((x) => x.type === 'actions')));
}

/**
 * Waits for the `n`-th (1-based) card of the thread to be open (have buttons); returns a snapshot
 * of it (the twin updates its stored messages in place; read the current state with `twin.message`).
 */
export function waitForOpenCard(twin: SlackTwin, channel: string, threadTs: string, n = 1, timeoutMs = 60_000): Promise<TwinMessage> {
  return waitFor(
    () => {
      const m = cards(twin, channel, threadTs)[n - 1];
      return m && buttonIds(m).length ? structuredClone(m) : undefined;
    },
    timeoutMs,
    `card ${n} with buttons in thread ${threadTs}`,
  );
}

/** The button of `card` whose action id ends with `:<choice>` (approve | always | deny …). */
export function button(card: TwinMessage, choice: string): string {
  const id = buttonIds(card).find((a) => a.endsWith(`:${choice}`));
  if (!id) throw new Error(`card ${card.ts} has no ${choice} button: ${buttonIds(card).join(', ')}`);
  return id;
}

/** The text of a card's section block(s) (what people see; `text` is the notification fallback). */
export function cardText(m: TwinMessage): string {
  return (m.blocks ?? [])
    .filter((b) => b.type === 'section')
    .map((b) => String((b.text as { text?: unknown } | undefined)?.text ?? ''))
    .join('\n');
}
