/**
 * Starts agentbridge as its own process (`node dist/cli.js start`, as `npm start` does after
 * the build) and talks to it over HTTP. The process logs JSON lines; the URL is read from the
 * "agentbridge is ready" line. `stop()` sends SIGTERM and waits for the exit (SIGKILL after 20 s).
 *
 * The database: with `AGENTBRIDGE_E2E_DATABASE=postgres` (the `e2e-postgres` vitest project),
 * every agentbridge process and CLI command started here gets `AGENTBRIDGE_DATABASE_URL` = a new
 * database of the test server (`freshPostgresDatabase`), one per data directory — a restart on the
 * same data directory finds its data again, another data directory gets its own database. The
 * databases are dropped after the test file. An `AGENTBRIDGE_DATABASE_URL` the test sets itself is
 * kept. Unset or `sqlite`: SQLite in the data directory, as before.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { afterAll } from 'vitest';
import { freshPostgresDatabase } from './pg.js';
import { recordSpawn } from './reap.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/cli.js');

export interface AgentbridgeProcess {
  url: string;
  child: ChildProcess;
  /** Every log line, parsed (non-JSON lines as `{ raw }`). */
  logs: Array<Record<string, unknown>>;
  /** Raw stderr. */
  stderr(): string;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** The database the e2e tests run agentbridge on: `AGENTBRIDGE_E2E_DATABASE` (`sqlite`, the default, or `postgres`). */
export function e2eDatabase(): 'sqlite' | 'postgres' {
  const value = process.env.AGENTBRIDGE_E2E_DATABASE ?? 'sqlite';
  if (value !== 'sqlite' && value !== 'postgres') throw new Error(`AGENTBRIDGE_E2E_DATABASE must be sqlite or postgres, not ${value}`);
  return value;
}

/** PostgreSQL databases made for data directories (resolved path → database), dropped after the test file. */
const databases = new Map<string, Promise<{ url: string; drop: () => Promise<void> }>>();

if (e2eDatabase() === 'postgres') {
  // Registered while the test file is collected (it imports this module); with vitest's default
  // stacked hooks it runs after the file's own afterAll (which stops its agentbridges).
  afterAll(async () => {
    const made = [...databases.values()];
    databases.clear();
    for (const db of made) await (await db.catch(() => undefined))?.drop();
  });
}

/** The data directory `env` selects (AGENTBRIDGE_DATA_DIR, default `./data`), resolved against `cwd` as agentbridge does. */
function dataDirOf(env: NodeJS.ProcessEnv, cwd: string): string {
  return path.resolve(cwd, env.AGENTBRIDGE_DATA_DIR || './data');
}

/**
 * `env` with the e2e database (see the module comment): unchanged on SQLite or when it names a
 * database itself; else `AGENTBRIDGE_DATABASE_URL` of the data directory's PostgreSQL database
 * (created on first use).
 */
export async function withE2eDatabase(env: NodeJS.ProcessEnv, cwd: string): Promise<NodeJS.ProcessEnv> {
  if (e2eDatabase() !== 'postgres' || env.AGENTBRIDGE_DATABASE_URL) return env;
  const dir = dataDirOf(env, cwd);
  let db = databases.get(dir);
  if (!db) {
    db = freshPostgresDatabase();
    databases.set(dir, db);
  }
  return { ...env, AGENTBRIDGE_DATABASE_URL: (await db).url };
}

