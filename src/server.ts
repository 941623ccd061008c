// Process entry: read the configuration, build the app, listen, and close gracefully on SIGTERM/SIGINT.
import { buildApp } from './app.js';
import { ConfigError, describeRateLimiter, LISTEN_BACKLOG, loadConfig } from './config.js';

/** How long in-flight requests (streams above all) have to finish once a stop is asked for. */
const SHUTDOWN_GRACE_MS = 8000;

async function main(): Promise<void> {
  const config = loadConfig();
  const app = await buildApp(config);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    // A stream may go on for minutes: what is still open after the grace is cut (its upstream
    // request ends with it), so the process exits before an orchestrator's kill (10 s by default).
    setTimeout(() => {
      app.log.warn(`shutting down: connections still open after ${SHUTDOWN_GRACE_MS / 1000} s are closed`);
      app.server.closeAllConnections();
    }, SHUTDOWN_GRACE_MS).unref();
    // close(): stop accepting, let in-flight requests finish, then run onClose (the database closes last).
    app.close().then(
      () => process.exit(0),
      (err) => {
        app.log.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // fastify logs a bare "Server listening at" line of its own (one per interface); this start-up
  // line replaces it and says what the instance runs with. Nothing else logs while listen() runs.
  const level = app.log.level;
  app.log.level = 'silent';
  let address: string;
  try {
    address = await app.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG });
  } catch (err) {
    // A port in use or not ours to take: the store and Redis close before the process exits
    // (the database checkpointed, not left for recovery at the next start).
    await app.close().catch(() => undefined);
    throw err;
  } finally {
    app.log.level = level;
  }
  const { store, dataDir, auth } = app.deployment;
  app.log.info(
    { address, store, rate_limiter: describeRateLimiter(config), auth: await auth(), data_dir: dataDir },
    `Server listening at ${address}`,
  );
}

main().catch((err) => {
  // Configuration and start-up problems are one clear line, not a stack trace.
  const message =
    err instanceof ConfigError ? `configuration error: ${err.message}` : `failed to start: ${(err as Error).message}`;
  process.stderr.write(message + '\n');
  process.exit(1);
});
