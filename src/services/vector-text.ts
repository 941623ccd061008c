// A vector's JSON text read in one pass, without building its numbers: whether it is a plain list of numbers (as TEI
// and Inference Endpoints write them), how many, and whether it is surely of length 1 (what TEI answers by default).
// text_embedding's wire checks each upstream answer with it; the Hugging Face door, whose `normalize` needs that length
// (docs/doors.md#the-hugging-face-door), reads it from there instead of parsing every vector.

/**
 * How far from 1 a vector's squared length may be for it to count as normalised already: a length within 1e-6 of 1,
 * about what float32 rounding leaves of a vector TEI normalised (its default).
 */
export const UNIT_TOLERANCE = 2e-6;

/**
 * Room left between the bounds read from the digits and the tolerance, so that "of length 1" agrees with the sum of the
 * parsed numbers' squares: their rounding (parts in 1e16 per number and per addition) stays far below it.
 */
const MARGIN = 1e-9;

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7];

/** What {@link readVector} found: the vector's count of numbers, and whether it is surely of length 1. */
export interface VectorRead {
  count: number;
  unit: boolean;
}

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
/** Whether the four bytes of `w` are all digits. */
const fourDigits = (w: number) => (w & 0xf0f0f0f0) === 0x30303030 && ((w + 0x06060606) & 0xf0f0f0f0) === 0x30303030;
/** Four digit bytes (little-endian: the first the lowest) as the number they write. */
const digitsOf = (w: number) => {
  const x = w - 0x30303030;
  const pairs = (x * 10 + (x >>> 8)) & 0x00ff00ff;
  return (pairs & 0xff) * 100 + (pairs >>> 16);
};

/**
 * Reads the vector whose `[` is at `start` in `b` (ASCII text, then a 0 and 8 more bytes, from {@link asciiBytes};
 * `view` reads the same bytes): a list of at least one plain JSON number,
 * `-?(0|[1-9]\d{0,19})(\.\d+)?([eE][+-]?\d{1,2})?` (a number surely finite once parsed), spaces around them. Returns
 * the index after its `]`, or -1 for anything else.
 *
 * Its length: each number is read to nine fraction digits, so that its magnitude lies between that truncation and the
 * truncation plus one unit of its last digit read; summed, these bound the squared length from below and above (within
 * 2e-9 × Σ|v| of each other, some 4e-8 for a 384-dimension vector of length 1). `unit` is true only when both bounds
 * are within {@link UNIT_TOLERANCE} of 1 by a margin, and no number has an exponent: the sum of the parsed numbers'
 * squares is then surely within it too.
 */
export function readVector(b: Uint8Array, view: DataView, start: number, out: VectorRead): number {
  let i = start;
  let count = 0;
  let low = 0;
  let high = 0;
  let plain = true;
  for (;;) {
    let c = b[++i]!;
    while (isSpace(c)) c = b[++i]!;
    if (c === 0x2d) c = b[++i]!;
    let whole: number;
    if (c === 0x30) {
      whole = 0;
      c = b[++i]!;
    } else if (c >= 0x31 && c <= 0x39) {
      whole = c - 0x30;
      const limit = i + 20;
      c = b[++i]!;
      while (isDigit(c)) {
        if (i >= limit) return -1;
        whole = whole * 10 + (c - 0x30);
        c = b[++i]!;
      }
    } else return -1;
    let below = whole;
    let above = whole;
    if (c === 0x2e) {
      const first = i + 1;
      const w1 = view.getUint32(first, true);
      const w2 = view.getUint32(first + 4, true);
      let fraction: number;
      let scale: number;
      if (fourDigits(w1) && fourDigits(w2)) {
        // Eight digits or more, as most float32 texts have: read four bytes at a time.
        fraction = digitsOf(w1) * 1e4 + digitsOf(w2);
        scale = 1e8;
        i = first + 8;
        c = b[i]!;
        if (isDigit(c)) {
          fraction = fraction * 10 + (c - 0x30);
          scale = 1e9;
          c = b[++i]!;
        }
      } else {
        i = first;
        c = b[i]!;
        if (!isDigit(c)) return -1;
        fraction = 0;
        do {
          fraction = fraction * 10 + (c - 0x30);
          c = b[++i]!;
        } while (isDigit(c));
        scale = POW10[i - first]!;
      }
      below = whole + fraction / scale;
      if (isDigit(c)) {
        // More digits than read: up to one unit of the last one read more.
        above = below + 1 / scale;
        while (fourDigits(view.getUint32(i, true))) i += 4;
        c = b[i]!;
        while (isDigit(c)) c = b[++i]!;
      } else above = below;
    }
    if (c === 0x65 || c === 0x45) {
      c = b[++i]!;
      if (c === 0x2b || c === 0x2d) c = b[++i]!;
      if (!isDigit(c)) return -1;
      c = b[++i]!;
      if (isDigit(c)) c = b[++i]!;
      plain = false;
    }
    low += below * below;
    high += above * above;
    count++;
    while (isSpace(c)) c = b[++i]!;
    if (c === 0x2c) continue;
    if (c !== 0x5d) return -1;
    out.count = count;
    out.unit = plain && low >= 1 - UNIT_TOLERANCE + MARGIN && high <= 1 + UNIT_TOLERANCE - MARGIN;
    return i + 1;
  }
}

/** Texts up to this length are read through one buffer kept for it; longer ones through one of their own. */
const KEPT = 1 << 20;
let scratch = new Uint8Array(64 * 1024);
let scratchView = new DataView(scratch.buffer);

/**
 * `text`'s bytes followed by a 0 (and 8 bytes more, so that four bytes can be read at any index up to it), a view of
 * them, and their count; undefined when `text` is not all ASCII (a text of numbers is). The buffer is the one kept for
 * it, read before the next call.
 */
export function asciiBytes(text: string): { bytes: Uint8Array; view: DataView; length: number } | undefined {
  const length = text.length;
  let bytes = scratch;
  let view = scratchView;
  if (length + 9 > bytes.length) {
    bytes = new Uint8Array(length + 9);
    view = new DataView(bytes.buffer);
    if (length < KEPT) {
      scratch = bytes;
      scratchView = view;
    }
  }
  // As UTF-8 and no more bytes than characters: all were written only if all are ASCII.
  const { read, written } = encoder.encodeInto(text, bytes.subarray(0, length));
  if (read !== length || written !== length) return undefined;
  bytes[length] = 0;
  return { bytes, view, length };
}
const encoder = new TextEncoder();

const read: VectorRead = { count: 0, unit: false };

/**
 * True only when `json`, a vector's text (`Embedding.json`), is a plain list of numbers surely of length 1 (see
 * {@link readVector}); false when that is not sure, and for anything else: the caller then decides from its numbers.
 */
export function surelyUnitLength(json: string): boolean {
  const text = asciiBytes(json);
  if (!text) return false;
  const { bytes, view, length } = text;
  let i = 0;
  while (isSpace(bytes[i]!)) i++;
  if (bytes[i] !== 0x5b) return false;
  i = readVector(bytes, view, i, read);
  if (i < 0) return false;
  while (isSpace(bytes[i]!)) i++;
  return i === length && read.unit;
}
