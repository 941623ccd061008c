// The stream sink (connectionSink) on every node the project supports: node's chunked responses differ between
// versions (node 24's write() corks the response itself), and the sink must frame, end and reuse connections the same
// on each, and take the connection directly wherever the response holds nothing. The suite runs on node 20; CI also
// gives node 22 and 24 in OTHER_NODES (paths, ':'-separated), and REQUIRE_OTHER_NODES=1 makes their absence a failure.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { chunkedAnswers } from '../helpers/chunked-answers.js';
import { sinkTexts } from '../helpers/sink-check.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../helpers/sink-check.js', import.meta.url));
const others = (process.env.OTHER_NODES ?? '').split(':').filter((p) => p !== '');

interface Connection {
  bytes: string;
  framedByNode: boolean;
}

/** The body a path's stream must arrive as: its texts in order. */
const bodyOf = (path: string) => {
  const { first, turns, last } = sinkTexts(path);
  return first + turns.flat().join('') + last;
};

t.test('other nodes are given when required', async (t) => {
  if (process.env.REQUIRE_OTHER_NODES === '1') t.ok(others.length >= 2, `OTHER_NODES: ${others.join(', ')}`);
  else t.pass(`not required here; OTHER_NODES: ${others.join(', ') || 'none'}`);
});

for (const node of [process.execPath, ...others]) {
  t.test(`the stream sink on ${node}`, async (t) => {
    const { stdout } = await run(node, [script], { timeout: 30_000 });
    const result = JSON.parse(stdout) as {
      version: string;
      oneAfterAnother: Connection;
      short: Connection;
      pipelined: Connection;
    };
    const cases: [string, Connection, string[]][] = [
      ['three streams one after another', result.oneAfterAnother, ['/a', '/b', '/c']],
      ['two streams that end after their first text', result.short, ['/short1', '/short2']],
      ['three streams asked for in one write', result.pipelined, ['/p', '/q', '/r']],
    ];
    for (const [name, connection, paths] of cases) {
      const { answers, error } = chunkedAnswers(Buffer.from(connection.bytes, 'base64'));
      t.equal(error, undefined, `${result.version}, ${name}: every chunk as its size line says`);
      t.strictSame(
        answers.map((a) => [/^HTTP\/1\.1 200 OK\r\n/.test(a.head), Buffer.concat(a.chunks).toString('utf8')]),
        paths.map((p) => [true, bodyOf(p)]),
        `${result.version}, ${name}: each answer whole, in order`,
      );
    }
    // Where each answer had the connection to itself, the sink wrote to it directly: node never framed a chunk.
    t.equal(result.oneAfterAnother.framedByNode, false, `${result.version}: streams one after another, direct`);
    t.equal(result.short.framedByNode, false, `${result.version}: streams ending after their first text, direct`);
    // Answers waiting their turn keep the response, which frames them.
    t.equal(result.pipelined.framedByNode, true, `${result.version}: waiting answers through their responses`);
  });
}
