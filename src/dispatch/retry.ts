// Why an upstream request failed and what may be tried next: the retry policy of docs/rate-limiting.md#retries and the failure every provider reports.
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

/** Thrown by a provider's upstream call: the mapped error and what the dispatcher may do about it. */
export class SendError extends Error {
  constructor(readonly failure: SendFailure) {
    super(failure.error.reason);
  }
}

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** docs/rate-limiting.md#retries: at most 3 attempts, back-off from 1 s doubling to at most 5 s. */
export const DEFAULT_RETRY: RetryPolicy = Object.freeze({ maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 5000 });

/** The wait before attempt `attempts + 1`: what the upstream asked for, else exponential back-off. */
export function retryDelay(policy: RetryPolicy, attempts: number, failure: SendFailure): number {
  return failure.waitMs ?? Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempts - 1));
}
