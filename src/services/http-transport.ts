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
  /** Largest response body read; a larger one fails the call. */
  maxResponseBytes: number;
  connectTimeoutMs: number;
}

export class ResponseTooLargeError extends Error {
  readonly code = 'RESPONSE_TOO_LARGE';
  constructor(limit: number) {
    super(`the upstream response exceeded ${limit} bytes`);
  }
}

export class HttpTransport {
  private readonly agent: Agent;

  constructor(private readonly options: TransportOptions) {
    this.agent = new Agent({
      connections: options.connectionsPerOrigin,
      keepAliveTimeout: 30_000,
      connect: { timeout: options.connectTimeoutMs },
    });
  }

  /** POSTs `body`; rejects on network errors and on abort. Redirects are returned, never followed. */
  async post(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<UpstreamResponse> {
    const res = await request(url, { method: 'POST', headers, body, signal, dispatcher: this.agent, maxRedirections: 0 } as Parameters<typeof request>[1]);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > this.options.maxResponseBytes) {
        res.body.destroy();
        throw new ResponseTooLargeError(this.options.maxResponseBytes);
      }
      chunks.push(chunk as Buffer);
    }
    return { status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
