/**
 * The container setup, checked without a Docker engine (issue 12): docker-compose.yml parsed
 * with `yaml`, the Dockerfile parsed with dockerfile-ast and validated with dockerfile-utils (the
 * Docker language server's checker), plus the hadolint rules that matter here, re-stated as
 * checks (hadolint is not packaged in Debian bookworm, nor on npm with a binary):
 * DL3002 (last USER not root), DL3003 (no `cd` in RUN), DL3004 (no sudo), DL3006/DL3007 (tagged
 * base images, not `latest`), DL3009/DL3014/DL3015 (apt-get: -y, --no-install-recommends, lists
 * removed), DL3016 (npm packages pinned), DL3020 (COPY, not ADD), DL3025 (exec-form CMD and
 * ENTRYPOINT), DL4006 (pipefail before pipes) — and hadolint's shell pass: every RUN and the
 * entrypoint script through ShellCheck (Debian package `shellcheck`, installed by .ci/run).
 * The safety properties: a non-root user with configurable ids, named volumes for data,
 * workspaces and each agent's home, an optional .env, and a 0.0.0.0 bind only with the local
 * chat's login enforced (agentbridge refuses to start without a user: src/app.ts). The optional
 * profiles: `postgres` (the database) and `cluster` (the database and three instances in cluster
 * mode, each with its own data volume and instance id; docs/ARCHITECTURE.md §10).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { StartRefusedError, assertLocalLoginPossible } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { loginRequiredByConfig } from '../../src/platforms/local/auth.js';

const root = path.resolve(import.meta.dirname, '../..');
const dockerfileText = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(dockerfileText);
const instructions = dockerfile.getInstructions();
const finalStageStart = instructions.findLastIndex((i) => i.getKeyword() === 'FROM');
const finalStage = instructions.slice(finalStageStart);
const of = (keyword: string, list: Instruction[] = instructions) => list.filter((i) => i.getKeyword() === keyword);
const runs = of('RUN').map((i) => i.getArgumentsContent() ?? '');
const jsonArgs = (i: Instruction) => (i as unknown as { getJSONStrings(): Array<{ getJSONValue(): string }> }).getJSONStrings().map((s) => s.getJSONValue());

/** The image's environment: ENV of the final stage. */
const imageEnv: Record<string, string> = Object.fromEntries(
  of('ENV', finalStage).flatMap((i) =>
    (i as unknown as { getProperties(): Array<{ getName(): string; getValue(): string }> }).getProperties().map((p) => [p.getName(), p.getValue()]),
  ),
);

