// A real HTTP server on 127.0.0.1 that plays text generation upstreams: OpenAI-compatible chat (TGI and vLLM framings),
// TGI's /generate and /generate_stream, text2text; failures included.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface LlmRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  /** performance.now() when the request arrived. */
  at: number;
  /** The client went away before the answer was complete. */
  closedEarly: boolean;
  /** performance.now() when the connection of the answer closed (early or not). */
  closedAt: number | undefined;
  /** Which connection the request came on: 1 for the server's first, 2 for the next, … */
  connection: number;
}

/** What the server does with one request instead of answering normally. */
export type LlmBehaviour =
  | { status: number; json?: unknown; text?: string; headers?: Record<string, string> } // an HTTP error
  | { hang: true } // never answers (no headers)
  | { drop: true } // closes the connection without an answer
  | { inBandError: unknown; afterTokens: number } // a 200 stream that reports this payload after n tokens
  | { echo: (authorization: string) => { tokens?: string[]; error: string } } // a 200 stream of these tokens, then this event data (raw, written in two pieces): made of the Authorization header received
  | { stallAfterTokens: number } // sends n tokens, then nothing, never ending
  | { resetAfterTokens: number } // sends n tokens, then breaks the connection
  | { noDone: true } // a chat stream that ends without [DONE] (TGI before 2.1)
  | { garbageAfterTokens: number } // sends n tokens, then an event that is not JSON
  | { toolCall: { name: string; arguments: string } } // TGI's tool-call stream: no finish_reason chunk
  | { firstTokenDelayMs: number } // a stream's headers at once and its first token later; a whole answer later
  | { whole: true }; // answers a stream request with a whole JSON answer

/** The chat stream's framing: TGI's (`data:` without a space, id "", keep-alive comments, `data:[DONE]`) or vLLM's. */
export type ChatStyle = 'tgi' | 'vllm';

export const MODEL = 'fake/llm-7b';

/** TGI's message for a chat request to a model without a chat template. */
export const NO_CHAT_TEMPLATE = 'Template error: template not found';

/**
 * A `GET /info` answer of text-generation-inference 3.x, every field of its `Info` (router/src/lib.rs), for a model
 * served by it.
 */
export function tgiInfo(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_id: 'fake/llm-7b-base',
    model_sha: null,
    model_pipeline_tag: 'text-generation',
    max_concurrent_requests: 128,
    max_best_of: 2,
    max_stop_sequences: 4,
    max_input_tokens: 4095,
    max_total_tokens: 4096,
    validation_workers: 2,
    max_client_batch_size: 4,
    router: 'text-generation-router',
    version: '3.3.6',
    sha: null,
    docker_label: null,
    ...over,
  };
}

/** The answer to a prompt, as tokens: `You said: <the prompt's words>`. */
export function replyTokens(prompt: string): string[] {
  return ['You', ' said', ':', ...prompt.split(/(?=\s)/).map((w, i) => (i === 0 ? ` ${w}` : w))];
}

const promptOfChat = (messages: any[]): string => {
  const last = [...(messages ?? [])].reverse().find((m) => m?.role === 'user');
  const content = last?.content;
  return typeof content === 'string' ? content : Array.isArray(content) ? content.map((p: any) => p.text).join('') : '';
};

export class FakeLlm {
  readonly received: LlmRequest[] = [];
  style: ChatStyle = 'tgi';
  /** Between two tokens of a stream. */
  tokenDelayMs = 0;
  /** A chat stream's finish_reason in a chunk of its own with an empty delta, after the last token (OpenAI's way). */
  finishApart = false;
  /**
   * The answer's tokens for a prompt (and the Authorization header received: an upstream may echo the key as generated
   * text).
   */
  reply: (prompt: string, authorization: string) => string[] = replyTokens;
  /**
   * A reasoning model (DeepSeek-R1, Qwen3 behind vLLM's reasoning parser): the thoughts it streams before its answer,
   * each in a delta of its own under `reasoningField`. It sends them whatever the request's `include_reasoning` says.
   */
  reasoning: ((prompt: string, authorization: string) => string[]) | undefined;
  /** vLLM before 0.10 and most servers: `reasoning_content`; vLLM since: `reasoning`. */
  reasoningField: 'reasoning_content' | 'reasoning' = 'reasoning_content';
  /** What `GET /info` answers (TGI's `Info`, see tgiInfo); a 404 when unset, as a server without it. */
  info: Record<string, unknown> | undefined;
  /** Every `GET /info` received (not in `received`). */
  readonly infoRequests: LlmRequest[] = [];
  /**
   * Whether the model has a chat template. Without one (a base model) the chat route answers TGI's 422 (router/src/infer/
   * mod.rs: InferError::TemplateError of minijinja's TemplateNotFound), and only /generate works.
   */
  chatTemplate = true;
  /** Keep headers and bodies in `received` (the benchmark turns it off). */
  record = true;
  private readonly connections = new WeakMap<Socket, number>();
  private connectionCount = 0;

