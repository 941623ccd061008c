// An answer written straight as bytes: pieces gathered, then copied once into one Buffer, which the route sends as it
// is. A string answer is measured (Buffer.byteLength) and encoded again by the socket's write; a large answer made of
// vectors' JSON, which is ASCII, need be neither (docs/performance.md#the-embedding-cache).

/** Pieces up to this length are joined as strings (cheap) rather than kept apart. */
const SMALL = 64;

/** One answer's bytes, built in order from ASCII pieces (copied a byte a character) and any other text (UTF-8). */
export class JsonBytes {
  private readonly pieces: string[] = [];
  /** For each piece: true when it is ASCII. */
  private readonly ascii: boolean[] = [];
  private length = 0;
  /** Small ASCII pieces joined before they are kept, so that a piece is a vector or more. */
  private pending = '';

  /** ASCII only: the punctuation of the answer, numbers, and a vector's JSON text (numbers, brackets, commas). */
  raw(text: string): this {
    if (text.length <= SMALL) this.pending += text;
    else this.keep(text, true);
    return this;
  }

  /** Any text, kept as UTF-8 (a chunk's text, a string written by JSON.stringify). */
  text(text: string): this {
    this.keep(text, false);
    return this;
  }

  /** The answer's bytes. */
  bytes(): Buffer {
    this.flush();
    const out = Buffer.allocUnsafe(this.length);
    let at = 0;
    for (let i = 0; i < this.pieces.length; i++) {
      const piece = this.pieces[i]!;
      at += out.write(piece, at, this.ascii[i] ? 'latin1' : 'utf8');
    }
    // Exactly what was written (every piece fills its measured length): no byte of the unfilled allocation goes out.
    return at === out.length ? out : out.subarray(0, at);
  }

  private keep(piece: string, ascii: boolean): void {
    this.flush();
    this.pieces.push(piece);
    this.ascii.push(ascii);
    this.length += ascii ? piece.length : Buffer.byteLength(piece);
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const pending = this.pending;
    this.pending = '';
    this.keep(pending, true);
  }
}
