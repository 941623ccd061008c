// An upstream that echoes the key it was sent, in any encoding: the key reaches neither the caller nor any log line, at
// any level.
import http from 'node:http';
import fc from 'fast-check';
import t from 'tap';
import { envelope, startApp } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';
import { FakeLlm, replyTokens, type ChatStyle } from '../helpers/fake-llm.js';
import { ENCODINGS } from '../helpers/key-encodings.js';

/**
 * Keys an Authorization header can carry (undici refuses control characters and anything above
 * U+00FF): printable ASCII with `"` `\` `/` `%` `+` made likely, and Latin-1. Astral keys are
 * covered where no header is needed (test/unit/redaction.test.ts).
 */
const headerKey = fc
  .array(
    fc.oneof(
      fc.constantFrom('"', '\\', '/', '%', '+', 'é', 'ü'),
      fc
        .string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 })
        .filter((c) => c >= ' ' && c <= '~' && c !== ' '),
    ),
    {
      minLength: 8,
      maxLength: 40,
    },
  )
  .map((chars) => chars.join(''));

/**
 * The forms of `key` a reader of `text` could recover it from: as itself, JSON-escaped, percent-encoded, and after
 * decoding the text.
 */
function leaks(text: string, key: string): boolean {
  const forms = [
    key,
    JSON.stringify(key).slice(1, -1),
    JSON.stringify(key).slice(1, -1).replace(/\//g, '\\/'),
    encodeURIComponent(key),
  ];
  const decoded = [text];
  try {
    decoded.push(
      JSON.stringify(JSON.parse(text), (_k, v: unknown) => v),
      String(JSON.parse(text)?.error?.reason ?? ''),
    );
  } catch {
    // not JSON
  }
  return decoded.some((d) => forms.some((f) => d.includes(f)));
}

const bearer = (authorization: string) => authorization.replace(/^Bearer /, '');

t.test(
  'an error answer that echoes the key, in every encoding: not in the answer, not in any log line at trace',
  async (t) => {
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    const s = await startApp(t, { LOG_LEVEL: 'trace' });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        headerKey,
        fc.constantFrom(...Object.keys(ENCODINGS)),
        fc.constantFrom(400, 401, 403, 422, 500),
        async (key, encoding, status) => {
          const id = `e${n++}`;
          const put = await s.request('PUT', `/_inference/text_embedding/${id}`, {
            service: 'hugging_face',
            service_settings: { api_key: key, url: `${hf.url}/embed`, dimensions: 16 },
          });
          if (put.status !== 200) throw new Error(put.body);
          hf.next({
            status,
            echo: (authorization) => `{"error":"bad token Bearer ${ENCODINGS[encoding]!(bearer(authorization))}"}`,
          });
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
        },
      ),
      { numRuns: 60 },
    );
    t.ok(
      s.logs.lines.some((l) => l.includes('"level":10') || l.includes('"level":20')),
      'lines at trace and debug were written',
    );
    t.ok(
      s.logs.lines.some((l) => l.includes('"level":40') && l.includes('upstream request failed')),
      'and the warn lines of upstream faults',
    );
  },
);

t.test('the exact answer to the echo of a key with " \\ and /', async (t) => {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, { LOG_LEVEL: 'trace' });
  const key = 'sec"ret/va\\lue99';
  await s.request('PUT', '/_inference/text_embedding/e', {
    service: 'hugging_face',
    service_settings: { api_key: key, url: `${hf.url}/embed`, dimensions: 16 },
  });
  hf.next({ status: 401, echo: (authorization) => JSON.stringify({ error: `bad token ${authorization}` }) });
  const res = await s.request('POST', '/_inference/text_embedding/e', { input: 'x' });
  t.equal(res.status, 401);
  t.equal(
    res.json.error.reason,
    'Received an authentication error status code for request from inference entity id [e] status [401]. Error message: [bad token Bearer [REDACTED]]',
  );
  const warn = s.logs.lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'upstream request failed');
  t.equal(warn?.reason, res.json.error.reason, 'the warn line says the same, masked');
  t.strictSame(
    s.logs.lines.filter((l) => leaks(l, key)),
    [],
  );
});

