// What may be tried after an upstream request failed: the retry policy of docs/rate-limiting.md#retries.
import type { SendFailure } from '../services/send-error.js';

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
