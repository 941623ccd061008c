// A real HTTP server on 127.0.0.1 that plays Hugging Face (TEI's /embed, /rerank, /embed_sparse and /decode, Inference
// Endpoints, the serverless API), failures included.
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
  | { status: number; json?: unknown; text?: string; headers?: Record<string, string>; afterMs?: number } // this answer (late, with afterMs)
  | { status: number; echo: (authorization: string) => string } // a body made of the Authorization header received (an upstream that echoes the key)
  | { drop: true } // closes the connection without an answer
  | { hang: true } // never answers
  | { delayMs: number } // answers normally, late
  | { resetMidBody: true } // sends the headers and half a body, then closes
  | { trickle: true }; // sends the headers, then one byte a second, forever

export type Shape = 'tei' | 'embeddings' | 'flat' | 'tokens';

/**
 * What Hugging Face answers for an Inference Endpoint that is not running
 * (docs/hugging-face-protocols.md#upstream-errors).
 */
export const ENDPOINT_NOT_RUNNING = {
  /** A paused endpoint's proxy, in the words reported to Elasticsearch (elastic/elasticsearch#112033). */
  paused: { status: 400, json: { error: 'Bad Request: Invalid state' } },
  /** A paused endpoint reached through Hugging Face's router. */
  pausedViaRouter: {
    status: 400,
    json: { error: 'Bad Request: The endpoint is paused, ask a maintainer to restart it' },
  },
  /** An endpoint scaled to zero, while a replica starts (Hugging Face's autoscaling guide: the proxy answers 503). */
  waking: { status: 503, json: { error: 'Service Unavailable' } },
} satisfies Record<string, Behaviour>;

/**
 * A `GET /info` answer of text-embeddings-inference 1.8, every field of its `Info` (router/src/lib.rs), for a model of
 * this type: an embedding model (pooling cls; splade for a sparse one), a reranker or a classifier.
 */
export function teiInfo(
  modelType: 'embedding' | 'splade' | 'reranker' | 'classifier',
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  const labels = { id2label: { '0': 'LABEL_0' }, label2id: { LABEL_0: 0 } };
  const model: Record<string, [string, unknown]> = {
    embedding: ['BAAI/bge-small-en-v1.5', { embedding: { pooling: 'cls' } }],
    splade: ['naver/efficient-splade-VI-BT-large-query', { embedding: { pooling: 'splade' } }],
    reranker: ['BAAI/bge-reranker-base', { reranker: labels }],
    classifier: [
      'SamLowe/roberta-base-go_emotions',
      { classifier: { id2label: { '0': 'admiration', '1': 'amusement' }, label2id: { admiration: 0, amusement: 1 } } },
    ],
  };
  const [modelId, type] = model[modelType]!;
  return {
    model_id: modelId,
    model_sha: null,
    model_dtype: 'float16',
    model_type: type,
    max_concurrent_requests: 512,
    max_input_length: 512,
    max_batch_tokens: 16384,
    max_batch_requests: null,
    max_client_batch_size: 32,
    auto_truncate: false,
    tokenization_workers: 8,
    version: '1.8.0',
    sha: null,
    docker_label: null,
    ...over,
  };
}

/**
 * A deterministic vector for a text: values are multiples of 1/1024, so sums and means of a few
 * of them are exact in floating point and tests can compare with ===.
 */
function vectorFor(text: string, dims: number): number[] {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  const out: number[] = [];
  for (let d = 0; d < dims; d++) {
    h = (Math.imul(h, 1664525) + 1013904223) >>> 0;
    out.push(((h >>> 16) % 2049) / 1024 - 1);
  }
  return out;
}

/**
 * A deterministic rerank score in [0, 1): the share of the query's words found in the text, plus a small hash of the
 * text to break ties.
 */
export function rerankScore(query: string, text: string): number {
  const words = new Set(text.toLowerCase().split(/\W+/).filter(Boolean));
  const asked = query.toLowerCase().split(/\W+/).filter(Boolean);
  const hits = asked.filter((w) => words.has(w)).length;
  let h = 7;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) % 1000;
  return Math.round(((hits / Math.max(1, asked.length)) * 0.9 + h / 10_000) * 1e6) / 1e6;
}

/** Special token ids the fake tokenizer knows: they decode to "" (TEI's skip_special_tokens default). */
export const SPECIAL_IDS = { cls: 101, sep: 102 } as const;