/**
 * Spawns the CLI with `args` and `env` (nothing inherited but what `env` holds), as it is: no e2e
 * database is added here (a caller spawning directly on PostgreSQL passes `await withE2eDatabase(env, cwd)`;
 * {@link runCli} and {@link startAgentbridge} do).
 */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv, cwd: string): ChildProcess {
  return recordSpawn(spawn(process.execPath, [CLI, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Runs the CLI to completion; returns exit code, stdout and stderr. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const withDb = await withE2eDatabase(env, cwd);
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, withDb, cwd);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`agentbridge ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Starts `agentbridge start` and resolves once it is ready (or rejects with its output). On the
 * e2e PostgreSQL database (see the module comment) it also checks that agentbridge created its
 * schema there.
 */
export async function startAgentbridge(env: NodeJS.ProcessEnv, cwd: string, timeoutMs = 30_000): Promise<AgentbridgeProcess> {
  // Tests stop running turns at once on SIGTERM unless they set a grace period themselves.
  const fullEnv = await withE2eDatabase({ AGENTBRIDGE_HTTP_PORT: '0', AGENTBRIDGE_SHUTDOWN_GRACE_S: '0', ...env }, cwd);
  const started = await startWith(fullEnv, cwd, timeoutMs);
  if (fullEnv.AGENTBRIDGE_DATABASE_URL && !env.AGENTBRIDGE_DATABASE_URL) {
    // The e2e database was given: agentbridge must have created its schema there (not run on SQLite).
    const client = new pg.Client({ connectionString: fullEnv.AGENTBRIDGE_DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
      if (rows[0]?.t == null) {
        await started.stop('SIGKILL');
        throw new Error('agentbridge started without using its AGENTBRIDGE_DATABASE_URL (no schema in the e2e PostgreSQL database)');
      }
    } finally {
      await client.end();
    }
  }
  return started;
}

function startWith(env: NodeJS.ProcessEnv, cwd: string, timeoutMs: number): Promise<AgentbridgeProcess> {
  const child = spawnCli(['start'], env, cwd);
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`agentbridge did not become ready in ${timeoutMs} ms\nlogs: ${JSON.stringify(logs.slice(-20))}\nstderr: ${stderr}`));
    }, timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`agentbridge exited with ${code} before it was ready\nlogs: ${JSON.stringify(logs.slice(-20))}\nstderr: ${stderr}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        entry = { raw: line };
      }
      logs.push(entry);
      if (entry.msg === 'agentbridge is ready' && typeof entry.url === 'string') {
        clearTimeout(timer);
        const url = entry.url;
        resolve({
          url,
          child,
          logs,
          stderr: () => stderr,
          exited,
          stop: async (signal = 'SIGTERM') => {
            if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
            child.kill(signal);
            const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
            const code = await exited;
            clearTimeout(killer);
            return code;
          },
        });
      }
    });
  });
}

export interface LocalMessage {
  id: string;
  thread: string;
  user: string;
  text: string;
  bot: boolean;
  ts: number;
  /** A card's buttons while a decision is pending (absent otherwise). */
  actions?: Array<{ id: string; label: string; style?: string }>;
  /** A file the bot posted with this message (`send_file`, `/agent diff`'s patch): download it with {@link LocalChat.file}. */
  file?: { name: string; size: number; type: string };
}

/**
 * The local chat HTTP API of a running agentbridge. With `tokens` (user name → API token from
 * `agentbridge users token`), `send(…, { user })` sends that user's `Authorization: Bearer`
 * (when login is required the server takes the author from it); reads use the first token.
 */
export class LocalChat {
  constructor(
    private readonly url: string,
    private readonly tokens: Record<string, string> = {},
  ) {}

