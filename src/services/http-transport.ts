// Outbound HTTP for every service: undici keep-alive pools, bounded per origin, size-capped answers, no redirects.
import type { LookupFunction } from 'node:net';
import { Agent, request } from 'undici';
import type { UpstreamGuard } from './upstream-guard.js';

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface TransportOptions {
  /** Connections kept per upstream origin. */
  connectionsPerOrigin: number;
  /** Largest response body read; a larger one fails the call with RESPONSE_TOO_LARGE. */
  maxResponseBytes: number;
  connectTimeoutMs: number;
  /** Longest one call may take in all (a hanging or trickling upstream is cut off). */
  callTimeoutMs: number;
  /** Refuses hosts before calling them, and the addresses they resolve to when connecting. */
  guard: UpstreamGuard;
}

/** The error of a call cut off by callTimeoutMs. */
export const CALL_TIMED_OUT = 'UPSTREAM_CALL_TIMED_OUT';

/** undici's error for an answer over maxResponseSize. */
export const RESPONSE_TOO_LARGE = 'UND_ERR_RES_EXCEEDED_MAX_SIZE';

export class HttpTransport {
  private readonly agent: Agent;

  constructor(private readonly options: TransportOptions) {
    this.agent = new Agent({
      connections: options.connectionsPerOrigin,
      keepAliveTimeout: 30_000,
      connect: { timeout: options.connectTimeoutMs, lookup: options.guard.lookup as LookupFunction },
      maxResponseSize: options.maxResponseBytes,
    });
  }

  /**
   * POSTs `body`; rejects on network errors, on a refused host, on abort, and when the call
   * outlasts callTimeoutMs. Redirects are returned, never followed.
   */
  async post(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<UpstreamResponse> {
    this.options.guard.checkHost(url);
    // One controller for this call, aborted by the caller's signal or by the call's time limit
    // (a plain timer: AbortSignal.timeout/any cost several times more on this hot path).
    const call = new AbortController();
    let timedOut = false;
    const onAbort = () => call.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => {
      timedOut = true;
      call.abort();
    }, this.options.callTimeoutMs);
    try {
      const res = await request(url, { method: 'POST', headers, body, signal: call.signal, dispatcher: this.agent });
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
    } catch (err) {
      if (timedOut && !signal.aborted) throw Object.assign(new Error('the upstream call timed out'), { code: CALL_TIMED_OUT });
      throw err;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
