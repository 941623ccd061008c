// HTTP conventions through the wire: media types, bad bodies, limits, unknown routes, headers, query parameters.
import t from 'tap';
import { API_KEY, envelope, hfBody, startApp } from '../helpers/app-harness.js';

const VND = (v: number) => `application/vnd.elasticsearch+json; compatible-with=${v}`;

t.test('malformed JSON answers parse_exception with a position, never quoting the body', async (t) => {
  const s = await startApp(t);
  const res = await s.request(
    'PUT',
    '/_inference/text_embedding/x',
    `{"service":"hugging_face","api_key": ${API_KEY}}`,
  );
  t.equal(res.status, 400);
  t.strictSame(
    res.json,
    envelope(400, 'parse_exception', "Failed to parse request body: malformed JSON: unexpected token 'h'"),
  );
  t.notMatch(res.body, 'hf_');
  const positioned = await s.request(
    'PUT',
    '/_inference/text_embedding/x',
    '{\n  "service": "hugging_face",\n  "api_key" 1}',
  );
  t.strictSame(
    positioned.json,
    envelope(400, 'parse_exception', 'Failed to parse request body: Unexpected number at line 3, column 13'),
  );
  const cut = await s.request('PUT', '/_inference/text_embedding/x', '{"service":');
  t.strictSame(cut.json, envelope(400, 'parse_exception', 'Failed to parse request body: unexpected end of input'));
});

t.test('wrong JSON types answer x_content_parse_exception naming the field', async (t) => {
  const s = await startApp(t);
  const cases: Array<[unknown, string]> = [
    [
      { service: 'hugging_face', service_settings: 'abc' },
      'Failed to parse field [service_settings]: expected an object or null',
    ],
    [
      hfBody({ rate_limit: { requests_per_minute: 'fast' } }),
      'Failed to parse field [service_settings.rate_limit.requests_per_minute]: expected an integer or null',
    ],
    [hfBody({ api_key: 12345 }), 'Failed to parse field [service_settings.api_key]: expected a string or null'],
    [hfBody({ dimensions: 1.5 }), 'Failed to parse field [service_settings.dimensions]: expected an integer or null'],
    [hfBody({ dimensions: 1e12 }), 'Failed to parse field [service_settings.dimensions]: the number is out of range'],
    [
      hfBody({}, { chunking_settings: { strategy: 'recursive', separators: 'x' } }),
      'Failed to parse field [chunking_settings.separators]: expected an array or null',
    ],
    [
      hfBody({}, { chunking_settings: { strategy: 'recursive', separators: ['a', 3] } }),
      'Failed to parse field [chunking_settings.separators.1]: expected a string',
    ],
    [hfBody({}, { service: 7 }), 'Failed to parse field [service]: expected a string or null'],
    [[1, 2, 3], 'Failed to parse field [_body]: the request body must be a JSON object'],
    ['"just a string"', 'Failed to parse field [_body]: the request body must be a JSON object'],
  ];
  for (const [body, reason] of cases) {
    const res = await s.request('PUT', '/_inference/text_embedding/x', body);
    t.strictSame(res.json, envelope(400, 'x_content_parse_exception', reason), reason);
  }
});

t.test('a PUT without a body answers "request body is required"', async (t) => {
  const s = await startApp(t);
  for (const headers of [{}, { 'content-type': 'application/json' }] as Array<Record<string, string>>) {
    const res = await s.request('PUT', '/_inference/text_embedding/x', undefined, headers);
    t.strictSame(res.json, envelope(400, 'parse_exception', 'request body is required'));
  }
});

t.test('prototype pollution keys are refused', async (t) => {
  const s = await startApp(t);
  const res = await s.request(
    'PUT',
    '/_inference/text_embedding/x',
    '{"service":"hugging_face","__proto__":{"polluted":true}}',
  );
  t.strictSame(
    res.json,
    envelope(
      400,
      'parse_exception',
      'Failed to parse request body: the body contains a forbidden property name [__proto__] or [constructor]',
    ),
  );
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});

t.test('deeply nested and very long bodies get a 4xx, never a 500', async (t) => {
  const s = await startApp(t);
  const deep = '['.repeat(200_000) + ']'.repeat(200_000);
  const valid = JSON.stringify(hfBody()).slice(0, -1);
  let res = await s.request('PUT', '/_inference/text_embedding/x', `${valid},"x":${deep}}`);
  t.equal(res.status, 400);
  t.equal(
    res.json.error.reason,
    `Model configuration contains settings [{x=${'['.repeat(15)}...${']'.repeat(15)}}] unknown to the [hugging_face] service`,
  );
  res = await s.request('PUT', '/_inference/text_embedding/x', `${valid},"x":"${'y'.repeat(100_000)}"}`);
  t.equal(res.status, 400);
  t.equal(
    res.json.error.reason,
    `Model configuration contains settings [{x=${'y'.repeat(1997)}...] unknown to the [hugging_face] service`,
  );
  res = await s.request('PUT', `/_inference/text_embedding/${'a'.repeat(5000)}`, hfBody());
  t.equal(res.status, 200, 'a long id within the pattern is an id like any other');
  res = await s.request('PUT', `/_inference/text_embedding/${'a'.repeat(5000)}-`, hfBody());
  t.equal(res.json.error.type, 'action_request_validation_exception');
});

t.test('bodies over BODY_LIMIT answer 413 in the envelope', async (t) => {
  const s = await startApp(t, { BODY_LIMIT: '1kb' });
  const res = await s.request(
    'PUT',
    '/_inference/text_embedding/x',
    hfBody({ url: 'https://x.hf.test/' + 'a'.repeat(2000) }),
  );
  t.equal(res.status, 413);
  t.strictSame(
    res.json,
    envelope(413, 'content_too_long_exception', 'Request body is too large: the limit is [1024] bytes'),
  );
  t.equal(res.headers['x-elastic-product'], 'Elasticsearch');
});

