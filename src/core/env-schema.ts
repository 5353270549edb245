/**
 * zod building blocks for environment variables, shared by `src/config.ts` (agentbridge's own
 * variables) and the platform modules' config fragments (`src/platforms/<name>/config.ts`).
 * Every schema reads a raw string; an empty value has already been turned into `undefined`
 * (`FOO=` in `.env` counts as unset). Messages never echo the value: `src/config.ts`
 * (`describeIssue`) puts it in front (`NAME: 'value' must be…`), except for secrets.
 */
import { z } from 'zod';

/** A switch: `on|true|1|yes` → true, `off|false|0|no` → false. */
export const onOff = z.enum(['on', 'off', 'true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['on', 'true', '1', 'yes'].includes(v));

/** A whole number ≥ 1, `def` when unset. */
export const positiveInt = (def: number) =>
  z
    .string()
    .default(String(def))
    .transform((v, ctx) => {
      const n = Number(v);
      if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) {
        ctx.addIssue({ code: 'custom', message: 'must be a whole number ≥ 1' });
        return z.NEVER;
      }
      return n;
    });

/** A whole number ≥ 0 (0 allowed, e.g. "no grace period"), `def` when unset. */
export const nonNegativeInt = (def: number) =>
  z
    .string()
    .default(String(def))
    .transform((v, ctx) => {
      const n = Number(v);
      if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) {
        ctx.addIssue({ code: 'custom', message: 'must be a whole number ≥ 0' });
        return z.NEVER;
      }
      return n;
    });

/** An optional string, trimmed; blank → undefined. */
export const optionalString = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() ? v.trim() : undefined));

/** An optional http(s) URL (only the scheme is checked). */
export const optionalHttpUrl = optionalString.refine((v) => v === undefined || /^https?:\/\//.test(v), 'must be an http(s) URL');
