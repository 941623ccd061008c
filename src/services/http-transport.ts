// Outbound HTTP for every service: undici keep-alive pools, bounded per origin, size-capped answers, no redirects.
import { Agent, request } from 'undici';

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
}

/** undici's error for an answer over maxResponseSize. */
export const RESPONSE_TOO_LARGE = 'UND_ERR_RES_EXCEEDED_MAX_SIZE';

export class HttpTransport {
  private readonly agent: Agent;

  constructor(private readonly options: TransportOptions) {
    this.agent = new Agent({
      connections: options.connectionsPerOrigin,
      keepAliveTimeout: 30_000,
      connect: { timeout: options.connectTimeoutMs },
      maxResponseSize: options.maxResponseBytes,
    });
  }

  /** POSTs `body`; rejects on network errors and on abort. Redirects are returned, never followed. */
  async post(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<UpstreamResponse> {
    const res = await request(url, { method: 'POST', headers, body, signal, dispatcher: this.agent });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