t.test("content types: JSON and the client's vnd.elasticsearch+json are parsed; others get 406", async (t) => {
  const s = await startApp(t);
  for (const [i, ct] of ['application/json', 'application/json; charset=utf-8', VND(8), VND(9)].entries()) {
    const res = await s.request('PUT', `/_inference/text_embedding/ct-${i}`, hfBody(), { 'content-type': ct });
    t.equal(res.status, 200, ct);
  }
  const res = await s.request('PUT', '/_inference/text_embedding/form', 'service=hugging_face', {
    'content-type': 'application/x-www-form-urlencoded',
  });
  t.strictSame(
    res.json,
    envelope(
      406,
      'media_type_header_exception',
      'Content-Type header [application/x-www-form-urlencoded] is not supported',
    ),
  );
});

t.test("GET and DELETE with the client's content type and no body work", async (t) => {
  const s = await startApp(t);
  await s.request('PUT', '/_inference/text_embedding/a', hfBody());
  for (const v of [8, 9]) {
    const res = await s.request('GET', '/_inference/a', undefined, { 'content-type': VND(v), accept: VND(v) });
    t.equal(res.status, 200);
  }
  const res = await s.app.inject({
    method: 'DELETE',
    url: '/_inference/a',
    headers: { 'content-type': VND(9), 'content-length': '0' },
  });
  t.equal(res.statusCode, 200);
  t.strictSame(res.json(), { acknowledged: true, pipelines: [], indexes: [] });
});

t.test('unknown routes answer 404 and wrong methods 405, in the envelope', async (t) => {
  const s = await startApp(t);
  let res = await s.request('GET', '/_cat/indices');
  t.strictSame(
    res.json,
    envelope(404, 'resource_not_found_exception', 'no handler found for uri [/_cat/indices] and method [GET]'),
  );
  res = await s.request('POST', '/_inference/a/b/c/d');
  t.equal(res.status, 404);
  res = await s.request('PATCH', '/_inference/x');
  t.strictSame(
    res.json,
    envelope(
      405,
      'status_exception',
      'Incorrect HTTP method for uri [/_inference/x] and method [PATCH], allowed: [PUT, GET, DELETE, POST]',
    ),
  );
  t.equal(res.headers.allow, 'PUT, GET, DELETE, POST');
  res = await s.request('PATCH', '/_inference/x/_update');
  t.strictSame(
    res.json,
    envelope(
      405,
      'status_exception',
      'Incorrect HTTP method for uri [/_inference/x/_update] and method [PATCH], allowed: [PUT, GET, DELETE, POST]',
    ),
  );
});

t.test('a malformed URL answers 400 in the envelope', async (t) => {
  const s = await startApp(t);
  const res = await s.request('GET', '/_inference/%E0%A4%A');
  t.strictSame(
    res.json,
    envelope(400, 'illegal_argument_exception', "'/_inference/%E0%A4%A' is not a valid url component"),
  );
  t.equal(res.headers['x-elastic-product'], 'Elasticsearch');
});

t.test('every response carries X-Elastic-Product; X-Opaque-Id is echoed', async (t) => {
  const s = await startApp(t);
  const responses = [
    await s.request('GET', '/'),
    await s.request('GET', '/_inference'),
    await s.request('GET', '/_inference/missing'),
    await s.request('GET', '/nowhere'),
    await s.request('PATCH', '/_inference'),
    await s.request('PUT', '/_inference/text_embedding/x', '{bad'),
  ];
  for (const res of responses) t.equal(res.headers['x-elastic-product'], 'Elasticsearch', `status ${res.status}`);
  const res = await s.request('GET', '/_inference', undefined, { 'x-opaque-id': 'trace-42' });
  t.equal(res.headers['x-opaque-id'], 'trace-42');
});

t.test('query parameters: pretty, unrecognized names, timeout values', async (t) => {
  const s = await startApp(t);
  let res = await s.request('GET', '/_inference?pretty');
  t.equal(res.body, '{\n  "endpoints": []\n}\n');
  res = await s.request('GET', '/_inference?human=true&error_trace=false&filter_path=x');
  t.equal(res.body, '{"endpoints":[]}');
  res = await s.request('GET', '/_inference?verbose=true&foo=1');
  t.strictSame(
    res.json,
    envelope(
      400,
      'illegal_argument_exception',
      'request [/_inference] contains unrecognized parameters: [verbose, foo]',
    ),
  );
  for (const timeout of ['30s', '500ms', '2m', '1h', '-1', '1d']) {
    res = await s.request(
      'PUT',
      `/_inference/text_embedding/t-${timeout.replace(/\W/g, '')}?timeout=${timeout}`,
      hfBody(),
    );
    t.equal(res.status, 200, timeout);
  }
  res = await s.request('PUT', '/_inference/text_embedding/t?timeout=abc', hfBody());
  t.strictSame(
    res.json,
    envelope(
      400,
      'parse_exception',
      'failed to parse setting [timeout] with value [abc] as a time value: unit is missing or unrecognized',
    ),
  );
  res = await s.request('PUT', '/_inference/text_embedding/t?timeout=-5s', hfBody());
  t.strictSame(
    res.json,
    envelope(
      400,
      'parse_exception',
      'failed to parse setting [timeout] with value [-5s] as a time value: negative durations are not supported',
    ),
  );
});
