/**
 * The command service: the same chat commands on every platform.
 *
 * Where commands come from:
 * - a message that addressed the bot (`InboundMessage.addressed`: an @-mention, a DM, the local
 *   chat's `/agent` prefix) and reads as a command — `/agent <command> [args]`, or a text that
 *   starts with a command name whose arguments fit its grammar (`@agentbridge stop`,
 *   `@agentbridge model gpt-5`; but `@agentbridge help me fix the build` stays a prompt). The
 *   router passes every new message through {@link CommandService.checkAccess} and
 *   {@link CommandService.takeCommand} before the inbox; a command is
 *   deduplicated through the inbox (accepted, then marked done with its reply in the outbox), so a
 *   platform's redelivery never runs it twice, and its reply is posted in the conversation
 *   through the outbound path (../outbound.ts);
 * - a platform slash command (Slack `/agent`, Discord's `/agent` application command), through
 *   `AdapterContext.runCommand` → {@link CommandService.runCommand}; the adapter shows the reply
 *   (ephemeral when `ephemeral`).
 *
 * Access control runs first for both (see ../access.ts): a person who is not allowed gets one
 * polite refusal per conversation (a notice in the outbox, written with the refusal record) and
 * nothing reaches the agent; admin commands need an admin.
 */
import type { Logger } from '../../logger.js';
import { fromScheduler, type InboundMessage } from '../../core/messages.js';
import type { AcceptHooks, AcceptResult, CommandReply, CommandRequest } from '../../platforms/types.js';
import type { Store } from '../../store/types.js';
import { qualify, refusalText, type AccessPolicy } from '../access.js';
import type { Outbound, OutboundTarget } from '../outbound.js';
import type { Inbox } from '../inbox.js';
import type { AccessStage, CommandStage } from '../router.js';
import { backoffDelay, type StoreHealth } from '../../store/health.js';
import { agent } from './agent.js';
import { cron } from './cron.js';
import { makeHelp, usageLine } from './help.js';
import { model } from './model.js';
import { reset } from './reset.js';
import { restart } from './restart.js';
import { sessions } from './sessions.js';
import { status } from './status.js';
import { stop } from './stop.js';
import { reply, type Caller, type Command, type CommandDeps, type CommandPlace, type CommandResult } from './types.js';
import { workdir } from './workdir.js';
import { diff } from './diff.js';
import { project } from './project.js';
import { worktree } from './worktree.js';

export type { CommandDeps, CommandResult, Caller, CommandPlace } from './types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCommand = Command<any>;

/** Every command, in the order `help` lists them. */
export const COMMANDS: AnyCommand[] = [];
COMMANDS.push(
  status,
  stop,
  reset,
  agent,
  model,
  makeHelp(() => COMMANDS),
  workdir,
  project,
  diff,
  worktree,
  cron,
  sessions,
  restart,
);

const byName = (name: string): AnyCommand | undefined => COMMANDS.find((c) => c.name === name.toLowerCase());

/** A text read as a command: ready to run, or a usage message for a malformed `/agent …`. */
export type ParsedCommand = { kind: 'command'; command: AnyCommand; args: unknown } | { kind: 'usage'; text: string };

const PREFIX = /^\/agent(?:\s+([\s\S]*))?$/i;
/** A command name (letters and `-`), then its arguments: `stop`, `Stop!`, `model gpt-5`. */
const NAME_AND_ARGS = /^([a-z][a-z-]*)((?=[\s.!?]|$)[\s\S]*)$/i;

/**
 * Reads `text` as a command.
 * - `mode: 'message'` (an addressed chat message): `/agent <command> …` is always a command
 *   (unknown names and bad arguments → usage); otherwise the text is a command only when it
 *   starts with a command name and the rest fits that command's grammar — else undefined (a prompt).
 * - `mode: 'explicit'` (slash-command text, e.g. `model gpt-5`): always a command or a usage message.
 */
