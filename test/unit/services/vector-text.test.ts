// The length of a vector read from its text against the sum of its parsed numbers' squares, which decided alone before:
// whenever the text says "of length 1", the parsed sum says so too, so the Hugging Face door answers the same bytes;
// and it says so for the vectors TEI answers by default. (The shape it accepts: text-embedding-wire.test.ts.)
import fc from 'fast-check';
import t from 'tap';
import { surelyUnitLength, UNIT_TOLERANCE } from '../../../src/services/vector-text.js';

/** The decision from the numbers, as the door takes it when the check is not sure. */
function parsedUnit(json: string): boolean {
  let sum = 0;
  for (const v of JSON.parse(json) as number[]) sum += v * v;
  return Math.abs(sum - 1) <= UNIT_TOLERANCE;
}

/** `values` scaled so that their squared length is `squared`. */
function scaled(values: number[], squared: number): number[] {
  const norm = Math.sqrt(values.reduce((s, v) => s + v * v, 0));
  return values.map((v) => (v / norm) * Math.sqrt(squared));
}

/** The shortest text of each value as a float32, as TEI (Rust's serde_json) writes its vectors. */
const asTei = (values: number[]) =>
  `[${values
    .map((v) => {
      const f = Math.fround(v);
      for (let p = 1; p < 9; p++)
        if (Math.fround(Number(f.toPrecision(p))) === f) return String(Number(f.toPrecision(p)));
      return String(Number(f.toPrecision(9)));
    })
    .join(',')}]`;

const component = fc.double({ min: -1, max: 1, noNaN: true });

t.test('vectors of length 1, as TEI writes them and as float32 doubles, are known from their text', async (t) => {
  fc.assert(
    fc.property(fc.array(component, { minLength: 2, maxLength: 1024 }), (values) => {
      fc.pre(values.some((v) => Math.abs(v) > 1e-3));
      const unit = scaled(values, 1);
      for (const json of [asTei(unit), JSON.stringify(unit.map(Math.fround))]) {
        const sure = surelyUnitLength(json);
        if (sure && !parsedUnit(json)) return false;
        // An exponent (a value under 1e-6) leaves the decision to the parse; any other vector is known.
        if (!/e/i.test(json) && !sure) return false;
      }
      return true;
    }),
  );
  t.pass('known from their text whenever no number has an exponent');
});

t.test('near the tolerance, the check is never sure of a length the parsed sum refuses', async (t) => {
  const edge = fc.double({ min: 1 - 3 * UNIT_TOLERANCE, max: 1 + 3 * UNIT_TOLERANCE, noNaN: true });
  fc.assert(
    fc.property(fc.array(component, { minLength: 1, maxLength: 400 }), edge, fc.boolean(), (values, squared, tei) => {
      fc.pre(values.some((v) => Math.abs(v) > 1e-3));
      const vector = scaled(values, squared);
      const json = tei ? asTei(vector) : JSON.stringify(vector);
      return !surelyUnitLength(json) || parsedUnit(json);
    }),
    { numRuns: 2000 },
  );
  // Just inside and just outside, in plain digits.
  t.equal(surelyUnitLength('[0.6,0.8]'), true);
  t.equal(surelyUnitLength('[0.6,0.8000005]'), true, 'squared length 1 + 8e-7');
  t.equal(surelyUnitLength('[0.6,0.800002]'), false, 'squared length 1 + 3.2e-6');
  t.equal(surelyUnitLength('[0.6,0.799998]'), false, 'squared length 1 - 3.2e-6');
  // Read to 0.800001249, inside by 1.6e-10; the digits after it could reach 0.80000125, outside: not sure (the parse
  // then finds 1 + 1.99999996e-6, and keeps the vector as it is).
  t.equal(surelyUnitLength('[0.6,0.800001249999]'), false, 'digits beyond those read widen the bound');
});

t.test('what the check leaves to the parse', async (t) => {
  for (const [json, why] of [
    ['[]', 'an empty list'],
    ['[0,0,0]', 'a zero vector (kept as it is, which the parse decides)'],
    ['[0.3,0.4]', 'a vector of length 0.5'],
    ['[6e-1,0.8]', 'an exponent'],
    ['[0.6,0.8E0]', 'an exponent, capital'],
    ['[0.6,0.8] x', 'text after the list'],
    ['0.6,0.8]', 'no list'],
    ['[0.6,0.8', 'no end'],
    ['[0.6,,0.8]', 'an empty element'],
    ['[0.6,"0.8"]', 'a string'],
    ['[0.6,-]', 'a sign alone'],
    ['[2,0]', 'a vector of length 2'],
    ['[0.6,0.8\u0131]', 'a character that is not ASCII'],
    ['[01,0]', 'a number JSON does not write'],
  ] as const)
    t.equal(surelyUnitLength(json), false, why);
  // A parse of these would not say otherwise: whatever the check is sure of, the parse agrees with.
  for (const json of [
    '[1]',
    '[-1]',
    '[0,1,0]',
    ' [ 0.6 ,\n\t-0.8 ] ',
    '[0.600000000000000000001,0.8]',
    '[0.6,0.8000005]',
  ])
    t.equal(surelyUnitLength(json), true, json);
});

t.test('a vector longer than the first read buffer, then a short one', async (t) => {
  // Values from 0.1 to 0.9 before scaling: none so small that it is written with an exponent.
  const long = scaled(
    Array.from({ length: 8192 }, (_, i) => 0.5 + 0.4 * Math.sin(i)),
    1,
  );
  const json = JSON.stringify(long);
  t.ok(json.length > 16 * 1024 && !/e/i.test(json));
  t.equal(surelyUnitLength(json), true);
  t.equal(parsedUnit(json), true);
  t.equal(surelyUnitLength(JSON.stringify(scaled(long, 4))), false, 'the same, of length 2');
  // Bytes of the long vector left beyond a short one's end are not read as its own.
  t.equal(surelyUnitLength('[0.6,0.8'), false);
  t.equal(surelyUnitLength('[0.6,0.8]'), true);
});
