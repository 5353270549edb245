/** Abort reasons of a turn's signal. */

/** The turn is cut because agentbridge shuts down: it runs again after the restart. Any other reason counts as a user stop. */
export const SHUTDOWN = 'shutdown';
/** The turn is stopped to start a new one with everything pending (AGENTBRIDGE_BUSY_MODE=interrupt). */
export const SUPERSEDED = 'superseded';