export function parseCommand(text: string, mode: 'message' | 'explicit' = 'message'): ParsedCommand | undefined {
  const trimmed = text.trim();
  const prefixed = PREFIX.exec(trimmed);
  if (prefixed) return parseExplicit(prefixed[1] ?? '');
  if (mode === 'explicit') return parseExplicit(trimmed);
  const m = NAME_AND_ARGS.exec(trimmed);
  if (!m) return undefined;
  const command = byName(m[1]!);
  if (!command) return undefined;
  const args = command.parse((m[2] ?? '').trim());
  return args === undefined ? undefined : { kind: 'command', command, args };
}

function parseExplicit(rest: string): ParsedCommand {
  const m = /^(\S+?)([.!?]*)(?:\s+([\s\S]*))?$/.exec(rest.trim());
  if (!m) return { kind: 'command', command: byName('help')!, args: true };
  const command = byName(m[1]!);
  if (!command) {
    return {
      kind: 'usage',
      text: `Unknown command \`${m[1]!.slice(0, 40)}\`. Commands: ${COMMANDS.map((c) => c.name).join(', ')} — \`/agent help\` explains them.`,
    };
  }
  const args = command.parse(`${m[2] ?? ''} ${m[3] ?? ''}`.trim());
  if (args === undefined) return { kind: 'usage', text: usageOf(command) };
  return { kind: 'command', command, args };
}

/** The usage message of one command. */
export function usageOf(c: AnyCommand): string {
  return [`Usage: ${usageLine(c)} — ${c.summary}`, ...(c.details ? c.details.split('\n').map((l) => `    ${l}`) : [])].join('\n');
}

export interface CommandServiceOptions {
  deps: CommandDeps;
  access: AccessPolicy;
  /** Where replies and refusals go: the outbound path (failed deliveries are the outbox's to report). */
  outbound: Outbound;
  /** The inbox owner: commands are taken and closed there, refusals recorded without an inbox row. */
  inbox: Inbox;
  /**
   * Store health: when a command's reply cannot be written to the outbox (a storage fault after
   * the command was taken), the fault is reported here and the reply is written once the store
   * is healthy again, so the accepted command is still answered.
   */
  health?: StoreHealth;
}

/** Platform-state key remembering that a conversation's disallowed writer was told so. */
export function refusedKey(conversationId: string): string {
  return `agentbridge:refused:${conversationId}`;
}

export class CommandService implements AccessStage, CommandStage {
  private readonly logger: Logger;
  private readonly outbound: Outbound;

  constructor(private readonly o: CommandServiceOptions) {
    this.logger = o.deps.logger;
    this.outbound = o.outbound;
  }

  /**
   * The router's first stage for every new inbound message: access control. A writer who is not
   * allowed is told once per conversation (remembered durably, with `hooks`, through
   * {@link Inbox.refuse}: no inbox row, nothing reaches the agent) → `{ handled: 'accepted' }`;
   * otherwise whether the writer is an admin. Scheduler messages are trusted (set up by an
   * allowed user or an admin).
   */
  async checkAccess(m: InboundMessage, hooks?: AcceptHooks): Promise<{ handled: AcceptResult } | { admin: boolean }> {
    if (fromScheduler(m)) return { admin: false };
    const decision = await this.o.access.check(
      { platform: m.platform, userId: m.author.id, channel: m.channel, alsoChannels: [m.replyTarget.channel] },
      'message',
      {
        conversationId: m.conversationId,
        eventKey: m.eventKey,
      },
    );
    if (!decision.allowed) {
      // The refusal record and the refusal notice commit together (no inbox row): told once, durably.
      const first = await this.o.inbox.refuse(async (tx) => {
        const firstTime = await this.recordRefusal(m, tx);
        if (firstTime) await this.outbound.enqueue(m, refusalText(decision.reason), { tx });
        return firstTime;
      }, hooks);
      if (first) this.deliverInBackground(m.conversationId, 'delivering an access refusal failed');
      return { handled: 'accepted' };
    }
    return { admin: decision.admin };
  }

