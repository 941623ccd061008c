// The logger's configuration: errors with bytes in them are logged as small plain objects, and redaction still applies.
import pino from 'pino';
import t from 'tap';
import { loggerOptions, RequestLogger, serializeError } from '../../src/logger.js';
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

t.test("a request's logger writes the lines pino's own child would, made only when a line is written", async (t) => {
  const line = { api_key: 'hf_InTheLine0123456789', headers: { authorization: 'Bearer hf_Header0123456789' } };
  const withoutTime = (text: string) => ({ ...JSON.parse(text), time: 0 });
  const ours = new LogCapture();
  const theirs = new LogCapture();
  const parent = pino(loggerOptions('info'), ours);
  const request = new RequestLogger(parent, { reqId: 'req-7' }, {});
  request.debug(line, 'below the level');
  request.info(line, 'a line');
  request.error({ err: new Error('boom') }, 'unexpected');
  request.child({ part: 'inner' }).warn('from a child');
  const direct = pino(loggerOptions('info'), theirs).child({ reqId: 'req-7' }, {});
  direct.debug(line, 'below the level');
  direct.info(line, 'a line');
  direct.error({ err: new Error('boom') }, 'unexpected');
  direct.child({ part: 'inner' }).warn('from a child');
  t.equal(ours.lines.length, 3);
  t.strictSame(
    ours.lines.map((l) => ({ ...withoutTime(l), err: undefined })),
    theirs.lines.map((l) => ({ ...withoutTime(l), err: undefined })),
    'the same lines, bindings and masking',
  );
  t.match(JSON.parse(ours.lines[0]!), {
    reqId: 'req-7',
    api_key: '[Redacted]',
    headers: { authorization: '[Redacted]' },
  });
  t.equal(JSON.parse(ours.lines[1]!).err.message, 'boom');
  t.equal(request.level, 'info');
  t.equal(request.isLevelEnabled('debug'), false);
  t.equal(request.isLevelEnabled('warn'), true);

  const quiet = new RequestLogger(pino(loggerOptions('warn'), new LogCapture()), { reqId: 'req-8' }, {});
  quiet.info('not written');
  t.equal(quiet.level, 'warn');
  const loud = new RequestLogger(parent, { reqId: 'req-9' }, { level: 'debug' });
  loud.debug('a route at debug');
  t.equal(JSON.parse(ours.lines.at(-1)!).msg, 'a route at debug', "a child's own level is its own");
});