interface ComposeService {
  build?: { context?: string; args?: Record<string, string> };
  image?: string;
  profiles?: string[];
  depends_on?: unknown;
  entrypoint?: string[];
  command?: string[];
  healthcheck?: { test?: string[] };
  user?: string;
  init?: boolean;
  restart?: string;
  stop_grace_period?: string;
  env_file?: unknown;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
}
const composeText = fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
// `merge`: the cluster profile's services share their settings through a YAML anchor and `<<` merge keys (Compose resolves them too).
const compose = parse(composeText, { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const service = compose.services['agentbridge']!;

/** The non-root user's home, from the Dockerfile's `useradd --home-dir`. */
const home = /useradd [^&]*--home-dir (\S+)/.exec(runs.join('\n'))?.[1];
const AGENT_HOMES = ['.claude', '.codex', '.gemini'];

describe('Dockerfile', () => {
  it('is valid for the Docker language server (dockerfile-utils: no errors or warnings)', () => {
    expect(validate(dockerfileText).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('runs as a non-root user whose ids are build arguments (DL3002)', () => {
    const users = of('USER');
    expect(users.length).toBeGreaterThan(0);
    const last = users.at(-1)!;
    expect(instructions.indexOf(last)).toBeGreaterThan(finalStageStart);
    const user = last.getArgumentsContent()!.trim();
    expect(['root', '0'].includes(user.split(':')[0]!)).toBe(false);
    const args = of('ARG', finalStage).map((i) => i.getArgumentsContent()!.split('=')[0]);
    expect(args).toEqual(expect.arrayContaining(['AGENTBRIDGE_UID', 'AGENTBRIDGE_GID']));
    const create = runs.find((r) => r.includes('useradd'))!;
    expect(create).toMatch(new RegExp(`useradd .*--uid "\\$AGENTBRIDGE_UID" --gid "\\$AGENTBRIDGE_GID" .*${user}`));
    // A build with uid or gid 0 fails instead of producing a root image under another name.
    expect(create).toMatch(/"\$AGENTBRIDGE_UID" = 0 .* exit 1/);
    expect(home).toBe(`/home/${user}`);
  });

  it('declares volumes for the data, the workspaces and each agent home, owned by that user', () => {
    const [volume] = of('VOLUME', finalStage);
    const declared = jsonArgs(volume!);
    const expected = ['/data', '/workspaces', ...AGENT_HOMES.map((h) => `${home}/${h}`)];
    expect(declared).toEqual(expected);
    const create = runs.find((r) => r.includes('useradd'))!;
    for (const dir of expected) expect(create).toContain(dir);
    expect(create).toMatch(/chown -R agentbridge:agentbridge \/data \/workspaces \/home\/agentbridge/);
    // Claude Code keeps its settings file in its volume too, not in the bare home.
    expect(imageEnv['CLAUDE_CONFIG_DIR']).toBe(`${home}/.claude`);
    expect(imageEnv['AGENTBRIDGE_DATA_DIR']).toBe('/data');
    expect(imageEnv['AGENTBRIDGE_WORKSPACES_ROOT']).toBe('/workspaces');
  });

  it('binds 0.0.0.0 only where agentbridge enforces the local chat login and refuses to start without a user', () => {
    expect(imageEnv['AGENTBRIDGE_HTTP_HOST']).toBe('0.0.0.0');
    const config = loadConfig({ ...imageEnv }, '/app');
    expect(loginRequiredByConfig(config)).toBe(true);
    expect(() => assertLocalLoginPossible(config, 0)).toThrow(StartRefusedError);
    expect(() => assertLocalLoginPossible(config, 0)).toThrow(/docker compose run --rm agentbridge agentbridge users add NAME --admin/);
    expect(() => assertLocalLoginPossible(config, 1)).not.toThrow();
  });

  it('follows the hadolint rules that apply (DL3003, DL3004, DL3006, DL3007, DL3009, DL3014, DL3015, DL3016, DL3020, DL3025, DL4006)', () => {
    for (const from of dockerfile.getFROMs()) {
      expect(from.getImageTag(), from.getImageName() ?? '').toBeTruthy();
      expect(from.getImageTag()).not.toBe('latest');
    }
    expect(of('ADD')).toEqual([]);
    for (const run of runs) {
      expect(run).not.toMatch(/(^|[;&|]\s*)cd /);
      expect(run).not.toMatch(/\bsudo\b/);
      if (/apt-get install/.test(run)) {
        expect(run).toMatch(/apt-get install -y --no-install-recommends /);
        expect(run).toContain('rm -rf /var/lib/apt/lists/*');
      }
    }
    // Global npm packages pinned, to the versions the tests run against (package.json).
    const devDeps = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies;
    const globals = runs.flatMap((r) => /npm install -g ([^&]+)/.exec(r)?.[1]?.trim().split(/\s+/) ?? []);
    expect(globals.length).toBe(3);
    for (const spec of globals) {
      const at = spec.lastIndexOf('@');
      expect(at, spec).toBeGreaterThan(0);
      expect(spec.slice(at + 1)).toBe(devDeps[spec.slice(0, at)]);
    }
    for (const kw of ['CMD', 'ENTRYPOINT']) {
      const [last] = of(kw, finalStage).slice(-1);
      expect(last!.getArgumentsContent()!.trim().startsWith('['), kw).toBe(true);
    }
    // Pipes only after SHELL with pipefail in the same stage.
    let pipefail = false;
    for (const i of instructions) {
      if (i.getKeyword() === 'FROM') pipefail = false;
      if (i.getKeyword() === 'SHELL') pipefail = jsonArgs(i).includes('pipefail');
      if (i.getKeyword() === 'RUN' && /[^|]\|[^|]/.test(i.getArgumentsContent() ?? '')) expect(pipefail, i.getArgumentsContent() ?? '').toBe(true);
    }
    expect(of('HEALTHCHECK', finalStage)).toHaveLength(1);
    expect(jsonArgs(of('CMD', finalStage)[0]!)).toEqual(['agentbridge', 'start']);
  });

  it('copies only files that exist and that .dockerignore keeps in the build context', () => {
    const ignore = fs
      .readFileSync(path.join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#') && !l.startsWith('!'));
    const excluded = (p: string) =>
      ignore.some((pat) =>
        pat.includes('*') ? new RegExp(`^${pat.replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}$`).test(path.basename(p)) : p === pat || p.startsWith(`${pat}/`),
      );
    const sources = of('COPY')
      .filter((i) => !(i as unknown as { getFlags(): Array<{ getName(): string }> }).getFlags().some((f) => f.getName() === 'from'))
      .flatMap((i) =>
        i
          .getArguments()
          .slice(0, -1)
          .map((a) => a.getValue()),
      );
    expect(sources.length).toBeGreaterThan(5);
    for (const src of sources) {
      expect(fs.existsSync(path.join(root, src)), src).toBe(true);
      expect(excluded(src), src).toBe(false);
    }
    // Secrets and local state stay out of the context.
    for (const p of ['.env', 'node_modules', 'data', 'workspaces', '.git']) expect(excluded(p), p).toBe(true);
    expect(fs.statSync(path.join(root, 'docker/entrypoint.sh')).mode & 0o111).not.toBe(0);
  });

  it('has RUN commands and an entrypoint that pass ShellCheck (hadolint runs ShellCheck on RUN)', (ctx) => {
    const found = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' });
    if (found.error && process.env['CI'] !== 'true') ctx.skip(); // .ci/run installs it; locally: apt-get install shellcheck
    expect(found.status, 'shellcheck is not installed (apt-get install shellcheck)').toBe(0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-shellcheck-'));
    try {
      let shell = '/bin/sh';
      const files: string[] = [path.join(root, 'docker/entrypoint.sh')];
      for (const i of instructions) {
        if (i.getKeyword() === 'FROM') shell = '/bin/sh';
        if (i.getKeyword() === 'SHELL') shell = jsonArgs(i)[0]!;
        if (i.getKeyword() !== 'RUN') continue;
        const file = path.join(dir, `run-line-${i.getRange().start.line + 1}.sh`);
        fs.writeFileSync(file, `#!${shell}\n${i.getArgumentsContent()}\n`);
        files.push(file);
      }
      const r = spawnSync('shellcheck', ['--severity=style', ...files], { encoding: 'utf8' });
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('docker-compose.yml', () => {
  it('builds with the caller ids as build arguments and never runs as root', () => {
    expect(service.build?.args).toEqual({ AGENTBRIDGE_UID: '${AGENTBRIDGE_UID:-1000}', AGENTBRIDGE_GID: '${AGENTBRIDGE_GID:-1000}' });
    expect(service.user === undefined || !/^(0|root)(:|$)/.test(service.user)).toBe(true);
  });

  it('keeps data, workspaces and each agent home in named volumes', () => {
    const mounts = new Map((service.volumes ?? []).map((v) => [v.split(':')[1]!, v.split(':')[0]!]));
    for (const target of ['/data', '/workspaces', ...AGENT_HOMES.map((h) => `${home}/${h}`)]) {
      const source = mounts.get(target);
      expect(source, target).toBeDefined();
      expect(source, `${target} is a bind mount`).toMatch(/^[a-z][a-z0-9_-]*$/);
      expect(Object.keys(compose.volumes)).toContain(source);
    }
  });

  it('reads .env when it exists (env_file with required: false, Compose 2.24+)', () => {
    expect(service.env_file).toEqual([{ path: '.env', required: false }]);
  });

  it('publishes the port on loopback only, and binds 0.0.0.0 inside with the login enforced', () => {
    expect(service.ports?.length).toBeGreaterThan(0);
    for (const p of service.ports ?? []) expect(p.startsWith('127.0.0.1:'), p).toBe(true);
    const env = { ...imageEnv, ...service.environment };
    expect(Object.keys(env).filter((k) => /UNAUTH|INSECURE|NO_LOGIN/i.test(k))).toEqual([]);
    const config = loadConfig(env, '/app');
    expect(loginRequiredByConfig(config)).toBe(true);
    expect(() => assertLocalLoginPossible(config, 0)).toThrow(StartRefusedError);
  });

  it('has an init as pid 1, a restart policy for /agent restart, and a stop grace above the shutdown grace', () => {
    expect(service.init).toBe(true);
    expect(service.restart).toBe('unless-stopped');
    expect(service.environment?.['AGENTBRIDGE_RESTART_MODE']).toBe('exit');
    const grace = Number(/^(\d+)s$/.exec(service.stop_grace_period ?? '')?.[1]);
    expect(grace).toBeGreaterThan(loadConfig({}).shutdownGraceMs / 1000);
  });

  describe('the optional postgres service (profile postgres)', () => {
    const postgres = compose.services['postgres']!;

    it('runs only with the profile, and the default setup does not refer to it', () => {
      expect(postgres.profiles).toEqual(['postgres', 'cluster']);
      // Services without a profile are the default setup: only agentbridge, unchanged (no dependency,
      // link or variable naming the postgres service; its volume is unused there, so Compose leaves it out).
      expect(
        Object.entries(compose.services)
          .filter(([, s]) => !s.profiles)
          .map(([name]) => name),
      ).toEqual(['agentbridge']);
      expect(JSON.stringify(service)).not.toMatch(/postgres/i);
    });

    it('uses a tagged PostgreSQL 15 or 16 image, a named volume for its data, and a pg_isready healthcheck', () => {
      expect(postgres.image).toMatch(/^postgres:1[56](\.\d+)*$/);
      const [volume] = (postgres.volumes ?? []).filter((v) => v.endsWith(':/var/lib/postgresql/data'));
      const source = volume?.split(':')[0];
      expect(source).toMatch(/^[a-z][a-z0-9_-]*$/);
      expect(Object.keys(compose.volumes)).toContain(source);
      expect(postgres.healthcheck?.test?.join(' ')).toMatch(/pg_isready -U agentbridge -d agentbridge/);
      expect(postgres.environment).toMatchObject({ POSTGRES_USER: 'agentbridge', POSTGRES_DB: 'agentbridge' });
      expect(postgres.ports).toBeUndefined(); // only agentbridge reaches it
    });

    it('holds no literal password, and no required variable that would break the default setup', () => {
      expect(postgres.environment?.['POSTGRES_PASSWORD']).toBe('${POSTGRES_PASSWORD:-}');
      // Compose interpolates the whole file before it applies profiles: a `${VAR:?…}` or `${VAR?…}`
      // anywhere but in a comment would make `docker compose up` fail without the variable, profile or not.
      const yamlLines = composeText
        .split('\n')
        .filter((l) => !l.trim().startsWith('#'))
        .join('\n');
      expect(yamlLines).toContain('${POSTGRES_PASSWORD:-}');
      expect(yamlLines).not.toMatch(/\$\{[A-Za-z_][A-Za-z0-9_]*:?\?/);
      expect(composeText).not.toMatch(/postgres(ql)?:\/\/[^:\s]+:(?!\$\{POSTGRES_PASSWORD(:-)?\})[^@\s]+@/);
    });

    it('refuses to start without POSTGRES_PASSWORD with a message saying what to set, and otherwise runs the image entrypoint', () => {
      const [shell, flag, script, argv0] = postgres.entrypoint!;
      expect([shell, flag, argv0]).toEqual(['/bin/sh', '-c', 'docker-entrypoint.sh']);
      const unescaped = script!.replaceAll('$$', '$'); // Compose's escape for a literal $
      const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-pg-entry-'));
      try {
        fs.writeFileSync(path.join(bin, 'docker-entrypoint.sh'), '#!/bin/sh\necho "image entrypoint: $*"\n', { mode: 0o755 });
        const run = (password: string | undefined) =>
          spawnSync('/bin/sh', ['-c', unescaped, argv0!, ...postgres.command!], {
            encoding: 'utf8',
            env: { PATH: `${bin}:/usr/bin:/bin`, ...(password === undefined ? {} : { POSTGRES_PASSWORD: password }) },
          });
        for (const missing of [undefined, '']) {
          const r = run(missing);
          expect(r.status).toBe(1);
          expect(r.stderr).toMatch(/set POSTGRES_PASSWORD in \.env/);
        }
        const ok = run('s3cret');
        expect(ok.status).toBe(0);
        expect(ok.stdout).toBe('image entrypoint: postgres\n');
      } finally {
        fs.rmSync(bin, { recursive: true, force: true });
      }
    });
  });

  describe('the cluster profile (three instances on one PostgreSQL database)', () => {
    const NAMES = ['agentbridge-1', 'agentbridge-2', 'agentbridge-3'];
    const instances = NAMES.map((name) => [name, compose.services[name]!] as const);
    /** Compose's interpolation of `${NAME}` and `${NAME:-default}` with `vars` (what `docker compose` does before it runs a service). */
    const interpolate = (value: string, vars: Record<string, string>) =>
      value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, def?: string) => vars[name] || (def ?? ''));
    /** The configuration one instance runs with: the image's environment, then the service's, interpolated. */
    const configOf = (s: ComposeService) => {
      const env = Object.fromEntries(
        Object.entries({ ...imageEnv, ...s.environment }).map(([k, v]) => [k, interpolate(String(v), { POSTGRES_PASSWORD: 's3cret' })]),
      );
      return loadConfig(env, '/app');
    };
    const mounts = (s: ComposeService) => new Map((s.volumes ?? []).map((v) => [v.split(':')[1]!, v.split(':')[0]!]));

    it('has three agentbridge services, only in the profile, started after PostgreSQL is healthy (also in the profile)', () => {
      for (const [name, s] of instances) {
        expect(s, name).toBeDefined();
        expect(s.profiles, name).toEqual(['cluster']);
        expect(s.depends_on, name).toEqual({ postgres: { condition: 'service_healthy' } });
      }
      expect(compose.services['postgres']!.profiles).toContain('cluster');
      // Nothing of the profile leaks into the default setup (checked above too: the services without a profile).
      expect(JSON.stringify(service)).not.toMatch(/cluster/i);
    });

    it('runs each in cluster mode with its own instance id, all roles, on the one database of the profile', () => {
      const configs = instances.map(([, s]) => configOf(s));
      for (const [i, c] of configs.entries()) {
        expect(c.cluster, NAMES[i]).toMatchObject({ instanceId: NAMES[i], roles: ['ingress', 'worker', 'leader'] });
        expect(c.database).toEqual({ backend: 'postgres', url: 'postgres://agentbridge:s3cret@postgres:5432/agentbridge' });
      }
      expect(new Set(configs.map((c) => c.cluster!.instanceId)).size).toBe(3);
      // The URL comes from the service, not from .env (whose URL, if any, would be the default service's).
      for (const [, s] of instances)
        expect(s.environment?.['AGENTBRIDGE_DATABASE_URL']).toBe('postgres://agentbridge:${POSTGRES_PASSWORD:-}@postgres:5432/agentbridge');
    });

    it('gives each its own named data volume, and shares workspaces and agent homes only together with AGENTBRIDGE_WORKSPACES_SHARED', () => {
      const data = instances.map(([, s]) => mounts(s).get('/data'));
      expect(new Set(data).size).toBe(3);
      expect(data).not.toContain(mounts(service).get('/data')); // not the single instance's either
      const shared = ['/workspaces', ...AGENT_HOMES.map((h) => `${home}/${h}`)];
      for (const [name, s] of instances) {
        for (const target of ['/data', ...shared]) {
          const source = mounts(s).get(target);
          expect(source, `${name} ${target}`).toMatch(/^[a-z][a-z0-9_-]*$/);
          expect(Object.keys(compose.volumes)).toContain(source);
        }
      }
      const sharedVolumes = shared.every((t) => new Set(instances.map(([, s]) => mounts(s).get(t))).size === 1);
      for (const [name, s] of instances) expect(configOf(s).cluster!.workspacesShared, name).toBe(sharedVolumes);
    });

    it('publishes each on its own loopback port, binds 0.0.0.0 inside only with the login enforced, and is built and stopped like the default service', () => {
      const ports = instances.flatMap(([, s]) => s.ports ?? []);
      expect(ports).toHaveLength(3);
      for (const p of ports) expect(p.startsWith('127.0.0.1:'), p).toBe(true);
      expect(new Set(ports.map((p) => p.split(':')[1])).size).toBe(3);
      for (const [name, s] of instances) {
        const config = configOf(s);
        expect(loginRequiredByConfig(config), name).toBe(true);
        expect(() => assertLocalLoginPossible(config, 0)).toThrow(StartRefusedError);
        expect(s.build, name).toEqual(service.build);
        expect(s.user === undefined || !/^(0|root)(:|$)/.test(s.user)).toBe(true);
        expect(s.env_file, name).toEqual([{ path: '.env', required: false }]);
        expect(s.init, name).toBe(true);
        expect(s.restart, name).toBe('unless-stopped');
        expect(config.restartMode, name).toBe('exit');
        expect(Number(/^(\d+)s$/.exec(s.stop_grace_period ?? '')?.[1]), name).toBeGreaterThan(config.shutdownGraceMs / 1000);
        expect(s.healthcheck?.test, name).toEqual(service.healthcheck?.test);
      }
    });
  });
});
