/**
 * Names cluster mode's parts share (docs/ARCHITECTURE.md §10): the pg-boss schema and queue of
 * the conversations' wake-up jobs, and the leader leases.
 */

/** The PostgreSQL schema pg-boss keeps its tables in (created by pg-boss on first start). */
export const PGBOSS_SCHEMA = 'pgboss';

/**
 * The queue of wake-up jobs: one job per accepted message, `singletonKey` = its conversation id,
 * policy `key_strict_fifo` (pg-boss ≥ 12.11: at most one active job per key, FIFO per key).
 */
export const TURN_QUEUE = 'agentbridge-turns';

/** The leader's leases: each held by at most one instance at a time (a PostgreSQL advisory lock). */
export const LEASES = ['discord-gateway', 'scheduler', 'maintenance'] as const;
export type LeaseName = (typeof LEASES)[number];
