// Run by test/http/sink-node-versions.test.ts with each node it is given (20, and 22 and 24 in CI): the service's own
// connectionSink behind a plain node http server, three kinds of connection, read back as raw bytes. Prints one JSON
// line: the node version, the bodies each connection received, and whether node's own chunk framing wrote to it.
import http, { type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { connectionSink } from '../../plugins/elasticsearch-http.js';

/** The texts a stream of this path writes: the first alone, then turns of two, then its end. */
export function sinkTexts(path: string): { first: string; turns: string[][]; last: string } {
  const short = path.startsWith('/short');
  return {
    first: `data: ${path} first é\n\n`,
    turns: short ? [] : [0, 1, 2].map((i) => [`data: ${path} ${i} 日本\n\n`, `data: ${path} ${i}b 🙂\n\n`]),
    last: `data: ${path} [DONE]\n\n`,
  };
}

/** Node's chunked framing writes its line ends as this one buffer; the sink's own framing never writes it alone. */
const isLineEndBuffer = (chunk: unknown) => Buffer.isBuffer(chunk) && chunk.length === 2 && chunk.toString() === '\r\n';

async function main(): Promise<void> {
  const framedByNode = new Map<string, boolean>();
  const server = http.createServer((req, res: ServerResponse) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const sink = connectionSink(res);
    const { first, turns, last } = sinkTexts(req.url ?? '');
    sink.write(first);
    let turn = 0;
    // The first text's turn ends before the next texts, as the service's writer waits a turn (setImmediate).
    const next = () => {
      const texts = turns[turn++];
      if (texts === undefined) return sink.end(last);
      for (const text of texts) sink.write(text);
      setTimeout(next, 5);
    };
    setImmediate(next);
  });
  server.on('connection', (socket: net.Socket) => {
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    socket.write = (...args: unknown[]) => {
      if (isLineEndBuffer(args[0])) framedByNode.set(String(socket.remotePort), true);
      return write(...args);
    };
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  /** Asks for `paths` on one connection (all in one write when pipelined), until as many bodies have ended. */
  const connection = (paths: string[], pipelined: boolean) =>
    new Promise<{ bytes: string; framedByNode: boolean }>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let received = Buffer.alloc(0);
      let asked = 0;
      const ask = (path: string) => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      socket.on('data', (d: Buffer) => {
        received = Buffer.concat([received, d]);
        const ended = received.toString('latin1').split('\r\n0\r\n\r\n').length - 1;
        if (!pipelined && ended === asked && asked < paths.length) ask(paths[asked++]!);
        if (ended === paths.length)
          setTimeout(() => {
            const local = String(socket.localPort);
            socket.destroy();
            resolve({ bytes: received.toString('base64'), framedByNode: framedByNode.get(local) ?? false });
          }, 30);
      });
      socket.on('error', reject);
      if (pipelined) {
        asked = paths.length;
        socket.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
      } else ask(paths[asked++]!);
    });

  const result = {
    version: process.version,
    oneAfterAnother: await connection(['/a', '/b', '/c'], false),
    short: await connection(['/short1', '/short2'], false),
    pipelined: await connection(['/p', '/q', '/r'], true),
  };
  server.close();
  console.log(JSON.stringify(result));
}

if (process.argv[1]?.endsWith('sink-check.js')) await main();
