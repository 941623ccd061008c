// An upstream that echoes the key it was sent, in any encoding: the key reaches neither the caller nor any log line, at any level.
import fc from 'fast-check';
import t from 'tap';
import { envelope, startApp } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';
import { FakeLlm } from '../helpers/fake-llm.js';
import { ENCODINGS } from '../helpers/key-encodings.js';

/**
 * Keys an Authorization header can carry (undici refuses control characters and anything above
 * U+00FF): printable ASCII with `"` `\` `/` `%` `+` made likely, and Latin-1. Astral keys are
 * covered where no header is needed (test/unit/redaction.test.ts).
 */
const headerKey = fc
  .array(fc.oneof(fc.constantFrom('"', '\\', '/', '%', '+', 'é', 'ü'), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }).filter((c) => c >= ' ' && c <= '~' && c !== ' ')), {
    minLength: 8,
    maxLength: 40,
  })
  .map((chars) => chars.join(''));

/** The forms of `key` a reader of `text` could recover it from: as itself, JSON-escaped, percent-encoded, and after decoding the text. */
function leaks(text: string, key: string): boolean {
  const forms = [key, JSON.stringify(key).slice(1, -1), JSON.stringify(key).slice(1, -1).replace(/\//g, '\\/'), encodeURIComponent(key)];
  const decoded = [text];
  try {
    decoded.push(JSON.stringify(JSON.parse(text), (_k, v: unknown) => v), String(JSON.parse(text)?.error?.reason ?? ''));
  } catch {
    // not JSON
  }
  return decoded.some((d) => forms.some((f) => d.includes(f)));
}

const bearer = (authorization: string) => authorization.replace(/^Bearer /, '');

t.test('an error answer that echoes the key, in every encoding: not in the answer, not in any log line at trace', async (t) => {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, { LOG_LEVEL: 'trace' });
  let n = 0;
  await fc.assert(
    fc.asyncProperty(headerKey, fc.constantFrom(...Object.keys(ENCODINGS)), fc.constantFrom(400, 401, 403, 422, 500), async (key, encoding, status) => {
      const id = `e${n++}`;
      const put = await s.request('PUT', `/_inference/text_embedding/${id}`, { service: 'hugging_face', service_settings: { api_key: key, url: `${hf.url}/embed`, dimensions: 16 } });
      if (put.status !== 200) throw new Error(put.body);
      hf.next({ status, echo: (authorization) => `{"error":"bad token Bearer ${ENCODINGS[encoding]!(bearer(authorization))}"}` });
      const logsBefore = s.logs.lines.length;
      const res = await s.request('POST', `/_inference/text_embedding/${id}`, { input: 'x' });
      const lines = s.logs.lines.slice(logsBefore);
      const echoed = hf.received.at(-1)!.headers.authorization === `Bearer ${key}`;
      return (
        echoed &&
        res.status >= 400 &&
        res.status < 500 &&
        // Raw, a key with `"` makes the body no JSON: then the whole body is the message.
        /Error message: \[.*bad token Bearer \[REDACTED\]/.test(res.json.error.reason) &&
        !leaks(res.body, key) &&
        lines.length >= 1 &&
        lines.every((l) => !leaks(l, key))
      );
    }),
    { numRuns: 60 },
  );
  t.ok(s.logs.lines.some((l) => l.includes('"level":10') || l.includes('"level":20')), 'lines at trace and debug were written');
  t.ok(s.logs.lines.some((l) => l.includes('"level":40') && l.includes('upstream request failed')), 'and the warn lines of upstream faults');
});

t.test('the exact answer to the echo of a key with " \\ and /', async (t) => {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, { LOG_LEVEL: 'trace' });
  const key = 'sec"ret/va\\lue99';
  await s.request('PUT', '/_inference/text_embedding/e', { service: 'hugging_face', service_settings: { api_key: key, url: `${hf.url}/embed`, dimensions: 16 } });
  hf.next({ status: 401, echo: (authorization) => JSON.stringify({ error: `bad token ${authorization}` }) });
  const res = await s.request('POST', '/_inference/text_embedding/e', { input: 'x' });
  t.equal(res.status, 401);
  t.equal(res.json.error.reason, 'Received an authentication error status code for request from inference entity id [e] status [401]. Error message: [bad token Bearer [REDACTED]]');
  const warn = s.logs.lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'upstream request failed');
  t.equal(warn?.reason, res.json.error.reason, 'the warn line says the same, masked');
  t.strictSame(s.logs.lines.filter((l) => leaks(l, key)), []);
});

