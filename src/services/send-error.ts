// The failure every provider's upstream call reports: the mapped service error and what the dispatcher may do about it.
import type { EsError } from '../errors.js';

/** How a failed upstream request may be tried again. */
export interface SendFailure {
  error: EsError;
  /** none: fail; backoff: try again later; split: the batch (or the one input) was too large. */
  retry: 'none' | 'backoff' | 'split';
  /** How long the upstream asked us to wait (Retry-After, estimated_time). */
  waitMs?: number;
  /** The largest batch the upstream says it takes. */
  maxBatchSize?: number;
}

/** Thrown by a provider's upstream call; src/dispatch/endpoint-queue.ts reads `failure` to retry, split or give up. */
export class SendError extends Error {
  constructor(readonly failure: SendFailure) {
    super(failure.error.reason);
  }
}
