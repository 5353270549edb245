/**
 * `agentbridge start`: runs the service until SIGTERM/SIGINT, then shuts down gracefully
 * (a second signal exits at once).
 */
import { startApp } from '../app.js';
import { fail, setup } from './env.js';

export async function runStart(): Promise<void> {
  const { config, logger } = setup();
  let app;
  try {
    app = await startApp(config, logger);
  } catch (err) {
    const e = err as Error;
    logger.fatal({ err: e.message }, 'agentbridge could not start');
    fail(e.message, 1);
  }
  process.stdout.isTTY && process.stdout.write(`\nagentbridge is running: open ${app.url}/ in your browser.\n\n`);
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(130);
    logger.info({ signal: sig }, 'signal received');
    void app.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err: String(err) }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
