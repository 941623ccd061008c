// A real HTTP server on 127.0.0.1 that plays Hugging Face (TEI, Inference Endpoints, the serverless API), failures included.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The parsed body (null when recordBodies is off). */
  body: any;
  /** How many texts `inputs` held. */
  inputCount: number;
  /** Milliseconds (performance.now()) when the request arrived. */
  at: number;
}

/** What the server does with one request, instead of answering normally. */
export type Behaviour =
  | { status: number; json?: unknown; text?: string; headers?: Record<string, string> }
  | { drop: true } // closes the connection without an answer
  | { hang: true } // never answers
  | { delayMs: number } // answers normally, late
  | { resetMidBody: true } // sends the headers and half a body, then closes
  | { trickle: true }; // sends the headers, then one byte a second, forever

export type Shape = 'tei' | 'embeddings' | 'flat' | 'tokens';

/**
 * A deterministic vector for a text: values are multiples of 1/1024, so sums and means of a few
 * of them are exact in floating point and tests can compare with ===.
 */
export function vectorFor(text: string, dims: number): number[] {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  const out: number[] = [];
  for (let d = 0; d < dims; d++) {
    h = (Math.imul(h, 1664525) + 1013904223) >>> 0;
    out.push(((h >>> 16) % 2049) / 1024 - 1);
  }
  return out;
}

export class FakeHuggingFace {
  readonly received: ReceivedRequest[] = [];
  dims = 16;
  shape: Shape = 'tei';
  /** TEI's max_client_batch_size: larger batches get its 422. */
  maxBatch = 32;
  /** Bodies over this get 413 (TEI's 2 MB default). */
  maxBodyBytes = 2 * 1024 * 1024;
  /** Every normal answer waits this long (a slow upstream). */
  delayMs = 0;
  /** Keep request bodies in `received` (benchmarks turn it off to keep the upstream light). */
  recordBodies = true;
  /** When set, requests must carry `Authorization: Bearer <requiredKey>`. */
  requiredKey: string | undefined;
  private readonly script: Behaviour[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  url = '';

  constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next requests get these behaviours, one each, in order. */
  next(...behaviours: Behaviour[]): this {
    this.script.push(...behaviours);
    return this;
  }

  /** Every text received, in order. */
  get texts(): string[] {
    return this.received.flatMap((r) => (Array.isArray(r.body?.inputs) ? r.body.inputs : []));
  }

  vector(text: string): number[] {
    return vectorFor(text, this.dims);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Arrival is when the headers came in, not when the body finished.
    const at = performance.now();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= this.maxBodyBytes) chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      const inputs = (body as { inputs?: unknown } | null)?.inputs;
      this.received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: this.recordBodies ? req.headers : {},
        body: this.recordBodies ? body : null,
        inputCount: Array.isArray(inputs) ? inputs.length : typeof inputs === 'string' ? 1 : 0,
        at,
      });
      if (req.method === 'GET' && req.url === '/info') {
        this.json(res, 200, { model_id: 'fake/model', max_client_batch_size: this.maxBatch, max_input_length: 512, max_batch_tokens: 16384 });
        return;
      }
      if (size > this.maxBodyBytes) {
        res.writeHead(413, { 'content-type': 'text/plain' }).end('Payload Too Large');
        return;
      }
      const behaviour = this.script.shift();
      if (behaviour && 'drop' in behaviour) {
        req.socket.destroy();
        return;
      }
      if (behaviour && 'hang' in behaviour) return;
      if (behaviour && 'resetMidBody' in behaviour) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('[[0.1, 0.2,');
        setTimeout(() => req.socket.destroy(), 20);
        return;
      }
      if (behaviour && 'trickle' in behaviour) {
        res.writeHead(200, { 'content-type': 'application/json' });
        const timer = setInterval(() => res.write(' '), 1000);
        res.on('close', () => clearInterval(timer));
        return;
      }
      if (behaviour && 'status' in behaviour) {
        const headers = { 'content-type': behaviour.json !== undefined ? 'application/json' : 'text/plain', ...behaviour.headers };
        res.writeHead(behaviour.status, headers).end(behaviour.json !== undefined ? JSON.stringify(behaviour.json) : (behaviour.text ?? ''));
        return;
      }
      const answer = () => this.embed(req, res, body);
      const delay = behaviour && 'delayMs' in behaviour ? behaviour.delayMs : this.delayMs;
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  }

  private embed(req: http.IncomingMessage, res: http.ServerResponse, body: any): void {
    if (this.requiredKey !== undefined && req.headers.authorization !== `Bearer ${this.requiredKey}`) {
      this.json(res, 401, { error: 'Invalid credentials in Authorization header' });
      return;
    }
    const inputs: unknown = body?.inputs;
    const list = typeof inputs === 'string' ? [inputs] : inputs;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
      this.json(res, 422, { error: 'Input validation error: `inputs` must be a string or a list of strings', error_type: 'Validation' });
      return;
    }
    if (list.length > this.maxBatch) {
      this.json(res, 422, { error: `batch size ${list.length} > maximum allowed batch size ${this.maxBatch}`, error_type: 'Validation' });
      return;
    }
    const vectors = list.map((t) => this.vector(t));
    switch (this.shape) {
      case 'tei':
        this.json(res, 200, vectors);
        break;
      case 'embeddings':
        this.json(res, 200, { embeddings: vectors });
        break;
      case 'flat':
        this.json(res, 200, vectors.length === 1 ? vectors[0] : vectors);
        break;
      case 'tokens':
        // Two token vectors per input whose mean is the input's vector.
        this.json(
          res,
          200,
          vectors.map((v) => [v.map((x) => x + 0.5), v.map((x) => x - 0.5)]),
        );
        break;
    }
  }

  private json(res: http.ServerResponse, status: number, value: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  }
}
