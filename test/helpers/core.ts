/**
 * The core wired in-process for unit tests: a real SQLite store (temp file), the recording
 * adapter, manual runners, the outbox and the router — the same wiring as src/app.ts without
 * platforms, HTTP or processes. Options cover what individual tests vary.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import PQueue from 'p-queue';
import { pino, type Logger } from 'pino';
import type { BridgeDeps } from '../../src/conversation/bridge.js';
import { OutboxDelivery, type OutboxOptions } from '../../src/conversation/outbox.js';
import { Router } from '../../src/conversation/router.js';
import type { AgentName } from '../../src/core/agents.js';
import type { Runner } from '../../src/runners/types.js';
import { StoreHealth } from '../../src/store/health.js';
import { openStore, type SqliteStore } from '../../src/store/store.js';
import { ManualRunner, RecordingAdapter } from './fakes.js';

export interface CoreOptions {
  /** Database file; default a new temp directory's `agentbridge.db`. */
  dbPath?: string;
  /** Turn slots (AGENTBRIDGE_MAX_CONCURRENT_TURNS); default 4. */
  concurrency?: number;
  /** Outbox retry delays, ms; default [20]. */
  retryDelaysMs?: number[];
  /** Default silent. */
  logger?: Logger;
  /** Runners for codex/gemini (claude is always `runner`); default: `runner` for all three. */
  runners?: Partial<Record<Exclude<AgentName, 'claude'>, Runner>>;
  onTurnEnd?: BridgeDeps['onTurnEnd'];
  onDeliveryError?: OutboxOptions['onDeliveryError'];
  /** ms; default 60,000. */
  idleEvictMs?: number;
  /** Leave the router in its start-up recovery phase (for recovery tests); default false. */
  recovering?: boolean;
  /**
   * Wire a {@link StoreHealth} (probe: the store's probe write) into the router, bridges and
   * outbox, as src/app.ts does; probe and retry backoff 20 ms doubling to 200 ms. Default false.
   */
  health?: boolean;
}

export interface Core {
  dir: string;
  store: SqliteStore;
  adapter: RecordingAdapter;
  runner: ManualRunner;
  outbox: OutboxDelivery;
  router: Router;
  /** The store health, when `health` was asked for. */
  health?: StoreHealth;
  /** Shuts the router and outbox down and closes the store (idempotent). The temp dir stays: see `removeDir`. */
  close(): Promise<void>;
  /** Removes the temp directory (only when this core created it). */
  removeDir(): void;
}

/** Wires the core; see {@link CoreOptions} for the defaults. */
export function startCore(opts: CoreOptions = {}): Core {
  const dir = opts.dbPath ? path.dirname(opts.dbPath) : fs.mkdtempSync(path.join(os.tmpdir(), 'core-test-'));
  const logger = opts.logger ?? pino({ level: 'silent' });
  const store = openStore({ dbPath: opts.dbPath ?? path.join(dir, 'agentbridge.db'), logger });
  const adapter = new RecordingAdapter();
  const runner = new ManualRunner('claude');
  const storageRetry = { initialMs: 20, maxMs: 200 };
  const health = opts.health ? new StoreHealth({ probe: () => store.probeWrite(), logger, initialDelayMs: storageRetry.initialMs, maxDelayMs: storageRetry.maxMs }) : undefined;
  const outbox = new OutboxDelivery({ store, adapters: () => adapter, logger, retryDelaysMs: opts.retryDelaysMs ?? [20], onDeliveryError: opts.onDeliveryError, health, storageRetry });
  const router = new Router(
    {
      store,
      runners: { claude: runner, codex: opts.runners?.codex ?? runner, gemini: opts.runners?.gemini ?? runner },
      adapters: () => adapter,
      outbox,
      slots: new PQueue({ concurrency: opts.concurrency ?? 4 }),
      defaults: { agent: 'claude', workdir: dir, permissionMode: 'edit', turnTimeoutMs: 60_000 },
      env: {},
      logger,
      onTurnEnd: opts.onTurnEnd,
      health,
      storageRetry,
    },
    { idleEvictMs: opts.idleEvictMs ?? 60_000 },
  );
  if (!opts.recovering) router.recovered();
  let closed = false;
  return {
    dir,
    store,
    adapter,
    runner,
    outbox,
    router,
    health,
    async close() {
      if (closed) return;
      closed = true;
      health?.stop();
      await router.shutdown();
      await outbox.stop();
      store.close();
    },
    removeDir() {
      if (!opts.dbPath) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A pino logger at `level` whose JSON lines are parsed into `lines` (for asserting on logs). */
export function collectingLogger(level = 'debug'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  );
  return { logger, lines };
}
