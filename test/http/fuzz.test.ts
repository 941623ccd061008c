// Property-based fuzzing of every route: random methods, paths, queries, content types and bodies give no 5xx and no
// crash.
import fc from 'fast-check';
import t from 'tap';
import { API_KEY, startApp } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';

const RUNS = 2500;

t.test(
  `${RUNS} random requests: every answer is a 2xx or a 4xx in the envelope, and the service stays up`,
  async (t) => {
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    // Only the test upstream may be called, so a 5xx could only be a bug, not an unreachable random host.
    const s = await startApp(
      t,
      { SKIP_VALIDATION: 'true', UPSTREAM_ALLOWED_HOSTS: '127.0.0.1', BODY_LIMIT: '256kb' },
      undefined,
      {
        retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
      },
    );
    await s.request('PUT', '/_inference/text_embedding/known', {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: `${hf.url}/embed` },
    });

    const word = fc.oneof(
      fc.constantFrom(
        'text_embedding',
        'sparse_embedding',
        'rerank',
        'completion',
        'known',
        '_all',
        '_update',
        '_stream',
        'a',
        'UPPER',
        '..',
        '%2F',
        '%E0%A4%A',
        '%00',
        '🙂',
        '',
      ),
      fc.string({ maxLength: 12 }).map(encodeURIComponent),
      fc.string({ minLength: 200, maxLength: 400 }).map(encodeURIComponent),
    );
    const path = fc.oneof(
      fc.tuple(word, word).map(([a, b]) => `/_inference/${a}/${b}`),
      word.map((a) => `/_inference/${a}`),
      fc.tuple(word, word).map(([a, b]) => `/_inference/${a}/${b}/_update`),
      fc.tuple(word, word).map(([a, b]) => `/_inference/${a}/${b}/_stream`),
      fc.constantFrom(
        '/',
        '/_inference',
        '/_inference/',
        '/_inference/_all',
        '/_cat/indices',
        '//_inference',
        '/_inference/text_embedding/known',
      ),
      word.map((a) => `/${a}`),
    );
    const query = fc
      .array(
        fc.tuple(
          fc.constantFrom('timeout', 'dry_run', 'force', 'pretty', 'human', 'x', 'timeout'),
          fc.oneof(
            fc.constantFrom('30s', '1ms', '-1', 'true', 'false', '', 'abc', '9999999999999d'),
            fc.string({ maxLength: 8 }),
          ),
        ),
        { maxLength: 3 },
      )
      .map((pairs) => (pairs.length ? '?' + pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&') : ''));
    const anyValue = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }),
      fc.constantFrom(1e308, -1, 0, 2 ** 53, 1.5, '', 'x'.repeat(5000), null, [], {}),
    );
    const configBody = fc.record(
      {
        service: fc.oneof(fc.constant('hugging_face'), anyValue),
        task_type: fc.oneof(fc.constantFrom('text_embedding', 'rerank'), anyValue),
        service_settings: fc.oneof(
          fc.record(
            {
              api_key: fc.oneof(fc.constant(API_KEY), anyValue),
              url: fc.oneof(
                fc.constantFrom(`${hf.url}/embed`, 'http://169.254.169.254/', 'ftp://x', 'http://evil.example/'),
                anyValue,
              ),
              model_id: anyValue,
              similarity: fc.oneof(fc.constantFrom('cosine', 'dot_product'), anyValue),
              dimensions: anyValue,
              batch_size: anyValue,
              rate_limit: fc.oneof(fc.record({ requests_per_minute: anyValue }, { requiredKeys: [] }), anyValue),
            },
            { requiredKeys: [] },
          ),
          anyValue,
        ),
        chunking_settings: fc.oneof(
          fc.record(
            {
              strategy: fc.oneof(fc.constantFrom('word', 'sentence', 'recursive', 'none'), anyValue),
              max_chunk_size: anyValue,
              overlap: anyValue,
              sentence_overlap: anyValue,
              separators: anyValue,
            },
            { requiredKeys: [] },
          ),
          anyValue,
        ),
        input: fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.array(fc.string({ maxLength: 40 }), { maxLength: 30 }),
          anyValue,
        ),
        task_settings: anyValue,
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof(
      configBody.map((b) => JSON.stringify(b)),
      anyValue.map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 200 }),
      fc.constantFrom(
        '',
        '{',
        '{"a":',
        '[[[[',
        '{"__proto__":{"x":1}}',
        '{"constructor":{"prototype":{}}}',
        '['.repeat(5000) + ']'.repeat(5000),
        'null',
        'NaN',
      ),
      fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from([0x7b, 0x22, ...bytes, 0xff, 0xfe])),
      fc.integer({ min: 300_000, max: 400_000 }).map((n) => `{"input":"${'a'.repeat(n)}"}`),
    );
    const contentType = fc.constantFrom(
      'application/json',
      'application/vnd.elasticsearch+json; compatible-with=9',
      'text/plain',
      'application/x-www-form-urlencoded',
      undefined,
      'application/json; charset=latin1',
      '*/*',
    );
    const method = fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') as fc.Arbitrary<'GET'>;

    let ran = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(method, path, query, body, contentType, async (m, p, q, b, ct) => {
        ran++;
        const bodyless = (m as string) === 'GET' || (m as string) === 'HEAD';
        const res = await s.app.inject({
          method: m,
          url: p + q,
          payload: bodyless ? undefined : b,
          headers: ct ? { 'content-type': ct } : {},
        });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode >= 500) return false;
        if (res.statusCode >= 400 && (m as string) !== 'HEAD') {
          const json = res.json();
          if (
            typeof json.error?.type !== 'string' ||
            typeof json.error?.reason !== 'string' ||
            json.status !== res.statusCode
          )
            return false;
          if (/\n\s+at /.test(res.body)) return false; // no stack trace
        }
        return res.headers['x-elastic-product'] === 'Elasticsearch';
      }),
      { numRuns: RUNS, seed: 20261122 },
    );
    t.equal(ran, RUNS);
    t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
    const after = await s.request('POST', '/_inference/text_embedding/known', { input: 'still up' });
    t.strictSame(
      after.json,
      { text_embedding: [{ embedding: hf.vector('still up') }] },
      'the service still answers correctly',
    );
  },
);
