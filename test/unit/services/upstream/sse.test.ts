// The server-sent events parser: every framing upstreams use, split anywhere across reads.
import t from 'tap';
import { isDone, SseParser, type SseEvent } from '../../../../src/services/upstream/sse.js';

const ev = (data: string, event?: string, id?: string): SseEvent => ({ event, data, id });

/** Parses `bytes` fed in pieces cut at `cuts` (byte offsets), then ends the stream. */
function parse(bytes: Buffer, cuts: number[] = []): SseEvent[] {
  const parser = new SseParser();
  const out: SseEvent[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...parser.push(bytes.subarray(from, cut)));
    from = cut;
  }
  out.push(...parser.end());
  return out;
}

t.test('data with and without the space after the colon, TGI keep-alive comments, [DONE] either way', async (t) => {
  const text = ': keep-alive\n\ndata:{"a":1}\n\ndata: {"b":2}\n\n:\n\ndata:[DONE]\n\n';
  t.strictSame(parse(Buffer.from(text)), [ev('{"a":1}'), ev('{"b":2}'), ev('[DONE]')]);
  t.ok(isDone('[DONE]'));
  t.ok(isDone(' [DONE]'));
  t.notOk(isDone('"[DONE]"'));
});

t.test('LF, CRLF and CR line ends, multi-line data joined by LF, event names and ids', async (t) => {
  const expected = [ev('line one\nline two', 'message', '7'), ev('{"x":true}', 'error', '7')];
  for (const nl of ['\n', '\r\n', '\r']) {
    const text = `event: message${nl}id: 7${nl}data: line one${nl}data: line two${nl}${nl}event: error${nl}data: {"x":true}${nl}${nl}`;
    t.strictSame(parse(Buffer.from(text)), expected, JSON.stringify(nl));
  }
});

t.test('the same events whatever the reads are cut at, UTF-8 characters included', async (t) => {
  const text = 'data: héllo 🙂\r\n\r\n: c\r\nevent: message\r\ndata: a\r\ndata: b\r\n\r\ndata:[DONE]\r\n\r\n';
  const bytes = Buffer.from(text, 'utf8');
  const expected = [ev('héllo 🙂'), ev('a\nb', 'message'), ev('[DONE]')];
  for (let i = 1; i < bytes.length; i++) t.strictSame(parse(bytes, [i]), expected, `cut at ${i}`);
  // One byte per read.
  t.strictSame(
    parse(
      bytes,
      Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
    ),
    expected,
  );
});

t.test('a read parsed only as far as its first event: that event alone, then the same events as whole', async (t) => {
  for (const nl of ['\n', '\r\n', '\r']) {
    const text = `: c${nl}${nl}data: one${nl}${nl}event: message${nl}data: two${nl}${nl}data:[DONE]${nl}${nl}`;
    const expected = [ev('one'), ev('two', 'message'), ev('[DONE]')];
    const bytes = Buffer.from(text);
    // Cut anywhere into two reads, each parsed only as far as its first event, the rest when asked.
    for (let cut = 0; cut <= bytes.length; cut++) {
      const parser = new SseParser();
      const out = [...parser.push(bytes.subarray(0, cut), true)];
      for (let kept = parser.more(true); kept; kept = parser.more(true)) out.push(...kept);
      out.push(...parser.push(bytes.subarray(cut), true));
      for (let kept = parser.more(true); kept; kept = parser.more(true)) out.push(...kept);
      out.push(...parser.end());
      t.strictSame(out, expected, `${JSON.stringify(nl)} cut at ${cut}`);
    }
    if (nl === '\r') continue; // a lone CR may yet begin a CRLF: the event ends only when more text comes
    const parser = new SseParser();
    t.strictSame(parser.push(bytes, true), [], `${JSON.stringify(nl)}: a comment alone is no event`);
    t.strictSame(parser.more(true), [ev('one')], `${JSON.stringify(nl)}: the first event alone`);
    t.strictSame(parser.more(), [ev('two', 'message'), ev('[DONE]')], `${JSON.stringify(nl)}: the rest at once`);
    t.equal(parser.more(), undefined, 'nothing kept back once parsed');
    t.strictSame(parser.end(), []);
  }
});

t.test('an event without data is not delivered; the last event is delivered even without its blank line', async (t) => {
  t.strictSame(parse(Buffer.from('event: ping\n\ndata: x\n\nretry: 10\nfoo: bar\n\ndata: [DONE]')), [
    ev('x'),
    ev('[DONE]'),
  ]);
  t.strictSame(parse(Buffer.from('data')), [ev('')], 'a field name without a colon has an empty value');
});

t.test('an event larger than the limit fails instead of growing without bound', async (t) => {
  const parser = new SseParser(100);
  t.throws(
    () => parser.push('data: ' + 'x'.repeat(200)),
    { code: 'SSE_EVENT_TOO_LARGE', message: 'an event of the upstream stream is larger than 100 characters' },
    'one long line',
  );
  const lines = new SseParser(100);
  t.throws(
    () => {
      for (let i = 0; i < 20; i++) lines.push('data: 0123456789\n');
    },
    { code: 'SSE_EVENT_TOO_LARGE' },
    'many data lines of one event',
  );
  const fine = new SseParser(100);
  for (let i = 0; i < 50; i++) t.strictSame(fine.push('data: 0123456789\n\n'), [ev('0123456789')]);
});

t.test(
  "bytes read as the standard's UTF-8 decoder reads them: a leading byte order mark dropped, bad bytes replaced",
  async (t) => {
    // The reference is the WHATWG decoder (TextDecoder), fed the same bytes whole.
    const reference = (bytes: Buffer) => new TextDecoder('utf-8').decode(bytes);
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const texts = [
      Buffer.concat([bom, Buffer.from('data: one\n\n')]),
      // Only the first is the stream's mark; one later is data.
      Buffer.concat([bom, Buffer.from('data: '), bom, Buffer.from('two\n\n')]),
      // Truncated and invalid sequences: a lone continuation byte, an overlong form, a surrogate, a cut 4-byte character.
      Buffer.concat([
        Buffer.from('data: a'),
        Buffer.from([0x80, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x98]),
        Buffer.from('b\n\n'),
      ]),
      Buffer.concat([Buffer.from('data: end '), Buffer.from([0xe2, 0x82])]),
    ];
    for (const bytes of texts) {
      const expected = parse(Buffer.from(reference(bytes), 'utf8'));
      t.ok(expected.length > 0);
      // Cut anywhere (a mark or a character split across reads).
      for (let i = 0; i <= bytes.length; i++)
        t.strictSame(parse(bytes, [i]), expected, `${bytes.toString('hex')} cut at ${i}`);
    }
    t.strictSame(parse(texts[0]!), [ev('one')]);
    t.strictSame(parse(texts[1]!), [ev('\ufefftwo')]);
    t.strictSame(parse(texts[3]!), [ev('end \ufffd')]);
  },
);