t.test(
  'a stream whose error event echoes the key, split across two reads: not in the events, not in any log line',
  async (t) => {
    const llm = await new FakeLlm().start();
    llm.tokenDelayMs = 5;
    t.teardown(() => llm.close());
    const s = await startApp(t, { LOG_LEVEL: 'trace' });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        headerKey,
        fc.constantFrom(...Object.keys(ENCODINGS)),
        fc.boolean(),
        async (key, encoding, afterTokens) => {
          const id = `c${n++}`;
          const put = await s.request('PUT', `/_inference/chat_completion/${id}`, {
            service: 'hugging_face',
            service_settings: { api_key: key, url: `${llm.url}/v1/chat/completions` },
          });
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
          const res = await s.request('POST', `/_inference/chat_completion/${id}/_stream`, {
            messages: [{ role: 'user', content: 'hi' }],
          });
          const lines = s.logs.lines.slice(logsBefore);
          // An event that is not JSON (a raw key with `"`) is a bad answer, which quotes nothing of it.
          const reason = json
            ? 'Error message: [token [REDACTED] is not allowed]'
            : 'an event of the stream is not JSON';
          // Before the first token the error is the answer; after it, the stream's error event.
          const told = afterTokens
            ? res.status === 200 && res.body.includes('event: error') && res.body.includes(reason)
            : res.status === (json ? 401 : 502) && res.json.error.reason.includes(reason);
          return (
            told &&
            !leaks(res.body, key) &&
            res.body.split('\n').every((l) => !leaks(l.replace(/^data: /, ''), key)) &&
            lines.every((l) => !leaks(l, key))
          );
        },
      ),
      { numRuns: 40 },
    );
    t.pass('40 generated keys');
  },
);

t.test('a key with JSON escapes in it, echoed raw in an in-band error: masked before the JSON is read', async (t) => {
  const llm = await new FakeLlm().start();
  t.teardown(() => llm.close());
  const s = await startApp(t, { LOG_LEVEL: 'trace' });
  // Raw inside a JSON string, `\/` and `\\` are escapes: parsed, the echo reads `hf/escaped\key-01`, no longer the key.
  const key = 'hf\\/escaped\\\\key-01';
  const decoded = JSON.parse(`"${key}"`) as string;
  t.not(decoded, key);
  const told = 'Error message: [token [REDACTED] is not allowed]';
  for (const taskType of ['chat_completion', 'completion'] as const) {
    const put = await s.request('PUT', `/_inference/${taskType}/esc-${taskType}`, {
      service: 'hugging_face',
      service_settings: { api_key: key, url: `${llm.url}/v1/chat/completions` },
    });
    t.equal(put.status, 200);
  }
  const logsBefore = s.logs.lines.length;
  // A stream whose first event is the error, and a whole answer of 200 with the error as its body.
  llm.next({ echo: () => ({ error: `{"error":{"message":"token ${key} is not allowed","http_status_code":403}}` }) });
  const streamed = await s.request('POST', '/_inference/chat_completion/esc-chat_completion/_stream', {
    messages: [{ role: 'user', content: 'hi' }],
  });
  llm.next({ status: 200, text: `{"error":"token ${key} is not allowed"}` });
  const whole = await s.request('POST', '/_inference/completion/esc-completion', { input: 'hi' });
  for (const [what, res] of [
    ['streamed', streamed],
    ['whole', whole],
  ] as const) {
    t.ok(res.status >= 400, `${what}: an error status (${res.status})`);
    t.match(res.json.error.reason, told, `${what}: the key masked in the upstream's message`);
    t.notOk(res.body.includes(decoded) || res.body.includes(key), `${what}: neither writing of the key in the answer`);
  }
  const lines = s.logs.lines.slice(logsBefore);
  t.strictSame(
    lines.filter((l) => l.includes(decoded) || l.includes(key) || leaks(l, key)),
    [],
    'nor in any log line',
  );
});

