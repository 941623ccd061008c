// The one-pass check of TEI's answer shape against JSON.parse: whatever it accepts parses to the same vectors, and it
// never accepts what JSON.parse refuses.
import fc from 'fast-check';
import t from 'tap';
import { type SendError } from '../../../../src/services/send-error.js';
import { JsonAnswer } from '../../../../src/services/hugging-face/call.js';
import { parseEmbeddings, scanVectorList } from '../../../../src/services/hugging-face/text-embedding-wire.js';

/** JSON.parse's view: the vectors of `[[n, …], …]` with finite numbers, all of one length, or undefined. */
function reference(text: string): number[][] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length === 0) return undefined;
  if (
    !value.every((v) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x)))
  )
    return undefined;
  const dims = (value[0] as number[]).length;
  return value.every((v) => (v as number[]).length === dims) ? (value as number[][]) : undefined;
}

const space = fc.constantFrom('', ' ', '\n', '\t', '\r\n', '  ');
const number = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => JSON.stringify(x)),
  fc.integer().map(String),
  fc.constantFrom(
    '0',
    '-0',
    '1e5',
    '1E-7',
    '2.5e+10',
    '1e400',
    '-1e-400',
    '01',
    '1.',
    '.5',
    '+1',
    '1e',
    '--1',
    '0x10',
    'NaN',
    'Infinity',
    '1'.repeat(25),
    '1e123',
  ),
);
const vector = fc
  .array(fc.tuple(space, number, space), { minLength: 0, maxLength: 6 })
  .map((xs) => `[${xs.map(([a, n, b]) => a + n + b).join(',')}]`);
const anyAnswer = fc
  .tuple(
    space,
    fc.array(fc.tuple(space, vector, space), { minLength: 0, maxLength: 5 }),
    space,
    fc.constantFrom('', '', '', 'x', ']', ','),
  )
  .map(([a, vs, b, tail]) => `${a}[${vs.map(([x, v, y]) => x + v + y).join(',')}]${b}${tail}`);
/** Answers close to TEI's: vectors of one length, plain numbers, now and then one odd token. */
const plainNumber = fc.oneof(
  // As servers write float32 vectors: plain decimals, and small exponents.
  { weight: 10, arbitrary: fc.integer({ min: -2_000_000, max: 2_000_000 }).map((i) => String(i / 1_000_000)) },
  {
    weight: 10,
    arbitrary: fc
      .tuple(fc.integer({ min: -99_999, max: 99_999 }), fc.integer({ min: -45, max: 38 }))
      .map(([m, e]) => `${m / 10_000}e${e}`),
  },
  { weight: 1, arbitrary: number },
);
const nearAnswer = fc
  .integer({ min: 1, max: 6 })
  .chain((dims) =>
    fc.array(fc.array(fc.tuple(space, plainNumber), { minLength: dims, maxLength: dims }), {
      minLength: 1,
      maxLength: 4,
    }),
  )
  .map((vs) => `[${vs.map((v) => `[${v.map(([a, n]) => a + n).join(',')}]`).join(', ')}]`);
const answer = fc.oneof(anyAnswer, nearAnswer);

t.test('whatever the fast check accepts, JSON.parse reads as the same vectors', async (t) => {
  let accepted = 0;
  fc.assert(
    fc.property(answer, (text) => {
      const fast = scanVectorList(text);
      if (!fast) return true;
      accepted++;
      const slow = reference(text);
      if (!slow || slow.length !== fast.vectors.length || slow[0]!.length !== fast.dims) return false;
      return fast.vectors.every((json, i) => JSON.stringify(JSON.parse(json)) === JSON.stringify(slow[i]));
    }),
    { seed: 4242, numRuns: 5000 },
  );
  t.ok(accepted > 500, `${accepted} of 5000 random answers took the fast path`);
});