  /**
   * The router's second stage: a message that addressed the bot and reads as a command is taken
   * into the inbox (with `hooks`; a known event key → 'duplicate', not run again), run, and its
   * reply written to the outbox with the inbox row closed. Undefined for an ordinary prompt.
   */
  async takeCommand(m: InboundMessage, admin: boolean, hooks?: AcceptHooks): Promise<AcceptResult | undefined> {
    if (fromScheduler(m) || !m.addressed) return undefined;
    const platform = m.platform;
    const parsed = parseCommand(m.text, 'message');
    if (!parsed) return undefined;
    if (!(await this.o.inbox.accept(m, hooks, { wake: false }))) {
      this.logger.info({ eventKey: m.eventKey, conversationId: m.conversationId }, 'duplicate delivery of a command ignored');
      return 'duplicate';
    }
    const caller: Caller = { platform, userId: m.author.id, userName: m.author.name, qualifiedId: qualify(platform, m.author.id), admin };
    const result = await this.execute(caller, { conversationId: m.conversationId, channel: m.channel, replyTarget: m.replyTarget }, parsed);
    const deliver = () => this.deliverInBackground(m.conversationId, 'delivering a command reply failed', result.after);
    try {
      await this.enqueueReply(m, result);
    } catch (err) {
      // The command was taken (its inbox row is stored): its reply must not be lost to a storage fault.
      if (!this.o.health?.report(err, 'command reply')) throw err;
      void this.storeReplyLater(m, result).then(deliver);
      return 'accepted';
    }
    deliver();
    return 'accepted';
  }

  /**
   * Writes a command's reply (a notice) to the outbox — and its file after it (`result.file`) —
   * in one transaction with closing its inbox row.
   */
  private async enqueueReply(m: InboundMessage, result: CommandResult): Promise<void> {
    const file = result.file;
    await this.outbound.enqueue(m, result.text, {
      alsoInTx: async (tx) => {
        if (file) await this.outbound.enqueueFile(m, file, '', { tx });
        await this.o.inbox.finish([m.eventKey], 'done', tx);
      },
    });
  }

  /** Delivers a conversation's pending rows without waiting; failures are logged; `after` runs once done. */
  private deliverInBackground(conversationId: string, failure: string, after?: () => void): void {
    void this.outbound
      .deliver(conversationId)
      .catch((err: unknown) => this.logger.error({ err, conversationId }, failure))
      .finally(() => after?.());
  }

  /** Writes a command's reply to the outbox once the store is healthy (backoff 0.5 s doubling to 5 s between tries). */
  private async storeReplyLater(m: InboundMessage, result: CommandResult): Promise<void> {
    const health = this.o.health!;
    for (let attempt = 0; ; attempt++) {
      await new Promise((r) => setTimeout(r, backoffDelay(attempt)));
      await health.whenHealthy();
      try {
        await this.enqueueReply(m, result);
        return;
      } catch (err) {
        if (!health.report(err, 'command reply')) {
          this.logger.error({ err, conversationId: m.conversationId }, 'storing a command reply failed');
          return;
        }
      }
    }
  }

  /** Recovery: an unfinished inbox row that is a command (cut by a stop before its reply was recorded) is not run as a turn. */
  isCommand(m: InboundMessage): boolean {
    return !fromScheduler(m) && m.addressed === true && parseCommand(m.text, 'message') !== undefined;
  }

