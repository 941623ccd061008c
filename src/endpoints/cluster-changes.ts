// Changes made by other instances sharing the store, republished here: endpoints created/updated/deleted elsewhere, API
// keys revoked elsewhere.
//
// The shared store announces every write in the write's own transaction (PostgreSQL NOTIFY), so
// an acknowledged change cannot commit unannounced, and this instance's own writes come back
// filtered out by the store: a change is published locally once, never looped back.
import type { EndpointStore } from '../store/endpoint-store.js';
import type { EndpointChanges } from './changes.js';

export interface ClusterChangesDeps {
  store: EndpointStore;
  /** Where this instance's live state (limiters, queues, bound endpoints) listens. */
  changes: EndpointChanges;
  /** Forgets what this instance caches about API keys (an instance elsewhere created or revoked one). */
  forgetApiKeys(): void;
}

/**
 * Follows the writes of the other instances; resolves once following (before the service
 * answers anything). Returns false when the store is this process's alone (SQLite).
 */
export async function followClusterChanges({ store, changes, forgetApiKeys }: ClusterChangesDeps): Promise<boolean> {
  if (!store.watch) return false;
  await store.watch(
    (change) => {
      if (change.table === 'api_keys') forgetApiKeys();
      else changes.publish({ kind: change.op, inferenceId: change.id });
    },
    () => {
      forgetApiKeys();
      changes.publish({ kind: 'reload' });
    },
  );
  return true;
}
