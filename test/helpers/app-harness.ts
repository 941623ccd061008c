// Builds the service for a test: a fresh data directory, captured log lines, and small request helpers.
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp, type BuildOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { offlineResolver } from './network.js';

export interface Tap {
  testdir(fixture?: unknown): string;
  teardown(fn: () => unknown): void;
}

/** Every log line the app wrote, as text (for secret-hygiene assertions) and parsed. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestApp {
  app: FastifyInstance;
  dataDir: string;
  logs: LogCapture;
  request(
    method: InjectOptions['method'],
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{
    status: number;
    json: any;
    body: string;
    headers: Record<string, unknown>;
  }>;
}

export async function startApp(
  t: Tap,
  env: Record<string, string> = {},
  dataDir = t.testdir(),
  build: BuildOptions = {},
): Promise<TestApp> {
  const logs = new LogCapture();
  // Endpoints point at hosts that do not exist here: no create-time call unless a test asks for
  // it, the serverless API at a reserved name, and no name looked up on a real DNS server.
  const config = loadConfig({
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    SKIP_VALIDATION: 'true',
    // Tests send the same texts again and count what the upstream receives: the embedding cache would answer them.
    // Its own tests turn it on (test/http/embedding-cache.test.ts).
    EMBEDDING_CACHE_SIZE: '0',
    HF_API_BASE: 'https://router.huggingface.test/hf-inference',
    ...env,
  });
  const app = await buildApp(config, { logStream: logs, ...build, resolver: build.resolver ?? offlineResolver });
  t.teardown(() => app.close());
  return {
    app,
    dataDir,
    logs,
    async request(method, url, body, headers = {}) {
      const res = await app.inject({
        method,
        url,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      let json: unknown;
      try {
        json = JSON.parse(res.body);
      } catch {
        json = undefined;
      }
      return { status: res.statusCode, json, body: res.body, headers: res.headers };
    },
  };
}

/** The Elasticsearch error envelope a test expects. */
export function envelope(status: number, type: string, reason: string) {
  return { error: { root_cause: [{ type, reason }], type, reason }, status };
}

export const API_KEY = 'hf_TestKeyDoNotLeak0123456789';

/** The url of hfBody's endpoint: shaped like an Inference Endpoint, under the reserved `.test` name (RFC 6761). */
export const ENDPOINT_URL = 'https://xyz.endpoints.huggingface.test';

/** A valid PUT body for a text_embedding endpoint, with parts replaced or added. */
export function hfBody(serviceSettings: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: ENDPOINT_URL, ...serviceSettings },
    ...extra,
  };
}
