// HTTP/1.1 answers read off a connection's raw bytes, as a client that checks their framing would.

/**
 * HTTP/1.1 answers with chunked bodies, one after another in `bytes`, each chunk read by its declared size: the size
 * line, exactly that many bytes, a line end. `error` says where the framing broke.
 */
export function chunkedAnswers(bytes: Buffer): { answers: { head: string; chunks: Buffer[] }[]; error?: string } {
  const answers: { head: string; chunks: Buffer[] }[] = [];
  let at = 0;
  while (at < bytes.length) {
    const headEnd = bytes.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return { answers, error: `no head at ${at}` };
    const head = bytes.subarray(at, headEnd).toString('latin1');
    at = headEnd + 4;
    const chunks: Buffer[] = [];
    for (;;) {
      const lineEnd = bytes.indexOf('\r\n', at);
      const sizeLine = bytes.subarray(at, lineEnd < 0 ? at + 20 : lineEnd).toString('latin1');
      if (lineEnd < 0 || !/^[0-9a-f]+$/i.test(sizeLine))
        return { answers, error: `a chunk size line at ${at}: ${JSON.stringify(sizeLine.slice(0, 20))}` };
      const size = parseInt(sizeLine, 16);
      if (bytes.subarray(lineEnd + 2 + size, lineEnd + 4 + size).toString('latin1') !== '\r\n')
        return { answers, error: `no line end after the chunk at ${at}` };
      const data = bytes.subarray(lineEnd + 2, lineEnd + 2 + size);
      at = lineEnd + 4 + size;
      if (size === 0) break;
      chunks.push(data);
    }
    answers.push({ head, chunks });
  }
  return { answers };
}