t.test('a stream whose error event echoes the key, split across two reads: not in the events, not in any log line', async (t) => {
  const llm = await new FakeLlm().start();
  llm.tokenDelayMs = 5;
  t.teardown(() => llm.close());
  const s = await startApp(t, { LOG_LEVEL: 'trace' });
  let n = 0;
  await fc.assert(
    fc.asyncProperty(headerKey, fc.constantFrom(...Object.keys(ENCODINGS)), fc.boolean(), async (key, encoding, afterTokens) => {
      const id = `c${n++}`;
      const put = await s.request('PUT', `/_inference/chat_completion/${id}`, { service: 'hugging_face', service_settings: { api_key: key, url: `${llm.url}/v1/chat/completions` } });
      if (put.status !== 200) throw new Error(put.body);
      let json = true;
      llm.next({
        echo: (authorization) => {
          const error = `{"error":{"message":"token ${ENCODINGS[encoding]!(bearer(authorization))} is not allowed","http_status_code":403}}`;
          try {
            JSON.parse(error);
          } catch {
            json = false;
          }
          return { tokens: afterTokens ? ['Hello', ' there'] : [], error };
        },
      });
      const logsBefore = s.logs.lines.length;
      const res = await s.request('POST', `/_inference/chat_completion/${id}/_stream`, { messages: [{ role: 'user', content: 'hi' }] });
      const lines = s.logs.lines.slice(logsBefore);
      // An event that is not JSON (a raw key with `"`) is a bad answer, which quotes nothing of it.
      const reason = json ? 'Error message: [token [REDACTED] is not allowed]' : 'an event of the stream is not JSON';
      // Before the first token the error is the answer; after it, the stream's error event.
      const told = afterTokens
        ? res.status === 200 && res.body.includes('event: error') && res.body.includes(reason)
        : res.status === (json ? 401 : 502) && res.json.error.reason.includes(reason);
      return told && !leaks(res.body, key) && res.body.split('\n').every((l) => !leaks(l.replace(/^data: /, ''), key)) && lines.every((l) => !leaks(l, key));
    }),
    { numRuns: 40 },
  );
  t.pass('40 generated keys');
});

t.test('a key a header cannot carry is refused at PUT and _update; the stored key goes on being sent', async (t) => {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, { LOG_LEVEL: 'trace' });
  const reason = 'Validation Failed: 1: [secret_settings] Invalid value: [api_key] must hold only characters an HTTP header can carry (no control characters, none above U+00FF);';
  const bad = 'good-key-1\r\nx-evil: yes';
  const body = (key: string) => ({ service: 'hugging_face', service_settings: { api_key: key, url: `${hf.url}/embed`, dimensions: 16 } });
  let res = await s.request('PUT', '/_inference/text_embedding/e', body(bad));
  t.strictSame(res.json, envelope(400, 'validation_exception', reason));
  t.equal((await s.request('GET', '/_inference/e')).status, 404, 'nothing stored');

  t.equal((await s.request('PUT', '/_inference/text_embedding/e', body('clé-secrète-ÿ'))).status, 200, 'Latin-1 is fine');
  res = await s.request('PUT', '/_inference/e/_update', { service_settings: { api_key: 'new-key-\u20ac' } });
  t.strictSame(res.json, envelope(400, 'validation_exception', reason));
  res = await s.request('POST', '/_inference/text_embedding/e', { input: 'x' });
  t.equal(res.status, 200, 'the endpoint still answers');
  t.equal(hf.received.length, 1, 'in one request, not retried');
  t.equal(hf.received[0]!.headers.authorization, 'Bearer clé-secrète-ÿ', 'with the key stored at PUT');
  t.notOk(s.logs.lines.some((l) => l.includes('x-evil') || l.includes('new-key-')), 'no refused key in any log line');
});

t.test('a malformed 200 answer with the key as an object key: the bad-answer message masks it, in every JSON encoding', async (t) => {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, { LOG_LEVEL: 'trace' });
  let n = 0;
  // The encodings that decode back to the key (a raw one with `"` would not be JSON), and percent-encoding, masked as itself.
  const encodings = Object.keys(ENCODINGS).filter((e) => e !== 'raw');
  await fc.assert(
    fc.asyncProperty(headerKey, fc.constantFrom(...encodings), async (key, encoding) => {
      const id = `b${n++}`;
      const put = await s.request('PUT', `/_inference/text_embedding/${id}`, { service: 'hugging_face', service_settings: { api_key: key, url: `${hf.url}/embed`, dimensions: 16 } });
      if (put.status !== 200) throw new Error(put.body);
      hf.next({ status: 200, echo: (authorization) => `{"model":1,"${ENCODINGS[encoding]!(bearer(authorization))}":[0.5]}` });
      const logsBefore = s.logs.lines.length;
      const res = await s.request('POST', `/_inference/text_embedding/${id}`, { input: 'x' });
      const lines = s.logs.lines.slice(logsBefore);
      return (
        res.status === 502 &&
        res.json.error.reason === `Failed to parse the response for inference entity id [${id}]: expected an array of 1 embeddings, got an object with keys [model, [REDACTED]]` &&
        !leaks(res.body, key) &&
        lines.every((l) => !leaks(l, key))
      );
    }),
    { numRuns: 40 },
  );
  t.pass('40 generated keys');
});

t.test('a completion answer, whole or to a stream request, with the key as an object key: masked', async (t) => {
  const llm = await new FakeLlm().start();
  t.teardown(() => llm.close());
  const s = await startApp(t, { LOG_LEVEL: 'trace' });
  const key = 'sec"ret/va\\lue99';
  await s.request('PUT', '/_inference/completion/c', { service: 'hugging_face', service_settings: { api_key: key, url: `${llm.url}/v1/chat/completions` } });
  const reason = 'Failed to parse the response for inference entity id [c]: expected {"choices":[{"message":{…}}]}, got an object with keys [id, [REDACTED]]';
  for (const path of ['/_inference/completion/c', '/_inference/completion/c/_stream']) {
    llm.next({ status: 200, json: { id: 'x', [key]: { message: 'hi' } } });
    const res = await s.request('POST', path, { input: 'hi' });
    t.strictSame(res.json, envelope(502, 'status_exception', reason), path);
  }
  t.strictSame(s.logs.lines.filter((l) => leaks(l, key)), [], 'no log line holds the key');
});
