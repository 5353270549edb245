/**
 * Cluster mode in tests: several agentbridge processes (`startAgentbridge`) on one fresh
 * PostgreSQL database, each with its own data directory and instance id (`node-<i>`), sharing the
 * sandbox's HOME unless the caller gives each its own.
 */
import path from 'node:path';
import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { startAnthropicModel, type AnthropicModel } from '../models/anthropic.js';
import { claudeServiceEnv, startAgentbridge, type AgentbridgeProcess } from './agentbridge.js';
import { freshPostgresDatabase } from './pg.js';
import { processesMentioning } from './procs.js';
import { makeSandbox, type Sandbox } from './sandbox.js';

/** What a cluster test holds: the database, and the instances by index (undefined once stopped). */
export interface TestCluster {
  url: string;
  nodes: Array<AgentbridgeProcess | undefined>;
  /** The environment of instance `i` (for restarts). */
  env(i: number): NodeJS.ProcessEnv;
  /** Starts (or restarts) instance `i`. */
  start(i: number): Promise<AgentbridgeProcess>;
  /** Stops every instance still running (SIGTERM, SIGKILL after 20 s). */
  stopAll(): Promise<void>;
}

export interface ClusterTestOptions {
  /** Extra environment for every instance (merged after the cluster variables). */
  extra?: NodeJS.ProcessEnv;
  /** Each instance gets its own HOME (and agent config directories) under the sandbox: as if on another host. */
  ownHomes?: boolean;
  /** Extra environment per instance. */
  per?: (i: number) => NodeJS.ProcessEnv;
}

/** The environment of a cluster instance running the real claude against `modelUrl`. */
export function clusterEnv(sb: Sandbox, modelUrl: string, url: string, i: number, opts: ClusterTestOptions = {}): NodeJS.ProcessEnv {
  const home = opts.ownHomes ? path.join(sb.root, `home-${i}`) : sb.home;
  if (opts.ownHomes) for (const d of ['.claude', '.codex', '.gemini', '.config']) fs.mkdirSync(path.join(home, d), { recursive: true });
  const homeEnv: NodeJS.ProcessEnv = opts.ownHomes
    ? {
        HOME: home,
        USERPROFILE: home,
        XDG_CONFIG_HOME: path.join(home, '.config'),
        XDG_DATA_HOME: path.join(home, '.local/share'),
        XDG_CACHE_HOME: path.join(home, '.cache'),
        CLAUDE_CONFIG_DIR: path.join(home, '.claude'),
        CODEX_HOME: path.join(home, '.codex'),
        GEMINI_CLI_HOME: home,
      }
    : {};
  return claudeServiceEnv(sb, modelUrl, {
    ...homeEnv,
    AGENTBRIDGE_DATA_DIR: path.join(sb.root, `data-${i}`),
    AGENTBRIDGE_DATABASE_URL: url,
    AGENTBRIDGE_CLUSTER: '1',
    AGENTBRIDGE_INSTANCE_ID: `node-${i}`,
    AGENTBRIDGE_MAX_CONCURRENT_TURNS: '3',
    ...opts.extra,
    ...opts.per?.(i),
  });
}

/** Starts `n` instances one after another (the first creates the schema and pg-boss's). */
export async function startCluster(sb: Sandbox, modelUrl: string, url: string, n: number, opts: ClusterTestOptions = {}): Promise<TestCluster> {
  const cluster: TestCluster = {
    url,
    nodes: [],
    env: (i) => clusterEnv(sb, modelUrl, url, i, opts),
    async start(i) {
      const p = await startAgentbridge(cluster.env(i), sb.root, 60_000);
      cluster.nodes[i] = p;
      return p;
    },
    async stopAll() {
      await Promise.all(cluster.nodes.map((p) => p?.stop()));
      cluster.nodes = [];
    },
  };
  for (let i = 0; i < n; i++) await cluster.start(i);
  return cluster;
}

/** Index of the instance whose logs show a turn of `conversationId` starting (the last such), or -1. */
export function runnerOf(cluster: TestCluster, conversationId: string): number {
  let found = -1;
  cluster.nodes.forEach((p, i) => {
    if (p?.logs.some((l) => l.conversationId === conversationId && l.msg === 'cluster: running the conversation')) found = i;
  });
  return found;
}

/** What a cluster e2e test file holds: the scripted model, the sandbox, and a way to start a cluster. */
export interface ClusterSuite {
  /** The scripted Anthropic model (its responder is reset after each test). */
  readonly model: AnthropicModel;
  readonly sb: Sandbox;
  /** `n` instances on a fresh database (dropped, and the instances stopped, after the test). */
  newCluster(n: number, opts?: ClusterTestOptions): Promise<TestCluster>;
}

/**
 * Registers the hooks of a cluster e2e test file (call at its top level): the model and sandbox
 * in `beforeAll`; after each test the cluster is stopped, the responder reset and the database
 * dropped; at the end the model closed, no process mentioning the sandbox left (asserted), the
 * sandbox removed.
 */
export function useClusterSuite(): ClusterSuite {
  let model: AnthropicModel | undefined;
  let sb: Sandbox | undefined;
  let cluster: TestCluster | undefined;
  const drops: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    model = await startAnthropicModel();
    sb = makeSandbox();
  });
  afterEach(async () => {
    await cluster?.stopAll();
    cluster = undefined;
    model?.setResponder(undefined);
    for (const d of drops.splice(0)) await d();
  });
  afterAll(async () => {
    await model?.close();
    if (sb) expect(processesMentioning(sb.root)).toEqual([]);
    sb?.cleanup();
  });
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the cluster suite is set up in beforeAll');
    return v;
  };
  const suite: ClusterSuite = {
    get model() {
      return ready(model);
    },
    get sb() {
      return ready(sb);
    },
    async newCluster(n, opts = {}) {
      const db = await freshPostgresDatabase();
      drops.push(db.drop);
      cluster = await startCluster(suite.sb, suite.model.url, db.url, n, opts);
      return cluster;
    },
  };
  return suite;
}
