// One endpoint's rate limit: upstream requests spaced evenly at requests_per_minute (bottleneck), no bursts.
import Bottleneck from 'bottleneck';

const intervalMs = (requestsPerMinute: number) => 60_000 / requestsPerMinute;

export class RateLimiter {
  private readonly bottleneck: Bottleneck;

  constructor(requestsPerMinute: number) {
    // minTime spaces the starts of jobs: at 3000/min one every 20 ms. maxConcurrent stays open:
    // how many requests are in flight is bounded elsewhere, by the service-wide queue.
    this.bottleneck = new Bottleneck({ minTime: intervalMs(requestsPerMinute), maxConcurrent: null });
  }

  /** Applies a new rate to the live limiter (an `_update`). */
  setRate(requestsPerMinute: number): void {
    this.bottleneck.updateSettings({ minTime: intervalMs(requestsPerMinute) });
  }

  /** Resolves when the next upstream request may start: one token per request. */
  acquire(): Promise<void> {
    return this.bottleneck.schedule(() => Promise.resolve());
  }

  async stop(): Promise<void> {
    await this.bottleneck.stop({ dropWaitingJobs: true }).catch(() => undefined);
  }
}
