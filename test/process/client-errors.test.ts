// Requests node's HTTP parser refuses (malformed, headers or URL too large): the real process answers them and lives,
// at every log level.
import net from 'node:net';
import t from 'tap';
import { envelope, type Tap } from '../helpers/app-harness.js';
import { closedPort } from '../helpers/network.js';
import { SERVER_ENTRY, spawnTracked, START_TIMEOUT_MS } from '../helpers/process.js';

/** A credential in the bytes the client sent: it must reach no log line. */
const SENT_KEY = 'hf_SentInARefusedRequest0123456789';

/**
 * The real server at a log level; started on a known port and asked until it answers, since at
 * warn it logs no start-up line to learn its address from.
 */
async function startAt(t: Tap, level: string) {
  const port = await closedPort();
  const env = {
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: level,
    SKIP_VALIDATION: 'true',
    DATA_DIR: t.testdir(),
  };
  const child = spawnTracked(t, [SERVER_ENTRY], env, ['ignore', 'pipe', 'pipe']);
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout!.on('data', (d: Buffer) => stdout.push(...d.toString().split('\n').filter(Boolean)));
  child.stderr!.on('data', (d: Buffer) => stderr.push(...d.toString().split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr.join('\n')}`);
    if (
      (await fetch(`${url}/_health`).then(
        (r) => r.status,
        () => 0,
      )) === 200
    )
      break;
    if (Date.now() > deadline) throw new Error(`server did not start: ${stderr.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, url, port, stdout, stderr, exited };
}

/** Writes raw bytes on a new connection and resolves with everything read until the server closes it. */
function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let read = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within 10 s; read so far: ${read.slice(0, 200)}`));
    }, 10_000);
    socket.on('data', (d) => (read += d.toString('latin1')));
    // The server may close before reading all that was sent (a reset): what it answered counts.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(read);
    });
  });
}

/** Status line and parsed body of a raw HTTP answer. */
function parse(raw: string): { status: number; headers: string; json: unknown } {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, end);
  return {
    status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1]),
    headers: head,
    json: JSON.parse(raw.slice(end + 4)),
  };
}

const refused = [
  {
    name: 'a malformed header line',
    bytes: `GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SENT_KEY}\r\nBad Header\r\n\r\n`,
    answer: envelope(400, 'illegal_argument_exception', 'Malformed HTTP request: Invalid header token'),
  },
  {
    name: 'an unknown method',
    bytes: `GARBAGE ${SENT_KEY}\r\n\r\n`,
    answer: envelope(400, 'illegal_argument_exception', 'Malformed HTTP request: Invalid method encountered'),
  },
  {
    name: 'headers of 20 KB',
    bytes: `GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SENT_KEY}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    answer: envelope(
      431,
      'too_long_http_header_exception',
      'The request line and headers are larger than [16384] bytes',
    ),
  },
  {
    name: 'a URL of 70 KB',
    bytes: `GET /_inference/${'a'.repeat(70_000)}?api_key=${SENT_KEY} HTTP/1.1\r\nHost: x\r\n\r\n`,
    answer: envelope(
      431,
      'too_long_http_header_exception',
      'The request line and headers are larger than [16384] bytes',
    ),
  },
];

for (const level of ['trace', 'debug', 'info', 'warn']) {
  t.test(
    `LOG_LEVEL=${level}: refused requests get 400 or 431 in the error envelope, and the process lives on`,
    async (t) => {
      const server = await startAt(t, level);
      const { port } = server;
      for (const { name, bytes, answer } of refused) {
        const res = parse(await exchange(port, bytes));
        t.equal(res.status, answer.status, `${name}: ${answer.status}`);
        t.strictSame(res.json, answer, `${name}: the envelope`);
        t.match(res.headers, /\r\nX-Elastic-Product: Elasticsearch\r\n/, `${name}: the product header`);
        t.match(res.headers, /\r\nConnection: close(\r\n|$)/, `${name}: the connection is closed`);
        t.equal(server.child.exitCode, null, `${name}: still running`);
        // A normal request after each one is answered: the process is alive and serving.
        const health = await fetch(`${server.url}/_health`);
        t.equal(health.status, 200, `${name}: the next request is answered`);
      }
      server.child.kill('SIGTERM');
      t.equal(await server.exited, 0, 'it stops cleanly');
      const logs = [...server.stdout, ...server.stderr].join('\n');
      t.notMatch(logs, SENT_KEY, 'nothing the client sent is logged');
      t.notMatch(logs, /rawPacket/, 'nor the raw packet');
      if (level === 'trace' || level === 'debug') {
        const lines = server.stdout.filter((l) => l.includes('client error'));
        t.equal(lines.length, refused.length, 'one small line per refused request');
        t.match(JSON.parse(lines[0]!), {
          level: 20,
          code: 'HPE_INVALID_HEADER_TOKEN',
          status: 400,
          remoteAddress: '127.0.0.1',
          msg: 'client error: Malformed HTTP request: Invalid header token',
        });
      }
    },
  );
}
