// Benchmark child: the least code that does the gateway's job (fastify + undici), the baseline for overhead; and a bare
// SSE proxy, the baseline for streams (the upstream's events piped through as they come, nothing parsed).
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { Agent, Pool } from 'undici';
import { serveParent } from './children.js';

const pool = new Pool(process.env.UPSTREAM_URL!, { connections: 64 });
const streams = new Agent({ connections: 512 });
// Request logging as the gateway does it by default (fastify's two lines per request at info),
// dropped the same way: like is compared with like.
const app = Fastify({ logger: { level: 'info', stream: new Writable({ write: (_c, _e, done) => done() }) } });
app.post('/_inference/text_embedding/:id', async (req) => {
  const { input } = req.body as { input: string | string[] };
  const res = await pool.request({
    path: '/embed',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [input].flat() }),
  });
  const vectors = (await res.body.json()) as number[][];
  return { text_embedding: vectors.map((embedding) => ({ embedding })) };
});
// STREAM_URL: an OpenAI-compatible chat server; the request's input becomes one user message.
app.post('/_inference/completion/:id/_stream', async (req, reply) => {
  const { input } = req.body as { input: string };
  const res = await streams.request({
    origin: process.env.STREAM_URL!,
    path: '/v1/chat/completions',
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ messages: [{ role: 'user', content: input }], n: 1, stream: true }),
  });
  return reply.code(res.statusCode).type('text/event-stream').send(res.body);
});
const url = await app.listen({ port: 0, host: '127.0.0.1' });
serveParent({});
process.send?.({ ready: url });
