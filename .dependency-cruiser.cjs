/**
 * Import direction of agentbridge's src/ (`npm run lint:deps`). Imports point down only:
 *
 *   layer 5  app/cli    src/app.ts, src/compose.ts (the composition root), src/cli.ts, src/cli/, src/config.ts (reads the environment: loadConfig),
 *                       src/machine.ts (reads the machine's CPUs, memory and cgroup limits for loadConfig)
 *   layer 4  cluster                          (src/cluster/: cluster mode's queue, worker, leases, signals — over layer 3)
 *   layer 3  conversation, scheduler, tools   (src/conversation/, src/scheduler/, src/tools/)
 *   layer 2  runners, platforms               (src/runners/, src/platforms/) — never each other
 *   layer 1  store, http                      (src/store/ — the only SQL; src/http/ — the one HTTP server)
 *   layer 0  core                             (src/core/: shared types and pure helpers — ids, chunking,
 *                                              config TYPES; imports nothing else from src/)
 *   leaf     src/logger.ts                    (imports nothing from src/; usable by every layer but core)
 *
 * A module may import from its own layer (inside its folder, or — in layer 3 — the other layer-3
 * folders) and from any layer below; never from a layer above. No cycles anywhere.
 */
const layer = {
  core: '^src/core/',
  logger: '^src/logger\\.ts$',
  store: '^src/store/',
  http: '^src/http/',
  runners: '^src/runners/',
  platforms: '^src/platforms/',
  upper: '^src/(conversation|scheduler|tools)/',
  cluster: '^src/cluster/',
  top: '^src/(app\\.ts|compose\\.ts|cli\\.ts|cli/|config\\.ts|machine\\.ts)',
};

/** A rule forbidding `from` to import anything in `src/` but `allowed`. */
function only(name, from, allowed, comment) {
  return {
    name,
    comment,
    severity: 'error',
    from: { path: from },
    to: { path: '^src/', pathNot: allowed.join('|') },
  };
}

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'Import cycles hide layering; break them with a type in core or an injected dependency.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    only('core-is-the-bottom', layer.core, [layer.core], 'src/core imports nothing else from src/.'),
    only('logger-is-a-leaf', layer.logger, [], 'src/logger.ts imports nothing from src/.'),
    only('store-depends-on-core', layer.store, [layer.core, layer.logger, layer.store], 'The store sees core types only (and the logger).'),
    only('http-depends-on-core', layer.http, [layer.core, layer.logger, layer.http], 'The HTTP server is infrastructure at the store level.'),
    only(
      'runners-below-conversation',
      layer.runners,
      [layer.core, layer.logger, layer.store, layer.http, layer.runners],
      'Runners know core, store and http; not platforms or anything above.',
    ),
    only(
      'platforms-below-conversation',
      layer.platforms,
      [layer.core, layer.logger, layer.store, layer.http, layer.platforms],
      'Platforms know core, store and http; not runners or anything above.',
    ),
    only(
      'conversation-scheduler-tools-below-app',
      layer.upper,
      [layer.core, layer.logger, layer.store, layer.http, layer.runners, layer.platforms, layer.upper],
      'Layer 3 never imports cluster mode, the app, the CLI or the config loader.',
    ),
    only(
      'cluster-below-app',
      layer.cluster,
      [layer.core, layer.logger, layer.store, layer.http, layer.runners, layer.platforms, layer.upper, layer.cluster],
      'Cluster mode drives layer 3; it never imports the app, the composition root, the CLI or the config loader.',
    ),
    { name: 'not-to-unresolvable', severity: 'error', from: { path: '^src/' }, to: { couldNotResolve: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsConfig: { fileName: 'tsconfig.build.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.d.ts', '.js'] },
  },
};