  /** Runs a platform slash command; the adapter shows the reply. Never rejects. */
  async runCommand(req: CommandRequest): Promise<CommandReply> {
    const name = req.text.trim().replace(PREFIX, '$1').trim().split(/\s+/)[0] ?? '';
    const decision = await this.o.access.check(
      { platform: req.platform, userId: req.userId, channel: req.channel, alsoChannels: [req.replyTarget.channel] },
      'slash command',
      {
        command: name.slice(0, 40),
        conversationId: req.conversationId,
      },
    );
    if (!decision.allowed) return { text: refusalText(decision.reason), ephemeral: true };
    const caller: Caller = {
      platform: req.platform,
      userId: req.userId,
      userName: req.userName,
      qualifiedId: qualify(req.platform, req.userId),
      admin: decision.admin,
    };
    const parsed = parseCommand(req.text, 'explicit')!;
    const place = { conversationId: req.conversationId, channel: req.channel, replyTarget: req.replyTarget };
    const result = await this.execute(caller, place, parsed);
    if (result.after) setImmediate(result.after);
    if (result.file && place.conversationId) return this.postWithFile({ conversationId: place.conversationId, replyTarget: place.replyTarget }, result);
    return { text: result.text, ephemeral: result.ephemeral };
  }

  /**
   * A slash command's reply that comes with a file (`diff`): the text and the file are posted in
   * the conversation through the outbox (two rows in one transaction: in this order, each once,
   * retried after a restart — a slash command's own response could overtake the file), and the
   * caller is told so (ephemeral). When the rows cannot be written, the text is the response and
   * the caller is told the file could not be posted.
   */
  private async postWithFile(target: OutboundTarget, result: CommandResult): Promise<CommandReply> {
    try {
      await this.outbound.enqueue(target, result.text, {
        alsoInTx: async (tx) => {
          await this.outbound.enqueueFile(target, result.file!, '', { tx });
        },
      });
    } catch (err) {
      this.o.health?.report(err, 'command reply');
      this.logger.error({ err, conversationId: target.conversationId }, 'a command reply with a file could not be stored');
      return {
        text: `${result.text}\n⚠️ The file \`${result.file!.name}\` could not be posted (${err instanceof Error ? err.message : String(err)}).`,
        ephemeral: result.ephemeral,
      };
    }
    this.deliverInBackground(target.conversationId, 'delivering a command reply failed');
    return { text: `Posted in this conversation, with \`${result.file!.name}\`.`, ephemeral: true };
  }

  /** Checks permissions and runs a parsed command. Never rejects: a failure becomes the reply. */
  async execute(caller: Caller, place: CommandPlace, parsed: ParsedCommand): Promise<CommandResult> {
    if (parsed.kind === 'usage') return reply(parsed.text, true);
    const c = parsed.command;
    const fields = { command: c.name, userId: caller.qualifiedId, channel: place.channel, conversationId: place.conversationId };
    if (c.admin && !caller.admin) {
      this.logger.info(fields, 'admin command refused: not an admin');
      return reply(`🔒 \`/agent ${c.name}\` is only for agentbridge admins.`, true);
    }
    if (c.needsConversation && !place.conversationId) {
      return reply(`\`/agent ${c.name}\` works on a conversation: use it in the conversation's thread, e.g. \`@agentbridge ${c.name}\`.`, true);
    }
    if (c.admin) this.logger.info(fields, 'admin command allowed');
    else this.logger.debug(fields, 'command');
    try {
      return await c.run({ caller, place, deps: this.o.deps }, parsed.args);
    } catch (err) {
      this.logger.error({ ...fields, err }, 'command failed');
      return reply(`⚠️ \`/agent ${c.name}\` failed: ${err instanceof Error ? err.message : String(err)}`, true);
    }
  }

  /**
   * Records that a conversation's disallowed writer is being told (once per conversation, durably);
   * true the first time. Runs in the refusal's transaction `tx` (the read and the write do not interleave).
   */
  private async recordRefusal(m: InboundMessage, tx: Pick<Store, 'platformState'>): Promise<boolean> {
    const key = refusedKey(m.conversationId);
    if (await tx.platformState.get(key)) return false;
    await tx.platformState.set(key, String(Date.now()));
    return true;
  }
}
