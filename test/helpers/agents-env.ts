/**
 * Service environments for an agentbridge process (test/helpers/agentbridge.ts `startAgentbridge`)
 * that runs the real `codex` or `gemini` CLI against a scripted model server (test/models/), with
 * its data directory and workdir inside the sandbox. The counterpart of `claudeServiceEnv`.
 *
 * A separate agentbridge process cannot pass `-c` overrides to codex (that is a runner option of
 * the in-process tests), so {@link codexServiceEnv} writes them as `$CODEX_HOME/config.toml`.
 * Gemini's settings go to `$GEMINI_CLI_HOME/.gemini/settings.json` as in
 * test/runners/gemini-session.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';

/** What the builders need of a sandbox (test/helpers/sandbox.ts `makeSandbox`). */
export interface ServiceSandbox {
  env: NodeJS.ProcessEnv;
  root: string;
  home: string;
  workdir: string;
}

/** The key the codex mock provider reads (`env_key`); any value works against the scripted server. */
const CODEX_KEY_VARIABLE = 'OPENAI_API_KEY';

/**
 * The `config.toml` that points codex at the scripted Responses API server `modelUrl` (ending in
 * `/v1`): the TOML form of `codexMockProviderArgs()` (test/models/openai.ts) — provider `mock`,
 * no retries, no analytics or plugin sync — plus `model = "gpt-5"`. Top-level keys first (TOML:
 * keys after a table header belong to that table).
 */
export function codexConfigToml(modelUrl: string): string {
  return [
    'model = "gpt-5"',
    'model_provider = "mock"',
    '',
    '[model_providers.mock]',
    'name = "mock"',
    `base_url = ${JSON.stringify(modelUrl)}`,
    'wire_api = "responses"',
    `env_key = "${CODEX_KEY_VARIABLE}"`,
    'request_max_retries = 0',
    'stream_max_retries = 0',
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[features]',
    'plugins = false',
    '',
  ].join('\n');
}

/**
 * The environment of an agentbridge process that runs the real `codex` CLI (PATH of the sandbox:
 * node_modules/.bin) against the scripted OpenAI model at `modelUrl`. Writes
 * `<sandbox CODEX_HOME>/config.toml` ({@link codexConfigToml}). `OPENAI_API_KEY` is set: codex's
 * provider reads it, and agentbridge's `codexAuth` counts codex as logged in with it. `extra` is
 * merged last (data dir, admins, AGENTBRIDGE_* settings).
 */
export function codexServiceEnv(sb: ServiceSandbox, modelUrl: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const codexHome = sb.env.CODEX_HOME ?? path.join(sb.home, '.codex');
  fs.mkdirSync(codexHome, { recursive: true });
  fs.writeFileSync(path.join(codexHome, 'config.toml'), codexConfigToml(modelUrl));
  return {
    ...sb.env,
    CODEX_HOME: codexHome,
    AGENTBRIDGE_DATA_DIR: path.join(sb.root, 'data'),
    AGENTBRIDGE_WORKDIR: sb.workdir,
    AGENTBRIDGE_AGENT: 'codex',
    [CODEX_KEY_VARIABLE]: 'mock-key',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/**
 * The environment of an agentbridge process that runs the real `gemini` CLI against the scripted
 * Gemini API server at `modelUrl` (`GOOGLE_GEMINI_BASE_URL`). Writes
 * `<GEMINI_CLI_HOME>/.gemini/settings.json`: API-key auth, one attempt per model call, no update
 * checks or usage statistics. `extra` is merged last.
 */
export function geminiServiceEnv(sb: ServiceSandbox, modelUrl: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const geminiHome = sb.env.GEMINI_CLI_HOME ?? sb.home;
  fs.mkdirSync(path.join(geminiHome, '.gemini'), { recursive: true });
  fs.writeFileSync(
    path.join(geminiHome, '.gemini', 'settings.json'),
    JSON.stringify({
      security: { auth: { selectedType: 'gemini-api-key' } },
      general: { maxAttempts: 1, enableAutoUpdate: false, enableAutoUpdateNotification: false },
      privacy: { usageStatisticsEnabled: false },
    }),
  );
  return {
    ...sb.env,
    GEMINI_CLI_HOME: geminiHome,
    AGENTBRIDGE_DATA_DIR: path.join(sb.root, 'data'),
    AGENTBRIDGE_WORKDIR: sb.workdir,
    AGENTBRIDGE_AGENT: 'gemini',
    GEMINI_API_KEY: 'test-key',
    GOOGLE_GEMINI_BASE_URL: modelUrl,
    GEMINI_CLI_TRUST_WORKSPACE: 'true',
    LOG_LEVEL: 'info',
    ...extra,
  };
}
