/** Core turn types shared by the conversation layer, the scheduler and the app. */

/**
 * What happened to a turn, for the caller's bookkeeping and metrics (the `outcome` label):
 * `ok` answered; `failed` the agent failed; `stopped` stopped by a person; `timeout` hit the turn
 * timeout; `interrupted` cut by shutdown (runs again after the next start); `undeliverable` no
 * adapter runs for the reply platform (the messages stay queued).
 */
export type TurnOutcome = 'ok' | 'failed' | 'stopped' | 'timeout' | 'interrupted' | 'undeliverable';
