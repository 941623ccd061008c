// Cross-request batching: concurrent requests share upstream batches, yet each gets exactly its own vectors.
import t from 'tap';
import { API_KEY, envelope, startApp } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';

async function setup(t: Parameters<typeof startApp>[0]) {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, { SKIP_VALIDATION: 'true' }, undefined, {
    retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 },
  });
  const put = (id: string, serviceSettings: Record<string, unknown> = {}) =>
    s.request('PUT', `/_inference/text_embedding/${id}`, {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: `${hf.url}/embed`, dimensions: 16, ...serviceSettings },
    });
  const embed = (id: string, input: string | string[]) =>
    s.request('POST', `/_inference/text_embedding/${id}`, { input });
  return { s, hf, put, embed };
}

t.test('under concurrency every request gets its own vectors, in its own order, from shared batches', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('shared', { rate_limit: { requests_per_minute: 1200 } });
  const requests = Array.from({ length: 40 }, (_, r) =>
    Array.from({ length: 1 + ((r * 7) % 6) }, (_, i) => `request ${r} text ${i}`),
  );
  const answers = await Promise.all(requests.map((inputs) => embed('shared', inputs)));
  answers.forEach((res, r) =>
    t.strictSame(res.json, { text_embedding: requests[r]!.map((x) => ({ embedding: hf.vector(x) })) }, `request ${r}`),
  );
  const total = requests.reduce((n, x) => n + x.length, 0);
  t.equal(hf.texts.length, total, 'each text sent once');
  t.ok(
    hf.received.every((r) => r.body.inputs.length <= 20),
    'no batch over 20',
  );
  t.ok(
    hf.received.length < requests.length,
    `${hf.received.length} upstream requests for ${requests.length} client requests`,
  );
  const owners = (batch: string[]) => new Set(batch.map((x) => x.split(' text ')[0]));
  t.ok(
    hf.received.some((r) => owners(r.body.inputs).size > 1),
    'some batch carries texts of several requests',
  );
});

t.test('a failed shared batch fails only the requests whose texts were in it', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('e', { rate_limit: { requests_per_minute: 600 } });
  // W takes the idle limiter's slot alone; A and B wait together for the next slot, 100 ms later.
  hf.next({ delayMs: 0 }, { status: 500, json: { error: 'boom' } });
  const w = embed('e', 'w');
  await new Promise((r) => setTimeout(r, 20));
  const a = embed('e', ['a1', 'a2']);
  const b = embed('e', 'b1');
  const [rw, ra, rb] = await Promise.all([w, a, b]);
  // The shared batch: a's turn fills it with both of a's texts, then b's turn adds b's.
  t.strictSame(
    hf.received.map((r) => r.body.inputs),
    [['w'], ['a1', 'a2', 'b1']],
  );
  t.equal(rw.status, 200);
  const failure = envelope(
    400,
    'status_exception',
    'Received a server error status code for request from inference entity id [e] status [500]. Error message: [boom]',
  );
  t.strictSame(ra.json, failure);
  t.strictSame(rb.json, failure);
  const c = await embed('e', 'c1');
  t.strictSame(c.json, { text_embedding: [{ embedding: hf.vector('c1') }] }, 'the next batch is unaffected');
});

t.test('a lone request with an idle limiter pays no batching delay', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('slow-rate', { rate_limit: { requests_per_minute: 6 } }); // one slot every 10 s
  const started = performance.now();
  const res = await embed('slow-rate', 'alone');
  const took = performance.now() - started;
  t.equal(res.status, 200);
  // Waiting for the limiter's next slot would take 10 s here (and a batching window of a second
  // would fail too); the bounds leave a loaded machine a second of scheduling delay. How fast a
  // lone request really is belongs to the bench (mean latency at one connection).
  t.ok(hf.received[0]!.at - started < 1000, `sent at once (after ${(hf.received[0]!.at - started).toFixed(0)} ms)`);
  t.ok(took < 2000, `answered in ${took.toFixed(0)} ms`);
});