t.test('a key a header cannot carry is refused at PUT and _update; the stored key goes on being sent', async (t) => {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, { LOG_LEVEL: 'trace' });
  const reason =
    'Validation Failed: 1: [secret_settings] Invalid value: [api_key] must hold only characters an HTTP header can carry (no control characters, none above U+00FF);';
  const bad = 'good-key-1\r\nx-evil: yes';
  const body = (key: string) => ({
    service: 'hugging_face',
    service_settings: { api_key: key, url: `${hf.url}/embed`, dimensions: 16 },
  });
  let res = await s.request('PUT', '/_inference/text_embedding/e', body(bad));
  t.strictSame(res.json, envelope(400, 'validation_exception', reason));
  t.equal((await s.request('GET', '/_inference/e')).status, 404, 'nothing stored');

  t.equal(
    (await s.request('PUT', '/_inference/text_embedding/e', body('clé-secrète-ÿ'))).status,
    200,
    'Latin-1 is fine',
  );
  res = await s.request('PUT', '/_inference/e/_update', { service_settings: { api_key: 'new-key-\u20ac' } });
  t.strictSame(res.json, envelope(400, 'validation_exception', reason));
  res = await s.request('POST', '/_inference/text_embedding/e', { input: 'x' });
  t.equal(res.status, 200, 'the endpoint still answers');
  t.equal(hf.received.length, 1, 'in one request, not retried');
  t.equal(hf.received[0]!.headers.authorization, 'Bearer clé-secrète-ÿ', 'with the key stored at PUT');
  t.notOk(
    s.logs.lines.some((l) => l.includes('x-evil') || l.includes('new-key-')),
    'no refused key in any log line',
  );
});

t.test(
  'a malformed 200 answer with the key as an object key: the bad-answer message masks it, in every JSON encoding',
  async (t) => {
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    const s = await startApp(t, { LOG_LEVEL: 'trace' });
    let n = 0;
    // The encodings that decode back to the key (a raw one with `"` would not be JSON), and percent-encoding, masked as
    // itself.
    const encodings = Object.keys(ENCODINGS).filter((e) => e !== 'raw');
    await fc.assert(
      fc.asyncProperty(headerKey, fc.constantFrom(...encodings), async (key, encoding) => {
        const id = `b${n++}`;
        const put = await s.request('PUT', `/_inference/text_embedding/${id}`, {
          service: 'hugging_face',
          service_settings: { api_key: key, url: `${hf.url}/embed`, dimensions: 16 },
        });
        if (put.status !== 200) throw new Error(put.body);
        hf.next({
          status: 200,
          echo: (authorization) => `{"model":1,"${ENCODINGS[encoding]!(bearer(authorization))}":[0.5]}`,
        });
        const logsBefore = s.logs.lines.length;
        const res = await s.request('POST', `/_inference/text_embedding/${id}`, { input: 'x' });
        const lines = s.logs.lines.slice(logsBefore);
        return (
          res.status === 502 &&
          res.json.error.reason ===
            `Failed to parse the response for inference entity id [${id}]: expected an array of 1 embeddings, got an object with keys [model, [REDACTED]]` &&
          !leaks(res.body, key) &&
          lines.every((l) => !leaks(l, key))
        );
      }),
      { numRuns: 40 },
    );
    t.pass('40 generated keys');
  },
);

