// Which store the configuration names: PostgreSQL with DATABASE_URL (shared by instances), else SQLite in DATA_DIR.
import type { Config } from '../config.js';
import { SqliteEndpointStore } from './sqlite.js';
import type { EndpointStore } from './endpoint-store.js';

export async function connectStore(
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
  onWarning?: (message: string, err?: unknown) => void,
): Promise<EndpointStore> {
  if (!config.databaseUrl) return new SqliteEndpointStore(config.dataDir);
  // Loaded only when named: pg is about a tenth of the modules a start loads, and most instances run on SQLite.
  const { PostgresEndpointStore } = await import('./postgres.js');
  return PostgresEndpointStore.open(config.databaseUrl, { onWarning });
}
