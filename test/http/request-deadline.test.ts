// Reading a request has a deadline (REQUEST_READ_TIMEOUT), and the time spent reading counts in the request's own
// ?timeout.
import net from 'node:net';
import t from 'tap';
import { API_KEY, envelope, startApp } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';

/**
 * Sends a POST's headers and the first half of its body, then the rest after `pauseMs`; resolves with the raw answer.
 */
function slowPost(port: number, path: string, body: string, pauseMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const half = Math.floor(body.length / 2);
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body.slice(0, half)}`,
      );
      setTimeout(() => socket.write(body.slice(half)), pauseMs);
    });
    let read = '';
    socket.on('data', (d) => (read += d.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(read));
  });
}

const statusAndJson = (raw: string) => ({
  status: Number(raw.slice(9, 12)),
  json: JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as unknown,
});

t.test(
  '?timeout runs from arrival: a body that took longer than the timeout to arrive is a 408, and nothing is sent upstream',
  async (t) => {
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    const s = await startApp(t);
    const put = await s.request('PUT', '/_inference/text_embedding/e', {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: `${hf.url}/embed`, dimensions: 16 },
    });
    t.equal(put.status, 200);
    await s.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = s.app.server.address() as net.AddressInfo;
    const body = JSON.stringify({ input: 'read slowly' });

    const late = statusAndJson(await slowPost(port, '/_inference/text_embedding/e?timeout=1s', body, 1500));
    t.strictSame(
      late,
      { status: 408, json: envelope(408, 'status_exception', 'Request timed out after [1s]') },
      '1.5 s reading the body: past the 1 s timeout',
    );
    t.equal(hf.received.length, 0, 'no upstream request for it');

    const inTime = statusAndJson(await slowPost(port, '/_inference/text_embedding/e?timeout=5s', body, 1500));
    t.strictSame(
      inTime,
      { status: 200, json: { text_embedding: [{ embedding: hf.vector('read slowly') }] } },
      'within a 5 s timeout it is answered',
    );
    t.equal(hf.received.length, 1);
  },
);

t.test(
  'REQUEST_READ_TIMEOUT: a request not sent in full within it gets 408 and its connection is closed',
  async (t) => {
    const s = await startApp(t, { REQUEST_READ_TIMEOUT: '1s' });
    await s.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = s.app.server.address() as net.AddressInfo;
    const started = Date.now();
    const answers = await Promise.all(
      [
        'POST /_inference/text_embedding/e HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inp',
        'GET /_inference HTTP/1.1\r\nHost: x\r\n',
        '',
      ].map(
        (bytes) =>
          new Promise<string>((resolve) => {
            const socket = net.connect(port, '127.0.0.1', () => bytes && socket.write(bytes));
            let read = '';
            // Without a deadline the connection would stay open: given up on after 10 s, with no answer.
            const giveUp = setTimeout(() => socket.destroy(), 10_000);
            socket.on('data', (d) => (read += d.toString()));
            socket.on('error', () => undefined);
            socket.on('close', () => {
              clearTimeout(giveUp);
              resolve(read);
            });
          }),
      ),
    );
    const elapsed = Date.now() - started;
    const expected = {
      status: 408,
      json: envelope(408, 'status_exception', 'Request not received in full within [1s]'),
    };
    t.strictSame(
      answers.map((raw) => (raw ? statusAndJson(raw) : 'no answer')),
      [expected, expected, expected],
      'a half-sent body, half-sent headers, and nothing at all',
    );
    // Checked every second: closed between 1 s and 2 s, with room for a loaded machine.
    t.ok(elapsed >= 1000 && elapsed < 4000, `closed after ${elapsed} ms`);
    const line = s.logs.lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request completed');
    t.match(
      line,
      { route: '/_inference/:task_type/:inference_id', status: 408, error: 'status_exception' },
      'the request fastify had begun is logged with the 408 it got',
    );
    t.notOk('client_closed' in line, 'the service closed it, not the client');
  },
);