t.test('a completion answer, whole or to a stream request, with the key as an object key: masked', async (t) => {
  const llm = await new FakeLlm().start();
  t.teardown(() => llm.close());
  const s = await startApp(t, { LOG_LEVEL: 'trace' });
  const key = 'sec"ret/va\\lue99';
  await s.request('PUT', '/_inference/completion/c', {
    service: 'hugging_face',
    service_settings: { api_key: key, url: `${llm.url}/v1/chat/completions` },
  });
  const reason =
    'Failed to parse the response for inference entity id [c]: expected {"choices":[{"message":{…}}]}, got an object with keys [id, [REDACTED]]';
  for (const path of ['/_inference/completion/c', '/_inference/completion/c/_stream']) {
    llm.next({ status: 200, json: { id: 'x', [key]: { message: 'hi' } } });
    const res = await s.request('POST', path, { input: 'hi' });
    t.strictSame(res.json, envelope(502, 'status_exception', reason), path);
  }
  t.strictSame(
    s.logs.lines.filter((l) => leaks(l, key)),
    [],
    'no log line holds the key',
  );
});

/** The texts an SSE body carries: each completion delta, or each chat chunk's content. */
function streamedTexts(body: string): string[] {
  return body
    .split('\n')
    .filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]')
    .map((l) => JSON.parse(l.slice(6)))
    .map((d) => (d.completion ? d.completion[0].delta : (d.choices?.[0]?.delta?.content ?? '')))
    .filter((text: string) => text !== '');
}

/** `text` cut at `cuts` (positions in it, any order) into pieces. */
const cutAt = (text: string, cuts: number[]) => {
  const points = [...new Set(cuts.map((c) => Math.min(c, text.length)))].sort((a, b) => a - b);
  return [0, ...points].map((from, i) => text.slice(from, [...points, text.length][i]));
};

t.test('a key echoed as generated text, split across 2-3 events, streamed or whole: masked everywhere', async (t) => {
  const llm = await new FakeLlm().start();
  t.teardown(() => llm.close());
  const s = await startApp(t, { LOG_LEVEL: 'trace' });
  const routes = [
    { task: 'completion', path: '/v1/chat/completions', stream: true },
    { task: 'completion', path: '/v1/chat/completions', stream: false },
    { task: 'chat_completion', path: '/v1/chat/completions', stream: true },
    { task: 'completion', path: '/generate', stream: true },
    { task: 'completion', path: '/generate', stream: false },
  ] as const;
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      headerKey,
      fc.constantFrom(...Object.keys(ENCODINGS)),
      fc.constantFrom(...routes),
      fc.array(fc.nat(200), { minLength: 1, maxLength: 2 }),
      fc.constantFrom<ChatStyle>('tgi', 'vllm'),
      fc.constantFrom(0, 2),
      async (key, encoding, route, cuts, style, delay) => {
        const id = `g${n++}`;
        const put = await s.request('PUT', `/_inference/${route.task}/${id}`, {
          service: 'hugging_face',
          service_settings: { api_key: key, url: `${llm.url}${route.path}` },
        });
        if (put.status !== 200) throw new Error(put.body);
        llm.style = style;
        llm.tokenDelayMs = delay;
        llm.reply = (_prompt, authorization) => [
          'hello ',
          ...cutAt(ENCODINGS[encoding]!(bearer(authorization)), cuts),
          ' bye',
        ];
        const logsBefore = s.logs.lines.length;
        const body = route.task === 'completion' ? { input: 'hi' } : { messages: [{ role: 'user', content: 'hi' }] };
        const res = await s.request('POST', `/_inference/${route.task}/${id}${route.stream ? '/_stream' : ''}`, body);
        const lines = s.logs.lines.slice(logsBefore);
        const texts = route.stream ? streamedTexts(res.body) : [res.json.completion[0].result];
        const ok =
          llm.received.at(-1)!.headers.authorization === `Bearer ${key}` &&
          res.status === 200 &&
          texts.join('') === 'hello [REDACTED] bye' &&
          // What comes before the key is not held back: it is the first event's text.
          (!route.stream || texts[0] === 'hello ') &&
          !leaks(res.body, key) &&
          res.body.split('\n').every((l) => !leaks(l.replace(/^data: /, ''), key)) &&
          lines.every((l) => !leaks(l, key));
        if (!ok) t.comment(JSON.stringify({ key, encoding, route, cuts, style, delay, texts, body: res.body }));
        return ok;
      },
    ),
    { numRuns: 150 },
  );
  llm.reply = replyTokens;
  t.ok(
    s.logs.lines.some((l) => l.includes('"level":10') || l.includes('"level":20')),
    'lines at trace and debug were written',
  );
});

