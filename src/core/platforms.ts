/**
 * The registration point of the chat platforms. `src/core` knows no platform by name: each
 * platform module (`src/platforms/<name>/index.ts`) adds its name and the type of its settings
 * to {@link PlatformConfigs} by TypeScript declaration merging,
 *
 * ```ts
 * declare module '../../core/platforms.js' {
 *   interface PlatformConfigs { slack: SlackConfig }
 * }
 * ```
 *
 * and {@link PlatformName} — the one list of platform names every layer uses (message types, the
 * store's rows, cron targets) — is derived from it. The module's registry line
 * (`src/platforms/registry.ts`) brings it into the program; the runtime list of platforms is
 * that registry. So a new platform is its folder plus that line, and no file in core changes.
 */

/**
 * Platform name → the type of that platform's settings in {@link PlatformSettings} (and so in
 * `Config`). Empty here; filled by the platform modules (see the file header).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface PlatformConfigs {}

/** The chat platforms agentbridge talks on: the names registered in {@link PlatformConfigs}. */
export type PlatformName = keyof PlatformConfigs & string;

/**
 * Each platform's settings, under the platform's name; absent when the platform is not
 * configured (Slack and Discord without a bot token). The `Config` type extends this.
 */
export type PlatformSettings = { [N in PlatformName]?: PlatformConfigs[N] };