t.test('batch_size: stored, shown, validated, used, and changed live by _update', async (t) => {
  const { s, hf, put, embed } = await setup(t);
  let res = await put('b5', { batch_size: 5 });
  t.strictSame(res.json.service_settings, {
    url: `${hf.url}/embed`,
    similarity: 'cosine',
    dimensions: 16,
    batch_size: 5,
    rate_limit: { requests_per_minute: 3000 },
  });
  const inputs = Array.from({ length: 12 }, (_, i) => `x${i}`);
  await embed('b5', inputs);
  t.strictSame(
    hf.received.map((r) => r.body.inputs.length),
    [5, 5, 2],
  );
  res = await s.request('PUT', '/_inference/b5/_update', { service_settings: { batch_size: 3 } });
  t.equal(res.json.service_settings.batch_size, 3);
  const before = hf.received.length;
  await embed('b5', inputs.slice(0, 7));
  t.strictSame(
    hf.received.slice(before).map((r) => r.body.inputs.length),
    [3, 3, 1],
  );

  res = await put('bad', { batch_size: 0 });
  t.strictSame(
    res.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [service_settings] Invalid value [0]. [batch_size] must be a positive integer;',
    ),
  );
  res = await put('bad', { batch_size: 5000 });
  t.strictSame(
    res.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [service_settings] Invalid value [5000.0]. [batch_size] must be a less than or equal to [1024.0];',
    ),
  );
});

t.test('a timed-out request leaves a shared batch without hurting the others', async (t) => {
  const { s, hf, put } = await setup(t);
  await put('e', { rate_limit: { requests_per_minute: 600 } });
  hf.next({ delayMs: 0 }, { delayMs: 400 });
  const w = s.request('POST', '/_inference/text_embedding/e', { input: 'w' });
  await new Promise((r) => setTimeout(r, 20));
  const quick = s.request('POST', '/_inference/text_embedding/e?timeout=250ms', { input: 'impatient' });
  const patient = s.request('POST', '/_inference/text_embedding/e', { input: 'patient' });
  const [rw, rq, rp] = await Promise.all([w, quick, patient]);
  t.equal(rw.status, 200);
  t.strictSame(rq.json, envelope(408, 'status_exception', 'Request timed out after [250ms]'));
  t.strictSame(rp.json, { text_embedding: [{ embedding: hf.vector('patient') }] });
});

t.test('max_concurrent_requests: stored, shown, validated, and changed live by _update', async (t) => {
  const { s, hf, put } = await setup(t);
  let res = await put('mc', { batch_size: 4, max_concurrent_requests: 2 });
  t.equal(
    JSON.stringify(res.json.service_settings),
    JSON.stringify({
      url: `${hf.url}/embed`,
      similarity: 'cosine',
      dimensions: 16,
      batch_size: 4,
      max_concurrent_requests: 2,
      rate_limit: { requests_per_minute: 3000 },
    }),
  );
  res = await s.request('PUT', '/_inference/mc/_update', { service_settings: { max_concurrent_requests: 5 } });
  t.equal(res.json.service_settings.max_concurrent_requests, 5);
  res = await put('bad', { max_concurrent_requests: 0 });
  t.strictSame(
    res.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [service_settings] Invalid value [0]. [max_concurrent_requests] must be a positive integer;',
    ),
  );
  res = await put('bad', { max_concurrent_requests: 1025 });
  t.strictSame(
    res.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [service_settings] Invalid value [1025.0]. [max_concurrent_requests] must be a less than or equal to [1024.0];',
    ),
  );
  res = await put('bad', { max_concurrent_requests: '3' });
  t.strictSame(res.json.status, 400, 'a string is not an integer');
});

t.test(
  'batching under load: never more than max_concurrent_requests in flight, and waiting texts form fuller batches',
  async (t) => {
    const { s, hf, put, embed } = await setup(t);
    hf.delayMs = 60;
    await put('cap', { max_concurrent_requests: 3, rate_limit: { requests_per_minute: 6_000_000 } });
    const texts = Array.from({ length: 60 }, (_, i) => `load text ${i}`);
    const answers = await Promise.all(texts.map((x) => embed('cap', x)));
    answers.forEach((res, i) =>
      t.strictSame(
        res.json,
        { text_embedding: [{ embedding: hf.vector(texts[i]!) }] },
        `request ${i} got its own vector`,
      ),
    );
    t.ok(hf.peakInFlight <= 3, `at most 3 upstream requests in flight (saw ${hf.peakInFlight})`);
    t.equal(hf.peakInFlight, 3, 'the cap is used');
    t.ok(hf.received.length <= 60 / 3, `60 one-text requests went up as ${hf.received.length} batches`);
    t.strictSame([...hf.texts].sort(), [...texts].sort(), 'each text sent once');

    // The default is 8; an _update applies to the live queue.
    hf.peakInFlight = 0;
    await put('default', { rate_limit: { requests_per_minute: 6_000_000 } });
    await Promise.all(Array.from({ length: 100 }, (_, i) => embed('default', `d${i}`)));
    t.equal(hf.peakInFlight, 8, 'the default cap is 8');
    await s.request('PUT', '/_inference/default/_update', { service_settings: { max_concurrent_requests: 1 } });
    hf.peakInFlight = 0;
    const before = hf.received.length;
    const late = await Promise.all(Array.from({ length: 30 }, (_, i) => embed('default', `u${i}`)));
    t.ok(late.every((r) => r.status === 200));
    t.equal(hf.peakInFlight, 1, 'after the update one request at a time');
    t.ok(hf.received.length - before < 30, 'and the texts waiting meanwhile were batched');
  },
);