t.test('a key split at every position across two events of a chat stream: masked', async (t) => {
  const llm = await new FakeLlm().start();
  t.teardown(() => llm.close());
  const s = await startApp(t, { LOG_LEVEL: 'trace' });
  const key = 'sec"ret/vä\\lue99';
  await s.request('PUT', '/_inference/chat_completion/c', {
    service: 'hugging_face',
    service_settings: { api_key: key, url: `${llm.url}/v1/chat/completions` },
  });
  for (let cut = 0; cut <= key.length; cut++) {
    llm.reply = (_prompt, authorization) => ['hello ', ...cutAt(bearer(authorization), [cut]), ' bye'];
    const res = await s.request('POST', '/_inference/chat_completion/c/_stream', {
      messages: [{ role: 'user', content: 'hi' }],
    });
    t.strictSame(streamedTexts(res.body), ['hello ', '[REDACTED]', ' bye'], `cut at ${cut}`);
    t.notOk(leaks(res.body, key));
  }
  t.strictSame(
    s.logs.lines.filter((l) => leaks(l, key)),
    [],
    'no log line holds the key',
  );
});

/** Each event of a stream with the milliseconds from the request to its arrival. */
function timedEvents(url: string, body: unknown): Promise<Array<{ event: string; ms: number }>> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const events: Array<{ event: string; ms: number }> = [];
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.setEncoding('utf8');
      let text = '';
      res.on('data', (d: string) => {
        text += d;
        for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
          events.push({ event: text.slice(0, end + 2), ms: performance.now() - started });
          text = text.slice(end + 2);
        }
      });
      res.on('end', () => resolve(events));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

t.test(
  'the exact events of a key split over two tokens: the text before it is not delayed, the key is one masked event',
  async (t) => {
    const llm = await new FakeLlm().start();
    t.teardown(() => llm.close());
    llm.style = 'vllm';
    const s = await startApp(t, { LOG_LEVEL: 'trace' });
    const key = 'secret-value';
    llm.reply = (_prompt, authorization) => [
      'hello ',
      bearer(authorization).slice(0, 3),
      bearer(authorization).slice(3),
      ' bye',
    ];
    await s.request('PUT', '/_inference/completion/c', {
      service: 'hugging_face',
      service_settings: { api_key: key, url: `${llm.url}/v1/chat/completions` },
    });
    await s.request('PUT', '/_inference/chat_completion/chat', {
      service: 'hugging_face',
      service_settings: { api_key: key, url: `${llm.url}/v1/chat/completions` },
    });

    // 300 ms between tokens: `hello ` comes at once, `sec` is held until `ret-value` completes the key.
    llm.tokenDelayMs = 300;
    const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
    const events = await timedEvents(`${base}/_inference/completion/c/_stream`, { input: 'hi' });
    t.strictSame(
      events.map((e) => e.event),
      [
        'event: message\ndata: {"completion":[{"delta":"hello "}]}\n\n',
        'event: message\ndata: {"completion":[{"delta":"[REDACTED]"}]}\n\n',
        'event: message\ndata: {"completion":[{"delta":" bye"}]}\n\n',
        'event: message\ndata: [DONE]\n\n',
      ],
    );
    t.ok(events[0]!.ms < 250, `the first event came before the next token was sent (${events[0]!.ms.toFixed(0)} ms)`);
    t.ok(events[1]!.ms >= 550, `the masked key came once its second part was sent (${events[1]!.ms.toFixed(0)} ms)`);

    llm.tokenDelayMs = 0;
    const res = await s.request('POST', '/_inference/chat_completion/chat/_stream', {
      messages: [{ role: 'user', content: 'hi' }],
    });
    const chunk = (choices: string, usage = '') =>
      `event: message\ndata: {"id":"chatcmpl-fake0001","choices":[${choices}],"model":"fake/llm-7b","object":"chat.completion.chunk"${usage}}\n\n`;
    t.equal(
      res.body,
      chunk('{"delta":{"content":"hello ","role":"assistant"},"index":0}') +
        chunk('{"delta":{"content":"[REDACTED]"},"index":0}') +
        chunk('{"delta":{"content":" bye"},"finish_reason":"stop","index":0}') +
        chunk('', ',"usage":{"completion_tokens":4,"prompt_tokens":5,"total_tokens":9}') +
        'event: message\ndata: [DONE]\n\n',
    );
    const whole = await s.request('POST', '/_inference/completion/c', { input: 'hi' });
    t.strictSame(whole.json, { completion: [{ result: 'hello [REDACTED] bye' }] });
    t.strictSame(
      s.logs.lines.filter((l) => l.includes(key)),
      [],
      'no log line holds the key',
    );
  },
);