  private connectionOf(socket: Socket): number {
    let n = this.connections.get(socket);
    if (n === undefined) this.connections.set(socket, (n = ++this.connectionCount));
    return n;
  }
  /**
   * When set, each stream sends its first token, then waits until this many answers are open
   * at once before it goes on (so that a test can be sure they all were open together).
   */
  openTogether: number | undefined;
  private readonly gated: Array<() => void> = [];
  /** The Authorization header of the request being answered (for the echo behaviour). */
  private lastAuthorization: string | undefined;
  private readonly script: LlmBehaviour[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
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
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next requests get these behaviours, one each, in order. */
  next(...behaviours: LlmBehaviour[]): this {
    this.script.push(...behaviours);
    return this;
  }

  /** Answers in progress now (begun and not over), and the most there were at once. */
  open = 0;
  peakOpen = 0;

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const at = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      const record: LlmRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: this.record ? req.headers : {},
        body: this.record ? body : null,
        at,
        closedEarly: false,
        closedAt: undefined,
        connection: this.connectionOf(req.socket),
      };
      // /info is asked at creation, beside the generations: counted apart, so `received` stays what was generated.
      if (req.method === 'GET' && (req.url ?? '').split('?')[0]!.endsWith('/info')) {
        this.infoRequests.push(record);
        if (this.info === undefined) this.json(res, 404, { error: 'Not Found' });
        else this.json(res, 200, this.info);
        return;
      }
      this.received.push(record);
      this.peakOpen = Math.max(this.peakOpen, ++this.open);
      if (this.openTogether !== undefined && this.open >= this.openTogether)
        for (const go of this.gated.splice(0)) go();
      res.on('close', () => {
        this.open--;
        record.closedEarly = !res.writableFinished;
        record.closedAt = performance.now();
      });
      const behaviour = this.script.shift();
      this.lastAuthorization = req.headers.authorization;
      if (behaviour && 'drop' in behaviour) {
        req.socket.destroy();
        return;
      }
      if (behaviour && 'hang' in behaviour) return;
      if (behaviour && 'status' in behaviour) {
        const headers = {
          'content-type': behaviour.json !== undefined ? 'application/json' : 'text/plain',
          ...behaviour.headers,
        };
        res
          .writeHead(behaviour.status, headers)
          .end(behaviour.json !== undefined ? JSON.stringify(behaviour.json) : (behaviour.text ?? ''));
        return;
      }
      const path = (req.url ?? '').split('?')[0]!;
      if (path.endsWith('/chat/completions')) this.chat(res, body, behaviour);
      else if (path.endsWith('/generate_stream')) this.generateStream(res, body, behaviour);
      else if (path.endsWith('/generate')) this.json(res, 200, this.generated(body).whole);
      else
        this.json(res, 200, [
          { generated_text: this.reply(String(body?.inputs ?? ''), String(this.lastAuthorization)).join('') },
        ]);
    });
  }

  private json(res: http.ServerResponse, status: number, value: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  }

  /** Tokens for a request, cut by its token limit or at a stop sequence, and why generation ended. */
  private tokens(
    prompt: string,
    maxTokens: number | undefined,
    stop: string[] | undefined,
  ): { tokens: string[]; finish: 'eos_token' | 'length' | 'stop_sequence' } {
    const all = this.reply(prompt, String(this.lastAuthorization));
    const out: string[] = [];
    for (const token of all) {
      if (maxTokens !== undefined && out.length >= maxTokens) return { tokens: out, finish: 'length' };
      out.push(token);
      if (stop?.some((s) => token.includes(s))) return { tokens: out, finish: 'stop_sequence' };
    }
    return { tokens: out, finish: 'eos_token' };
  }

  private generated(body: any) {
    const p = body?.parameters ?? {};
    const { tokens, finish } = this.tokens(String(body?.inputs ?? ''), p.max_new_tokens, p.stop);
    const text = tokens.join('');
    const details = { finish_reason: finish, generated_tokens: tokens.length, seed: null };
    return { tokens, finish, text, whole: p.details ? { generated_text: text, details } : { generated_text: text } };
  }

  /** Writes `events` one by one, `tokenDelayMs` apart (the first at once, or after `firstDelay`), then `end`. */
  private play(res: http.ServerResponse, events: string[], end: (() => void) | undefined, firstDelay = 0): void {
    let i = 0;
    const step = () => {
      if (res.destroyed) return;
      if (i >= events.length) {
        end?.();
        return;
      }
      res.write(events[i++]!);
      if (i === 1 && this.openTogether !== undefined && this.open < this.openTogether) {
        // Never forever: a test that fails to open them all still ends, and says how many there were.
        if (this.gated.length === 0) this.later(30_000, () => this.gated.splice(0).forEach((go) => go()));
        this.gated.push(step);
      } else if (this.tokenDelayMs > 0) this.later(this.tokenDelayMs, step);
      else step();
    };
    if (firstDelay > 0) this.later(firstDelay, step);
    else step();
  }

  /** The events up to `behaviour`'s failure point, and how the answer ends. */
  private failing(
    res: http.ServerResponse,
    events: string[],
    behaviour: LlmBehaviour | undefined,
    error: (payload: unknown) => string[],
  ): { events: string[]; end: (() => void) | undefined } {
    if (behaviour && 'inBandError' in behaviour) {
      return {
        events: [...events.slice(0, behaviour.afterTokens), ...error(behaviour.inBandError)],
        end: () => res.end(),
      };
    }
    if (behaviour && 'stallAfterTokens' in behaviour)
      return { events: events.slice(0, behaviour.stallAfterTokens), end: undefined };
    if (behaviour && 'garbageAfterTokens' in behaviour) {
      return {
        events: [...events.slice(0, behaviour.garbageAfterTokens), 'data: {"choices":[{"delta":\n\n'],
        end: () => res.end(),
      };
    }
    if (behaviour && 'resetAfterTokens' in behaviour) {
      return {
        events: events.slice(0, behaviour.resetAfterTokens),
        end: () => this.later(5, () => res.socket?.destroy()),
      };
    }
    return { events, end: () => res.end() };
  }

  private chat(res: http.ServerResponse, body: any, behaviour: LlmBehaviour | undefined): void {
    if (!this.chatTemplate) {
      this.json(res, 422, { error: NO_CHAT_TEMPLATE, error_type: 'template_error' });
      return;
    }
    const tgi = this.style === 'tgi';
    const stop = typeof body?.stop === 'string' ? [body.stop] : body?.stop;
    const { tokens, finish } = this.tokens(promptOfChat(body?.messages), body?.max_tokens, stop);
    const finishReason =
      finish === 'eos_token' ? 'stop' : finish === 'stop_sequence' ? (tgi ? 'stop_sequence' : 'stop') : 'length';
    const id = tgi ? '' : 'chatcmpl-fake0001';
    const thoughts = this.reasoning?.(promptOfChat(body?.messages), String(this.lastAuthorization)) ?? [];
    const generated = thoughts.length + tokens.length;
    const usage = { prompt_tokens: 5, completion_tokens: generated, total_tokens: 5 + generated };
    if (!body?.stream || (behaviour && 'whole' in behaviour)) {
      const answer = () =>
        this.json(res, 200, {
          object: 'chat.completion',
          id,
          created: 1741266005,
          model: MODEL,
          system_fingerprint: '3.1.2-native',
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: tokens.join(''),
                ...(thoughts.length > 0 ? { [this.reasoningField]: thoughts.join('') } : {}),
              },
              logprobs: null,
              finish_reason: finishReason,
            },
          ],
          usage,
        });
      if (behaviour && 'firstTokenDelayMs' in behaviour) this.later(behaviour.firstTokenDelayMs, answer);
      else answer();
      return;
    }
    const data = (value: unknown) => (tgi ? `data:${JSON.stringify(value)}\n\n` : `data: ${JSON.stringify(value)}\n\n`);
    const chunk = (delta: unknown, finishReason: string | null, extra: Record<string, unknown> = {}) =>
      tgi
        ? {
            object: 'chat.completion.chunk',
            id,
            created: 1741266005,
            model: MODEL,
            system_fingerprint: '3.1.2-native',
            choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
            usage: null,
            ...extra,
          }
        : {
            id,
            object: 'chat.completion.chunk',
            created: 1741266005,
            model: MODEL,
            choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
            ...extra,
          };
    let events: string[];
    if (behaviour && 'toolCall' in behaviour) {
      const { name, arguments: args } = behaviour.toolCall;
      const pieces = ['{', ...args.slice(1).match(/.{1,6}/g)!];
      events = pieces.map((piece, i) =>
        data(
          chunk(
            {
              role: 'assistant',
              tool_calls: [
                { index: 0, id: '0', type: 'function', function: { name: i === 0 ? name : null, arguments: piece } },
              ],
            },
            null,
          ),
        ),
      );
    } else {
      // vLLM names the role in the first delta only, TGI in every one.
      const role = (i: number) => (tgi || i === 0 ? { role: 'assistant' } : {});
      events = [
        ...thoughts.map((t, i) => data(chunk({ ...role(i), [this.reasoningField]: t }, null))),
        ...tokens.map((t, i) =>
          data(
            chunk(
              { ...role(thoughts.length + i), content: t },
              i === tokens.length - 1 && !this.finishApart ? finishReason : null,
            ),
          ),
        ),
      ];
      if (this.finishApart) events.push(data(chunk({}, finishReason)));
    }
    if (body?.stream_options?.include_usage) {
      events.push(
        data(
          tgi
            ? { ...chunk({}, null), choices: [], usage }
            : { id, object: 'chat.completion.chunk', created: 1741266005, model: MODEL, choices: [], usage },
        ),
      );
    }
    if (!(behaviour && 'noDone' in behaviour)) events.push(tgi ? 'data:[DONE]\n\n' : 'data: [DONE]\n\n');
    const errorEvents = (payload: unknown) => [data(payload), tgi ? 'data:[DONE]\n\n' : 'data: [DONE]\n\n'];
    let plan = this.failing(res, events, behaviour, errorEvents);
    if (behaviour && 'echo' in behaviour) {
      const { tokens: echoed = [], error } = behaviour.echo(String(this.lastAuthorization));
      // The error event is written in two pieces, split inside its data: the reader sees them in two reads.
      const half = Math.floor(error.length / 2);
      plan = {
        events: [
          ...echoed.map((t) => data(chunk({ role: 'assistant', content: t }, null))),
          `data:${error.slice(0, half)}`,
          `${error.slice(half)}\n\n`,
        ],
        end: () => res.end(),
      };
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'x-accel-buffering': 'no' });
    // TGI's keep-alive comment: readers must skip it.
    if (tgi) res.write(': keep-alive\n\n');
    this.play(
      res,
      plan.events,
      plan.end,
      behaviour && 'firstTokenDelayMs' in behaviour ? behaviour.firstTokenDelayMs : 0,
    );
  }

  private generateStream(res: http.ServerResponse, body: any, behaviour: LlmBehaviour | undefined): void {
    const { tokens, finish, text } = this.generated(body);
    const withDetails = body?.parameters?.details === true;
    const event = (value: unknown) => `data:${JSON.stringify(value)}\n\n`;
    const events = tokens.map((t, i) =>
      event({
        index: i + 1,
        token: { id: 100 + i, text: t, logprob: -0.5, special: false },
        generated_text: null,
        details: null,
      }),
    );
    const details = withDetails
      ? { finish_reason: finish, generated_tokens: tokens.length, seed: null, input_length: 5 }
      : null;
    if (finish === 'eos_token') {
      events.push(
        event({
          index: tokens.length + 1,
          token: { id: 2, text: '</s>', logprob: -0.1, special: true },
          generated_text: text,
          details,
        }),
      );
    } else {
      // The last real token closes the stream when generation stopped on length or a stop sequence.
      const last = JSON.parse(events.pop()!.slice(5));
      events.push(event({ ...last, generated_text: text, details }));
    }
    const plan = this.failing(res, events, behaviour, (payload) => [event(payload)]);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    this.play(
      res,
      plan.events,
      plan.end,
      behaviour && 'firstTokenDelayMs' in behaviour ? behaviour.firstTokenDelayMs : 0,
    );
  }
}