/** A deterministic sparse weight for a word of a text. */
export function sparseWeight(word: string): number {
  let h = 3;
  for (let i = 0; i < word.length; i++) h = (h * 17 + word.charCodeAt(i)) % 997;
  return Math.round((0.1 + h / 1000) * 1000) / 1000;
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
  /** The status TEI answers a batch above its maximum with: 422 since v1.9, 413 before. */
  batchLimitStatus = 422;
  /** /embed_sparse also scores the special [CLS] token (it decodes to "", which the service drops). */
  sparseSpecialTokens = true;
  /** What `GET /info` answers (TEI's `Info`, see teiInfo); a 404 when unset, as a server without it; never with hang. */
  info: Record<string, unknown> | { hang: true } | undefined;
  /** Every `GET /info` received (not in `received`). */
  readonly infoRequests: ReceivedRequest[] = [];
  /** Requests being answered right now, and the most there ever were at once. */
  inFlight = 0;
  peakInFlight = 0;
  /** The fake tokenizer: word → id (ids from 1000 up, in order of first appearance). */
  readonly vocabulary = new Map<string, number>();
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

  /** The text's vector scaled to length 1 and rounded to float32: what TEI answers at `/normalized/…` paths. */
  unitVector(text: string): number[] {
    const v = this.vector(text);
    const norm = Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
    return v.map((x) => Math.fround(x / norm));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Arrival is when the headers came in, not when the body finished.
    const at = performance.now();
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    res.once('close', () => this.inFlight--);
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
      const inputs =
        (body as { inputs?: unknown; texts?: unknown; ids?: unknown } | null)?.inputs ??
        (body as { texts?: unknown } | null)?.texts ??
        (body as { ids?: unknown } | null)?.ids;
      const record: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: this.recordBodies ? req.headers : {},
        body: this.recordBodies ? body : null,
        inputCount: Array.isArray(inputs) ? inputs.length : typeof inputs === 'string' ? 1 : 0,
        at,
      };
      // /info is asked at creation, beside the inference requests: counted apart, so `received` stays what was sent.
      if (req.method === 'GET' && (req.url ?? '').split('?')[0]!.endsWith('/info')) {
        this.infoRequests.push(record);
        if (!this.authorized(req, res)) return;
        if (this.info === undefined) this.json(res, 404, { error: 'Not Found' });
        else if ('hang' in this.info) return;
        else this.json(res, 200, this.info);
        return;
      }
      this.received.push(record);
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
      if (behaviour && 'echo' in behaviour) {
        res
          .writeHead(behaviour.status, { 'content-type': 'application/json' })
          .end(behaviour.echo(req.headers.authorization ?? ''));
        return;
      }
      if (behaviour && 'status' in behaviour) {
        const headers = {
          'content-type': behaviour.json !== undefined ? 'application/json' : 'text/plain',
          ...behaviour.headers,
        };
        const send = () =>
          res
            .writeHead(behaviour.status, headers)
            .end(behaviour.json !== undefined ? JSON.stringify(behaviour.json) : (behaviour.text ?? ''));
        if (behaviour.afterMs) setTimeout(send, behaviour.afterMs);
        else send();
        return;
      }
      const route = (req.url ?? '').split('?')[0]!;
      const answer = () =>
        route.endsWith('/rerank')
          ? this.rerank(req, res, body)
          : route.endsWith('/embed_sparse')
            ? this.embedSparse(req, res, body)
            : route.endsWith('/decode')
              ? this.decode(res, body)
              : route.endsWith('/sparse-handler')
                ? this.tokenMaps(req, res, body)
                : this.embed(req, res, body);
      const delay = behaviour && 'delayMs' in behaviour ? behaviour.delayMs : this.delayMs;
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  }

  private embed(req: http.IncomingMessage, res: http.ServerResponse, body: any): void {
    if (!this.authorized(req, res)) return;
    const inputs: unknown = body?.inputs;
    const list = typeof inputs === 'string' ? [inputs] : inputs;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
      this.json(res, 422, {
        error: 'Input validation error: `inputs` must be a string or a list of strings',
        error_type: 'Validation',
      });
      return;
    }
    if (this.tooManyInputs(res, list.length)) return;
    // Under /normalized/, vectors of length 1 in float32, as TEI answers them by default.
    const unit = (req.url ?? '').startsWith('/normalized/');
    const vectors = list.map((t) => (unit ? this.unitVector(t) : this.vector(t)));
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

  private authorized(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (this.requiredKey !== undefined && req.headers.authorization !== `Bearer ${this.requiredKey}`) {
      this.json(res, 401, { error: 'Invalid credentials in Authorization header' });
      return false;
    }
    return true;
  }

  /** TEI's answer to a batch above max_client_batch_size: 422 (413 before v1.9), the same body. */
  private tooManyInputs(res: http.ServerResponse, count: number): boolean {
    if (count <= this.maxBatch) return false;
    this.json(res, this.batchLimitStatus, {
      error: `batch size ${count} > maximum allowed batch size ${this.maxBatch}`,
      error_type: 'Validation',
    });
    return true;
  }

  /** The fake tokenizer's id of a word. */
  tokenId(word: string): number {
    let id = this.vocabulary.get(word);
    if (id === undefined) {
      id = 1000 + this.vocabulary.size;
      this.vocabulary.set(word, id);
    }
    return id;
  }

  /** The words of a text as the fake tokenizer splits them. */
  static words(text: string): string[] {
    return text.toLowerCase().split(/\W+/).filter(Boolean);
  }

  /** TEI /rerank: every text scored, best first, `text` only when return_text is true. */
  private rerank(req: http.IncomingMessage, res: http.ServerResponse, body: any): void {
    if (!this.authorized(req, res)) return;
    const { query, texts } = body ?? {};
    if (typeof query !== 'string' || !Array.isArray(texts) || !texts.every((x: unknown) => typeof x === 'string')) {
      this.json(res, 422, {
        error: 'Input validation error: `query` and `texts` are required',
        error_type: 'Validation',
      });
      return;
    }
    if (texts.length === 0) {
      this.json(res, 400, { error: '`texts` cannot be empty', error_type: 'Empty' });
      return;
    }
    if (this.tooManyInputs(res, texts.length)) return;
    const ranks = texts.map((text, index) => ({
      index,
      ...(body.return_text ? { text } : {}),
      score: rerankScore(query, text),
    }));
    ranks.sort((a, b) => b.score - a.score);
    this.json(res, 200, ranks);
  }

  /** TEI /embed_sparse: per input, `[{"index", "value"}]` ordered by index ([CLS] first when sparseSpecialTokens). */
  private embedSparse(req: http.IncomingMessage, res: http.ServerResponse, body: any): void {
    if (!this.authorized(req, res)) return;
    const inputs = typeof body?.inputs === 'string' ? [body.inputs] : body?.inputs;
    if (!Array.isArray(inputs) || !inputs.every((x: unknown) => typeof x === 'string')) {
      this.json(res, 422, {
        error: 'Input validation error: `inputs` must be a string or a list of strings',
        error_type: 'Validation',
      });
      return;
    }
    if (this.tooManyInputs(res, inputs.length)) return;
    const vectors = inputs.map((text) => {
      const entries = new Map<number, number>();
      if (this.sparseSpecialTokens) entries.set(SPECIAL_IDS.cls, 0.05);
      for (const word of FakeHuggingFace.words(text)) entries.set(this.tokenId(word), sparseWeight(word));
      return [...entries].sort((a, b) => a[0] - b[0]).map(([index, value]) => ({ index, value }));
    });
    this.json(res, 200, vectors);
  }

  /** TEI /decode: `{"ids": [[id], …]}` → one string per list; special ids decode to "". */
  private decode(res: http.ServerResponse, body: any): void {
    const ids = body?.ids;
    if (!Array.isArray(ids) || ids.length === 0) {
      this.json(res, 400, { error: '`ids` cannot be empty', error_type: 'Empty' });
      return;
    }
    if (this.tooManyInputs(res, ids.length)) return;
    const byId = new Map([...this.vocabulary].map(([word, id]) => [id, word]));
    const special = new Set<number>(Object.values(SPECIAL_IDS));
    this.json(
      res,
      200,
      (ids as number[][]).map((list) =>
        list.map((id) => (special.has(id) ? '' : (byId.get(id) ?? `[UNK${id}]`))).join(' '),
      ),
    );
  }

  /** An Inference Endpoint whose handler answers token maps: `[{"token": weight, …}]` per input. */
  private tokenMaps(req: http.IncomingMessage, res: http.ServerResponse, body: any): void {
    if (!this.authorized(req, res)) return;
    const inputs = typeof body?.inputs === 'string' ? [body.inputs] : body?.inputs;
    if (!Array.isArray(inputs)) {
      this.json(res, 400, { error: 'inputs is required' });
      return;
    }
    this.json(
      res,
      200,
      (inputs as string[]).map((text) =>
        Object.fromEntries(FakeHuggingFace.words(text).map((word) => [word, sparseWeight(word)])),
      ),
    );
  }

  private json(res: http.ServerResponse, status: number, value: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  }
}
