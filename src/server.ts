// Process entry: read the configuration, build the app, listen, and close gracefully on SIGTERM/SIGINT.
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const app = await buildApp(config);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
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
  await app.listen({ port: config.port, host: config.host });
}

main().catch((err) => {
  // Configuration and start-up problems are one clear line, not a stack trace.
  const message = err instanceof ConfigError ? `configuration error: ${err.message}` : `failed to start: ${(err as Error).message}`;
  process.stderr.write(message + '\n');
  process.exit(1);
});
