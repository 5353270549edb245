/**
 * The platform registry: one line per platform module (`./<name>/index.ts`, see `./module.ts`).
 * Everything that lists platforms goes by it — the configuration's variables and validation
 * (`src/config.ts`), which adapters run (`createAdapters`), cron job targets (the cron service
 * and `agentbridge cron add --platform/--channel`), platform-qualified ids in the access lists,
 * conversation ids ({@link parseConversationId}) and help texts.
 *
 * Adding a platform: its folder with an `index.ts` module, and its line here (README "Extending").
 * The order is the order of help texts and of creating the adapters.
 */
import type { Config } from '../core/config.js';
import { InvalidConversationIdError, splitConversationId } from '../core/ids.js';
import type { PlatformName } from '../core/platforms.js';
import { discordPlatform } from './discord/index.js';
import { localPlatform } from './local/index.js';
import type { AnyPlatformModule, PlatformDeps, PlatformModule } from './module.js';
import { slackPlatform } from './slack/index.js';
import type { PlatformAdapter } from './types.js';

/** The registered platforms, one line each. */
const REGISTERED = [slackPlatform, discordPlatform, localPlatform] as const;

/** The registered platforms. */
export const PLATFORMS: readonly AnyPlatformModule[] = REGISTERED;

/** A list of platform modules: {@link PLATFORMS}, or (in tests) another list given in its place. */
export type PlatformRegistry = readonly AnyPlatformModule[];

/** The parts of a conversation id of any registered platform (a union over their `ids.parse`). */
export type ParsedConversationId = ReturnType<(typeof REGISTERED)[number]['ids']['parse']>;

/** The module of `name`, or undefined when no such platform is registered. */
export function platformModule(name: string, registry: PlatformRegistry = PLATFORMS): AnyPlatformModule | undefined {
  return registry.find((m) => m.name === name);
}

/** The registered platform names, in registry order. */
export function platformNames(registry: PlatformRegistry = PLATFORMS): PlatformName[] {
  return registry.map((m) => m.name);
}

/**
 * Splits a conversation id made by a platform's builder back into its parts, by its platform's
 * `ids.parse`. `parse(build(x))` gives back `x`, and `build(parse(id)) === id` for every valid id.
 * @throws InvalidConversationIdError for anything else (unknown platform, wrong number of
 *   parts, empty part)
 */
export function parseConversationId(id: string, registry: PlatformRegistry = PLATFORMS): ParsedConversationId {
  const { platform, parts } = splitConversationId(id);
  const module = platformModule(platform, registry);
  if (!module) throw new InvalidConversationIdError(id, `unknown platform ${JSON.stringify(platform)}`);
  return module.ids.parse(id, parts) as ParsedConversationId;
}

/** Whether `module`'s adapter runs with `config` (its `enabled`, else: its settings are present). */
function isEnabled(module: AnyPlatformModule, config: Config, registry: PlatformRegistry): boolean {
  const settings = config[module.name];
  if (!module.enabled) return settings !== undefined;
  const others = registry.filter((m) => m.name !== module.name && config[m.name] !== undefined && !m.enabled).map((m) => m.name);
  return (module.enabled as (s: unknown, o: readonly PlatformName[]) => boolean)(settings, others);
}

/** Whether platform `name` runs with `config` (false for an unregistered name). */
export function isPlatformEnabled(config: Config, name: string, registry: PlatformRegistry = PLATFORMS): boolean {
  const module = platformModule(name, registry);
  return module !== undefined && isEnabled(module, config, registry);
}

/** The platforms that run with `config`, in registry order (cron targets elsewhere are refused). */
export function enabledPlatforms(config: Config, registry: PlatformRegistry = PLATFORMS): PlatformName[] {
  return registry.filter((m) => isEnabled(m, config, registry)).map((m) => m.name);
}

/** The HTTP paths every registered platform authenticates itself (for the Host allow-list: `src/http/hosts.ts`). */
export function hostCheckExemptPaths(registry: PlatformRegistry = PLATFORMS): string[] {
  return registry.flatMap((m) => m.hostCheckExemptPaths ?? []);
}

/** Creates the adapters of the enabled platforms (not started), in registry order. */
export async function createAdapters(deps: PlatformDeps, registry: PlatformRegistry = PLATFORMS): Promise<PlatformAdapter[]> {
  const adapters: PlatformAdapter[] = [];
  for (const module of registry) {
    if (!isEnabled(module, deps.config, registry)) continue;
    const create = module.create as PlatformModule['create'];
    adapters.push(await create(deps.config[module.name] as never, deps));
  }
  return adapters;
}