/** The check as it was, a regular expression per vector: the hand-written pass must accept exactly what it accepted. */
const NUMBER = '-?(?:0|[1-9]\\d{0,19})(?:\\.\\d+)?(?:[eE][+-]?\\d{1,2})?';
const VECTOR = new RegExp(`\\[[ \\t\\n\\r]*${NUMBER}(?:[ \\t\\n\\r]*,[ \\t\\n\\r]*${NUMBER})*[ \\t\\n\\r]*\\]`, 'y');
function regexScan(text: string): string[] | undefined {
  const skip = (i: number) => {
    while (/[ \t\n\r]/.test(text[i] ?? '')) i++;
    return i;
  };
  let i = skip(0);
  if (text[i++] !== '[') return undefined;
  const vectors: string[] = [];
  for (;;) {
    i = skip(i);
    VECTOR.lastIndex = i;
    if (!VECTOR.test(text)) return undefined;
    vectors.push(text.slice(i, VECTOR.lastIndex));
    i = skip(VECTOR.lastIndex);
    const c = text[i++];
    if (c === ',') continue;
    if (c !== ']') return undefined;
    const dims = vectors.map((v) => v.split(',').length);
    return skip(i) === text.length && dims.every((d) => d === dims[0]) ? vectors : undefined;
  }
}

t.test(
  'the one pass accepts what the regular expression accepted, and knows which vectors are of length 1',
  async (t) => {
    const unitAnswer = fc
      .array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 3, maxLength: 3 }), {
        minLength: 1,
        maxLength: 3,
      })
      .map((vs) => {
        const scaled = vs.map((v) => {
          const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
          return norm > 1e-3 ? v.map((x) => x / norm) : v;
        });
        return JSON.stringify(scaled);
      });
    fc.assert(
      fc.property(
        fc.oneof(
          answer,
          unitAnswer,
          fc.string(),
          answer.map((a) => a.replace('1', '\u0131')),
        ),
        (text) => {
          const fast = scanVectorList(text);
          const before = regexScan(text);
          if (JSON.stringify(fast?.vectors) !== JSON.stringify(before)) return false;
          // Whatever is known of length 1 is so by the sum of its parsed numbers' squares.
          return (fast?.vectors ?? []).every((json, i) => {
            if (!fast!.units[i]) return true;
            const sum = (JSON.parse(json) as number[]).reduce((s, x) => s + x * x, 0);
            return Math.abs(sum - 1) <= 2e-6;
          });
        },
      ),
      { seed: 4243, numRuns: 10000 },
    );
    const known = scanVectorList('[[0.6, 0.8], [0.3,0.4], [6e-1,0.8]]');
    t.strictSame(known?.units, [true, false, false], 'of length 1; of length 0.5; an exponent, left to the parse');
  },
);

t.test('answers the fast check leaves alone get the same verdict as before', async (t) => {
  const parse = (text: string, inputs: number, dims?: number) => {
    try {
      return parseEmbeddings(new JsonAnswer(text, 'e'), inputs, 'e', dims).map((v) => v.values);
    } catch (err) {
      return (err as SendError).failure.error.reason;
    }
  };
  const prefix = 'Failed to parse the response for inference entity id [e]: ';
  t.strictSame(parse('[[0.5, 1e-7], [2, -3]]', 2), [
    [0.5, 1e-7],
    [2, -3],
  ]);
  t.strictSame(
    parse('[[1e400, 1]]', 1),
    `${prefix}embedding [0] is not a list of finite numbers: got an array of 2 (number)`,
  );
  t.strictSame(parse('[[01, 1]]', 1), `${prefix}the body is not JSON`);
  t.strictSame(parse('[[1, 2], [3]]', 2), `${prefix}embedding [1] has 1 dimensions where embedding [0] has 2`);
  t.strictSame(parse('[[1, 2]]', 2), `${prefix}sent 2 inputs but received 1 embeddings`);
  t.strictSame(parse('[[1, 2]]', 1, 3), `${prefix}received embeddings of 2 dimensions where the endpoint has 3`);
  t.strictSame(parse('[[1, 2]] x', 1), `${prefix}the body is not JSON`);
  t.strictSame(parse('[1.5, 2]', 1), [[1.5, 2]], 'a flat vector for one input');
});