  private auth(user?: string): Record<string, string> {
    const token = user !== undefined && user in this.tokens ? this.tokens[user] : Object.values(this.tokens)[0];
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  async send(channel: string, text: string, opts: { thread?: string; user?: string } = {}): Promise<{ message: string; thread: string }> {
    const res = await fetch(`${this.url}/api/local/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.auth(opts.user) },
      body: JSON.stringify({ channel, text, ...opts }),
    });
    if (res.status !== 202) throw new Error(`POST /api/local/messages → ${res.status}: ${await res.text()}`);
    return (await res.json()) as { message: string; thread: string };
  }

  async messages(channel: string, thread: string): Promise<LocalMessage[]> {
    const res = await fetch(`${this.url}/api/local/messages?channel=${encodeURIComponent(channel)}&thread=${encodeURIComponent(thread)}`, {
      headers: this.auth(),
    });
    if (res.status !== 200) throw new Error(`GET /api/local/messages → ${res.status}`);
    return ((await res.json()) as { messages: LocalMessage[] }).messages;
  }

  /**
   * Clicks a card button (`POST /api/local/actions`) as `user`: their bearer token (with login
   * required the server takes the clicker from it), and the body's `user` field, which only
   * anonymous clickers use — `opts.claim` puts another name there (a forged identity). Resolves
   * with the HTTP status and JSON body (200 `{ok: true}`, 409/403/404 `{ok: false, error}`).
   */
  async click(
    channel: string,
    thread: string,
    message: string,
    action: string,
    user?: string,
    opts: { claim?: string } = {},
  ): Promise<{ status: number; body: { ok: boolean; error?: string } }> {
    const bodyUser = opts.claim ?? user;
    const res = await fetch(`${this.url}/api/local/actions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.auth(user) },
      body: JSON.stringify({ channel, thread, message, action, ...(bodyUser !== undefined ? { user: bodyUser } : {}) }),
    });
    return { status: res.status, body: (await res.json()) as { ok: boolean; error?: string } };
  }

  /** Bot messages of the thread whose text matches. */
  /** Downloads the file of message `id` (`GET /api/local/files/<id>`, as the first token's user): status and bytes. */
  async file(id: string): Promise<{ status: number; bytes: Buffer }> {
    const res = await fetch(`${this.url}/api/local/files/${encodeURIComponent(id)}`, { headers: this.auth() });
    return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
  }

  async botTexts(channel: string, thread: string): Promise<string[]> {
    return (await this.messages(channel, thread)).filter((m) => m.bot).map((m) => m.text);
  }
}

/**
 * The environment that points the real `claude` CLI at the scripted Anthropic model `modelUrl`
 * and keeps it offline and fast: no telemetry/update traffic, no retries of scripted errors.
 */
export function claudeCliEnv(modelUrl: string): NodeJS.ProcessEnv {
  return {
    ANTHROPIC_BASE_URL: modelUrl,
    ANTHROPIC_API_KEY: 'test-key',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    CLAUDE_CODE_MAX_RETRIES: '0',
    DISABLE_AUTOUPDATER: '1',
  };
}

/**
 * The environment of an agentbridge process that runs the real `claude` CLI against a scripted
 * Anthropic model at `modelUrl`, with its data and workdir inside the sandbox. `extra` is merged
 * last (e.g. platform tokens, admins).
 */
export function claudeServiceEnv(
  sb: { env: NodeJS.ProcessEnv; root: string; workdir: string },
  modelUrl: string,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  return {
    ...sb.env,
    AGENTBRIDGE_DATA_DIR: path.join(sb.root, 'data'),
    AGENTBRIDGE_WORKDIR: sb.workdir,
    AGENTBRIDGE_AGENT: 'claude',
    ...claudeCliEnv(modelUrl),
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/**
 * Adds local chat users to the database of the environment's AGENTBRIDGE_DATA_DIR with
 * `agentbridge users add NAME [--admin] --token` (the real CLI; safe while agentbridge runs).
 * Returns user name → API token.
 */
export async function addLocalUsers(env: NodeJS.ProcessEnv, cwd: string, users: Array<{ name: string; admin?: boolean }>): Promise<Record<string, string>> {
  const tokens: Record<string, string> = {};
  for (const u of users) {
    const add = await runCli(['users', 'add', u.name, '--token', ...(u.admin ? ['--admin'] : [])], env, cwd);
    const token = /^API token for .*\n\s+([A-Za-z0-9_-]{43})$/m.exec(add.stdout)?.[1];
    if (add.code !== 0 || !token) throw new Error(`users add ${u.name} → ${add.code}: ${add.stdout}${add.stderr}`);
    tokens[u.name] = token;
  }
  return tokens;
}

/** The body of `GET /healthz` (src/app.ts). */
export interface HealthBody {
  ok: boolean;
  reason?: string;
  agent: string | null;
  inbox: Record<string, number> | null;
  outboxPending: number | null;
}

/** `GET <url>/healthz`: its status and body. */
export async function health(url: string): Promise<{ status: number; body: HealthBody }> {
  const r = await fetch(`${url}/healthz`);
  return { status: r.status, body: (await r.json()) as HealthBody };
}
