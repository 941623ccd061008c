// What the doors' routes share (docs/doors.md): a door's inference run with the request's lifetime, and its answer sent
// whole or as server-sent events.
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendEvents } from '../plugins/elasticsearch-http.js';
import type { DoorAnswer, DoorRequest } from '../src/doors/door-call.js';
import { errors } from '../src/errors.js';
import { DEFAULT_TIMEOUT } from '../src/request-params.js';
import { lifetimeOf } from './inference.js';

/**
 * Runs a door's inference with the request's lifetime (the same `timeout` default as `_inference`), and sends its
 * answer: whole JSON, or server-sent events once the upstream's answer has begun.
 */
export async function serveDoor(
  request: FastifyRequest,
  reply: FastifyReply,
  run: (door: DoorRequest) => Promise<DoorAnswer | string>,
): Promise<FastifyReply> {
  if (request.body === undefined) throw errors.requestBodyRequired();
  const { lifetime, end, started } = lifetimeOf(reply, DEFAULT_TIMEOUT);
  const trace = (request.trace ??= {});
  trace.lifetime = lifetime;
  let events: AsyncIterable<string>;
  try {
    const answer = await run({ lifetime, trace, path: request.url.split('?')[0] ?? request.url });
    if (typeof answer === 'string' || 'json' in answer) {
      end();
      return reply.type('application/json').send(typeof answer === 'string' ? answer : answer.json);
    }
    // The deadline may have passed as the stream began: it then ended the upstream request, and the stream is closed
    // unsent (its events are read only once they are sent).
    if (lifetime.cancelled) {
      answer.source.close();
      throw lifetime.reason;
    }
    events = answer.events;
  } catch (err) {
    end();
    throw err;
  }
  // The timeout bounded the wait for the first byte; from here the client leaving is what ends the stream.
  started();
  return sendEvents(reply, Readable.from(events));
}
