// The service's own rate limiter, counted: a test can wait until the queue is waiting for a grant instead of sleeping
// and hoping.
import { LocalRateLimiter, type RateLimiter, type RateLimiterFactory } from '../../src/dispatch/rate-limiter.js';

export interface CountingLimiters {
  /** Pass as BuildOptions.limiters. */
  factory: RateLimiterFactory;
  /** Grants asked for so far, across endpoints. */
  readonly acquires: number;
  /** Resolves once `n` grants have been asked for: the queue has work waiting for the limiter. */
  waitForAcquires(n: number, timeoutMs?: number): Promise<void>;
}

export function countingLimiters(): CountingLimiters {
  let acquires = 0;
  const waiters: Array<{ n: number; resolve(): void }> = [];
  const factory: RateLimiterFactory = (_id, requestsPerMinute) => {
    const real = new LocalRateLimiter(requestsPerMinute);
    const counted: RateLimiter = {
      acquire(cancel) {
        acquires++;
        for (const w of waiters.filter((w) => acquires >= w.n)) w.resolve();
        return real.acquire(cancel);
      },
      sent: () => real.sent(),
      poll: () => real.poll(),
      setRate: (rpm) => real.setRate(rpm),
      close: () => real.close(),
    };
    return counted;
  };
  return {
    factory,
    get acquires() {
      return acquires;
    },
    waitForAcquires(n, timeoutMs = 10_000) {
      if (acquires >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`only ${acquires} of ${n} rate-limit grants were asked for`)),
          timeoutMs,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
}
