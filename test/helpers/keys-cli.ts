// API keys for a test, made by the real keys command (as an operator makes them) in the test's data directory.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const KEYS_CLI = fileURLToPath(new URL('../../src/cli/keys.js', import.meta.url));

/** A new key, as `npm run keys -- create --json` prints it; `encoded` is what clients send. */
export function createKey(dataDir: string, name: string, privilege: string): { id: string; encoded: string } {
  return JSON.parse(
    execFileSync(process.execPath, [KEYS_CLI, 'create', '--name', name, '--privilege', privilege, '--json'], {
      env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir },
      encoding: 'utf8',
      // A synchronous child cannot outlive this call; a hung one is killed rather than hanging the test.
      timeout: 30_000,
      killSignal: 'SIGKILL',
    }),
  );
}
