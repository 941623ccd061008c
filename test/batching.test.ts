// Cross-request batching: concurrent requests share upstream batches, yet each gets exactly its own vectors.
import t from 'tap';
import { API_KEY, envelope, startApp } from './helpers/app.js';
import { FakeHuggingFace } from './helpers/fake-hf.js';

async function setup(t: Parameters<typeof startApp>[0]) {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, { SKIP_VALIDATION: 'true' }, undefined, { retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 } });
  const put = (id: string, serviceSettings: Record<string, unknown> = {}) =>
    s.request('PUT', `/_inference/text_embedding/${id}`, {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: `${hf.url}/embed`, dimensions: 16, ...serviceSettings },
    });
  const embed = (id: string, input: string | string[]) => s.request('POST', `/_inference/text_embedding/${id}`, { input });
  return { s, hf, put, embed };
}

t.test('under concurrency every request gets its own vectors, in its own order, from shared batches', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('shared', { rate_limit: { requests_per_minute: 1200 } });
  const requests = Array.from({ length: 40 }, (_, r) => Array.from({ length: 1 + ((r * 7) % 6) }, (_, i) => `request ${r} text ${i}`));
  const answers = await Promise.all(requests.map((inputs) => embed('shared', inputs)));
  answers.forEach((res, r) => t.same(res.json, { text_embedding: requests[r]!.map((x) => ({ embedding: hf.vector(x) })) }, `request ${r}`));
  const total = requests.reduce((n, x) => n + x.length, 0);
  t.equal(hf.texts.length, total, 'each text sent once');
  t.ok(hf.received.every((r) => r.body.inputs.length <= 20), 'no batch over 20');
  t.ok(hf.received.length < requests.length, `${hf.received.length} upstream requests for ${requests.length} client requests`);
  const owners = (batch: string[]) => new Set(batch.map((x) => x.split(' text ')[0]));
  t.ok(hf.received.some((r) => owners(r.body.inputs).size > 1), 'some batch carries texts of several requests');
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
  t.same(hf.received.map((r) => r.body.inputs), [['w'], ['a1', 'a2', 'b1']]);
  t.equal(rw.status, 200);
  const failure = envelope(400, 'status_exception', 'Received a server error status code for request from inference entity id [e] status [500]. Error message: [boom]');
  t.same(ra.json, failure);
  t.same(rb.json, failure);
  const c = await embed('e', 'c1');
  t.same(c.json, { text_embedding: [{ embedding: hf.vector('c1') }] }, 'the next batch is unaffected');
});

t.test('a lone request with an idle limiter pays no batching delay', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('slow-rate', { rate_limit: { requests_per_minute: 6 } }); // one slot every 10 s
  const started = performance.now();
  const res = await embed('slow-rate', 'alone');
  const took = performance.now() - started;
  t.equal(res.status, 200);
  t.ok(took < 200, `answered in ${took.toFixed(0)} ms`);
  t.ok(hf.received[0]!.at - started < 100, 'sent at once');
});

t.test('batch_size: stored, shown, validated, used, and changed live by _update', async (t) => {
  const { s, hf, put, embed } = await setup(t);
  let res = await put('b5', { batch_size: 5 });
  t.same(res.json.service_settings, { url: `${hf.url}/embed`, similarity: 'cosine', dimensions: 16, batch_size: 5, rate_limit: { requests_per_minute: 3000 } });
  const inputs = Array.from({ length: 12 }, (_, i) => `x${i}`);
  await embed('b5', inputs);
  t.same(hf.received.map((r) => r.body.inputs.length), [5, 5, 2]);
  res = await s.request('PUT', '/_inference/b5/_update', { service_settings: { batch_size: 3 } });
  t.equal(res.json.service_settings.batch_size, 3);
  const before = hf.received.length;
  await embed('b5', inputs.slice(0, 7));
  t.same(hf.received.slice(before).map((r) => r.body.inputs.length), [3, 3, 1]);

  res = await put('bad', { batch_size: 0 });
  t.same(res.json, envelope(400, 'validation_exception', 'Validation Failed: 1: [service_settings] Invalid value [0]. [batch_size] must be a positive integer;'));
  res = await put('bad', { batch_size: 5000 });
  t.same(res.json, envelope(400, 'validation_exception', 'Validation Failed: 1: [service_settings] Invalid value [5000.0]. [batch_size] must be a less than or equal to [1024.0];'));
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
  t.same(rq.json, envelope(408, 'status_exception', 'Request timed out after [250ms]'));
  t.same(rp.json, { text_embedding: [{ embedding: hf.vector('patient') }] });
});
