// Which store the configuration names: PostgreSQL with DATABASE_URL (shared by instances), else SQLite in DATA_DIR.
import type { Config } from '../config.js';
import { PostgresEndpointStore } from './postgres.js';
import { SqliteEndpointStore } from './sqlite.js';
import type { EndpointStore } from './endpoint-store.js';

export async function connectStore(
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
  onWarning?: (message: string, err?: unknown) => void,
): Promise<EndpointStore> {
  return config.databaseUrl
    ? PostgresEndpointStore.open(config.databaseUrl, { onWarning })
    : new SqliteEndpointStore(config.dataDir);
}