t.test('a small request behind a large one waits about one batch, not the whole length of the large one', async (t) => {
  const { hf, put, embed } = await setup(t);
  // One upstream request every 100 ms: the large request's 20 batches take 2 s.
  await put('fair', { rate_limit: { requests_per_minute: 600 } });
  const large = Array.from({ length: 400 }, (_, i) => `large ${i}`);
  const bigAnswer = embed('fair', large);
  while (hf.received.length === 0) await new Promise((r) => setTimeout(r, 5));
  const sentBefore = hf.received.length;
  const asked = performance.now();
  const small = await embed('fair', 'small');
  const waited = performance.now() - asked;
  const sentByThen = hf.received.length;
  t.strictSame(small.json, { text_embedding: [{ embedding: hf.vector('small') }] });
  t.ok(
    sentByThen - sentBefore <= 2,
    `answered after ${sentByThen - sentBefore} more upstream request(s) of the large one's 20 (${waited.toFixed(0)} ms)`,
  );
  const carrier = hf.received.find((r) => r.body.inputs.includes('small'))!;
  t.equal(carrier.body.inputs.length, 20, 'the batch that carried it was full, filled from both requests');
  const res = await bigAnswer;
  t.strictSame(
    res.json,
    { text_embedding: large.map((x) => ({ embedding: hf.vector(x) })) },
    'the large request still gets its own vectors, in order',
  );
  t.equal(hf.received.length, 21, '401 texts in 21 upstream requests');
});

t.test(
  'a request that cannot finish within its timeout at the rate of its endpoint is refused at once, before any upstream call',
  async (t) => {
    const { s, hf, put, embed } = await setup(t);
    // The defaults: batch_size 20, 3000/min (one upstream request every 20 ms), a 30 s timeout.
    await put('defaults');
    const started = performance.now();
    let res = await embed(
      'defaults',
      Array.from({ length: 39_000 }, (_, i) => `t${i}`),
    );
    t.strictSame(
      res.json,
      envelope(
        400,
        'status_exception',
        'The request for inference id [defaults] makes [39000] texts (inputs after chunking): [1950] upstream requests of at most [20], ' +
          'which at [3000] requests_per_minute take at least [38.98s], and the request times out within [30s]; ' +
          "send fewer texts per request, or raise its timeout or the endpoint's batch_size or requests_per_minute",
      ),
    );
    t.ok(performance.now() - started < 10_000, 'refused at once, not at its timeout');

    // One request a minute: a request of one batch goes at once; a second batch would leave a minute later.
    await put('rpm1', { rate_limit: { requests_per_minute: 1 } });
    res = await s.request('POST', '/_inference/text_embedding/rpm1?timeout=45s', {
      input: Array.from({ length: 21 }, (_, i) => `u${i}`),
    });
    t.strictSame(
      res.json.error.reason,
      'The request for inference id [rpm1] makes [21] texts (inputs after chunking): [2] upstream requests of at most [20], ' +
        'which at [1] requests_per_minute take at least [60s], and the request times out within [45s]; ' +
        "send fewer texts per request, or raise its timeout or the endpoint's batch_size or requests_per_minute",
    );
    t.equal(hf.received.length, 0, 'the upstream received no call');
    const fits = Array.from({ length: 20 }, (_, i) => `u${i}`);
    res = await embed('rpm1', fits);
    t.strictSame(
      res.json,
      { text_embedding: fits.map((x) => ({ embedding: hf.vector(x) })) },
      'one batch at 1/min is answered',
    );
    t.equal(hf.received.length, 1);
  },
);
