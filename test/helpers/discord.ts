/**
 * The Discord adapter in tests, against the Discord twin (test/twins/discord): a fake core (an
 * inbox deduplicating by event key, conversations, posted messages, stored state, `/agent`) and
 * the per-test fixture (a fresh twin and core before each test, every adapter made stopped and
 * the twin closed after it).
 */
import { afterEach, beforeEach } from 'vitest';
import type { InboundMessage } from '../../src/core/messages.js';
import { createLogger } from '../../src/logger.js';
import { DiscordAdapter } from '../../src/platforms/discord/adapter.js';
import type { AdapterContext, CommandReply, CommandRequest } from '../../src/platforms/types.js';
import { startDiscordTwin, type DiscordTwin } from '../twins/discord/index.js';

/** What the core would be: an inbox deduplicating by event key, conversations, posted messages, state. */
export class FakeDiscordCore {
  readonly received: InboundMessage[] = [];
  readonly keys = new Set<string>();
  readonly conversations = new Set<string>();
  readonly postedKeys = new Set<string>();
  readonly state = new Map<string, string>();
  /** When set, the sink throws for these event keys (once each). */
  readonly refuse = new Set<string>();
  readonly commands: CommandRequest[] = [];
  readonly apiErrors: string[] = [];
  /** How `/agent` answers (default: immediately, ephemeral). */
  commandReply: (req: CommandRequest) => Promise<CommandReply> = async (req) => ({ text: `ran ${req.text || 'help'}`, ephemeral: true });
  readonly sink = async (m: InboundMessage) => {
    if (this.refuse.delete(m.eventKey)) throw new Error('database is locked');
    if (this.keys.has(m.eventKey)) return 'duplicate' as const;
    this.keys.add(m.eventKey);
    this.conversations.add(m.conversationId);
    this.received.push(m);
    return 'accepted' as const;
  };
  readonly context: AdapterContext = {
    hasConversation: async (id) => this.conversations.has(id),
    isBotMessage: async (key) => this.postedKeys.has(key),
    state: { get: async (k) => this.state.get(k), set: async (k, v) => void this.state.set(k, v) },
    runCommand: (req) => (this.commands.push(req), this.commandReply(req)),
    reportApiError: (kind, method) => void this.apiErrors.push(`${kind} ${method}`),
  };
  /** Texts of the accepted messages, in order. */
  texts(): string[] {
    return this.received.map((m) => m.text);
  }
}

/** The fixture of a Discord adapter test file, valid inside a test. */
export interface DiscordFixture {
  readonly twin: DiscordTwin;
  readonly core: FakeDiscordCore;
  /** The adapters made in this test, in order. */
  readonly adapters: readonly DiscordAdapter[];
  /** A silent logger. */
  readonly logger: ReturnType<typeof createLogger>;
  /** A new adapter on the twin's `agent-chat` channel (bots not allowed, typing repeated every 200 ms), not started; stopped after the test. */
  adapter(): DiscordAdapter;
  /** {@link adapter}, started with the fake core (Gateway included). */
  startAdapter(): Promise<DiscordAdapter>;
}

/** Registers the hooks of a Discord adapter test file (call at its top level): a fresh twin and core before each test. */
export function useDiscordTwin(): DiscordFixture {
  let twin: DiscordTwin | undefined;
  let core: FakeDiscordCore | undefined;
  const adapters: DiscordAdapter[] = [];
  beforeEach(async () => {
    twin = await startDiscordTwin();
    core = new FakeDiscordCore();
  });
  afterEach(async () => {
    for (const a of adapters.splice(0)) await a.stop();
    await twin?.close();
  });
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the Discord twin is started in beforeEach');
    return v;
  };
  const fx: DiscordFixture = {
    get twin() {
      return ready(twin);
    },
    get core() {
      return ready(core);
    },
    adapters,
    logger: createLogger('silent'),
    adapter() {
      const t = fx.twin;
      const a = new DiscordAdapter({
        config: { botToken: t.token, apiUrl: t.apiUrl, channels: [t.channels['agent-chat']!], allowBots: false },
        logger: fx.logger,
        typingRepeatMs: 200,
      });
      adapters.push(a);
      return a;
    },
    async startAdapter() {
      const a = fx.adapter();
      await a.start(fx.core.sink, fx.core.context);
      return a;
    },
  };
  return fx;
}
