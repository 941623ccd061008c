// The logger's configuration: errors with bytes in them are logged as small plain objects, and redaction still applies.
import pino from 'pino';
import t from 'tap';
import { loggerOptions, serializeError } from '../../src/logger.js';
import { LogCapture } from '../helpers/app-harness.js';

/** An error as node's HTTP parser makes it: the client's bytes ride along as `rawPacket`. */
function parseError(): Error {
  return Object.assign(new Error('Parse Error: Invalid header token'), {
    code: 'HPE_INVALID_HEADER_TOKEN',
    reason: 'Invalid header token',
    bytesParsed: 27,
    rawPacket: Buffer.from('GET / HTTP/1.1\r\nAuthorization: Bearer hf_SentByTheClient0123456789\r\n'),
  });
}

t.test('an error carrying a Buffer is logged at trace without throwing, without the bytes', async (t) => {
  const sink = new LogCapture();
  const log = pino(loggerOptions('trace'), sink);
  // Before, the wildcard redaction paths walked into the Buffer and threw (a Buffer's getters refuse a copy).
  t.doesNotThrow(() => log.trace({ err: parseError() }, 'client error'));
  t.doesNotThrow(() => log.error({ err: { wrapped: parseError(), bytes: new Uint8Array(4) } }, 'nested'));
  const [first, second] = sink.lines.map((l) => JSON.parse(l));
  t.match(first.err, {
    type: 'Error',
    message: 'Parse Error: Invalid header token',
    code: 'HPE_INVALID_HEADER_TOKEN',
    bytesParsed: 27,
  });
  t.notOk('rawPacket' in first.err, 'no raw packet');
  t.strictSame(Object.keys(second.err), ['wrapped'], 'bytes at any depth are left out');
  t.notMatch(sink.text, /hf_SentByTheClient/);
});

t.test(
  'the error serializer keeps plain fields and causes, and redaction still masks a key inside an error',
  async (t) => {
    const cause = Object.assign(new Error('inner'), { status: 503 });
    const err = Object.assign(new Error('outer', { cause }), {
      details: { api_key: 'hf_InsideAnError0123456789', retry: true },
      socket: new (class Socket {})(),
    });
    t.match(serializeError(err), {
      type: 'Error',
      message: 'outer',
      details: { api_key: 'hf_InsideAnError0123456789', retry: true },
      cause: { message: 'inner', status: 503 },
    });
    t.notOk('socket' in (serializeError(err) as object), 'objects other than plain ones are left out');
    const sink = new LogCapture();
    pino(loggerOptions('info'), sink).warn({ err }, 'with a key');
    t.strictSame(JSON.parse(sink.lines[0]!).err.details, { api_key: '[Redacted]', retry: true });
  },
);