t.test('text held as a possible start of the key is sent before an error event', async (t) => {
  const llm = await new FakeLlm().start();
  t.teardown(() => llm.close());
  const s = await startApp(t);
  await s.request('PUT', '/_inference/completion/c', {
    service: 'hugging_face',
    service_settings: { api_key: 'secret-value', url: `${llm.url}/v1/chat/completions` },
  });
  // `se` could begin the key: held until the error shows no more text is coming, then sent before it.
  llm.next({
    echo: () => ({ tokens: ['hello ', 'the se'], error: '{"error":"overloaded","error_type":"overloaded"}' }),
  });
  const res = await s.request('POST', '/_inference/completion/c/_stream', { input: 'hi' });
  t.equal(
    res.body,
    'event: message\ndata: {"completion":[{"delta":"hello "}]}\n\n' +
      'event: message\ndata: {"completion":[{"delta":"the "}]}\n\n' +
      'event: message\ndata: {"completion":[{"delta":"se"}]}\n\n' +
      'event: error\ndata: {"error":{"type":"status_exception","reason":"Received a rate limit status code for request from inference entity id [c] status [429]. Error message: [overloaded]"},"status":429}\n\n',
  );
});

t.test(
  'a chat stream whose finish has an empty delta: text held as a possible start of the key comes before the finish',
  async (t) => {
    const llm = await new FakeLlm().start();
    t.teardown(() => llm.close());
    llm.style = 'vllm';
    llm.finishApart = true;
    // A Hugging Face key starts with `hf_`: an answer ending in `h` has its `h` held.
    llm.reply = () => ['I will ', 'finish'];
    const s = await startApp(t);
    await s.request('PUT', '/_inference/chat_completion/chat', {
      service: 'hugging_face',
      service_settings: { api_key: 'hf_secretvalue', url: `${llm.url}/v1/chat/completions` },
    });
    const res = await s.request('POST', '/_inference/chat_completion/chat/_stream', {
      messages: [{ role: 'user', content: 'hi' }],
    });
    const chunk = (choices: string, usage = '') =>
      `event: message\ndata: {"id":"chatcmpl-fake0001","choices":[${choices}],"model":"fake/llm-7b","object":"chat.completion.chunk"${usage}}\n\n`;
    t.equal(
      res.body,
      chunk('{"delta":{"content":"I will ","role":"assistant"},"index":0}') +
        chunk('{"delta":{"content":"finis"},"index":0}') +
        chunk('{"delta":{"content":"h"},"finish_reason":"stop","index":0}') +
        chunk('', ',"usage":{"completion_tokens":2,"prompt_tokens":5,"total_tokens":7}') +
        'event: message\ndata: [DONE]\n\n',
    );
  },
);
