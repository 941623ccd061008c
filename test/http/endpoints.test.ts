// The endpoint registry routes through HTTP: PUT, GET, DELETE and _update, exact JSON in field order.
import fs from 'node:fs';
import t from 'tap';
import { API_KEY, ENDPOINT_URL as URL_, envelope, hfBody, startApp } from '../helpers/app-harness.js';
const DEFAULT_CHUNKING = { strategy: 'sentence', max_chunk_size: 250, sentence_overlap: 1 };

const entry = (id: string, serviceSettings: Record<string, unknown> = {}, chunking: unknown = DEFAULT_CHUNKING) => ({
  inference_id: id,
  task_type: 'text_embedding',
  service: 'hugging_face',
  service_settings: { url: URL_, similarity: 'cosine', ...serviceSettings, rate_limit: { requests_per_minute: 3000 } },
  chunking_settings: chunking,
});

t.test(
  'PUT with the task type in the path answers the stored configuration, in field order, without the api key',
  async (t) => {
    const s = await startApp(t);
    const res = await s.request(
      'PUT',
      '/_inference/text_embedding/hf-emb',
      hfBody({ similarity: 'cosine', dimensions: 384 }),
    );
    t.equal(res.status, 200);
    t.equal(
      res.body,
      JSON.stringify({
        inference_id: 'hf-emb',
        task_type: 'text_embedding',
        service: 'hugging_face',
        service_settings: {
          url: URL_,
          similarity: 'cosine',
          dimensions: 384,
          rate_limit: { requests_per_minute: 3000 },
        },
        chunking_settings: DEFAULT_CHUNKING,
      }),
    );
    t.notMatch(res.body, API_KEY);
    t.equal(res.headers['x-elastic-product'], 'Elasticsearch');
  },
);

t.test('PUT with only the id takes the task type from the body', async (t) => {
  const s = await startApp(t);
  const res = await s.request('PUT', '/_inference/by-body', hfBody({}, { task_type: 'text_embedding' }));
  t.equal(res.status, 200);
  t.strictSame(res.json, entry('by-body'));
});

t.test('PUT keeps the settings a user gave: rate limit, chunking, max_input_tokens, hosted model_id', async (t) => {
  const s = await startApp(t);
  let res = await s.request(
    'PUT',
    '/_inference/text_embedding/custom',
    hfBody(
      { max_input_tokens: 512, rate_limit: { requests_per_minute: 600 }, similarity: 'DOT_PRODUCT' },
      {
        chunking_settings: { strategy: 'word', max_chunk_size: 100, overlap: 10 },
      },
    ),
  );
  t.equal(res.status, 200);
  t.equal(
    res.body,
    JSON.stringify({
      inference_id: 'custom',
      task_type: 'text_embedding',
      service: 'hugging_face',
      service_settings: {
        url: URL_,
        similarity: 'dot_product',
        max_input_tokens: 512,
        rate_limit: { requests_per_minute: 600 },
      },
      chunking_settings: { strategy: 'word', max_chunk_size: 100, overlap: 10 },
    }),
  );
  res = await s.request('PUT', '/_inference/text_embedding/hosted', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, model_id: 'sentence-transformers/all-MiniLM-L6-v2' },
    chunking_settings: {},
  });
  t.equal(res.status, 200);
  t.strictSame(res.json.service_settings, {
    model_id: 'sentence-transformers/all-MiniLM-L6-v2',
    similarity: 'cosine',
    rate_limit: { requests_per_minute: 3000 },
  });
  t.strictSame(res.json.chunking_settings, DEFAULT_CHUNKING, '{} chunking settings become the default');
});

t.test('PUT stores the recursive strategy with its separator list, and none', async (t) => {
  const s = await startApp(t);
  let res = await s.request(
    'PUT',
    '/_inference/text_embedding/rec',
    hfBody({}, { chunking_settings: { strategy: 'recursive', max_chunk_size: 50 } }),
  );
  t.equal(res.status, 200);
  t.strictSame(res.json.chunking_settings, {
    strategy: 'recursive',
    max_chunk_size: 50,
    separators: ['(?<!\\n)\\n\\n(?!\\n)', '(?<!\\n)\\n(?!\\n)'],
  });
  res = await s.request(
    'PUT',
    '/_inference/text_embedding/md',
    hfBody({}, { chunking_settings: { strategy: 'recursive', max_chunk_size: 50, separator_group: 'markdown' } }),
  );
  t.equal(res.json.chunking_settings.separators.length, 8);
  t.equal(res.json.chunking_settings.separators[0], '\n# ');
  res = await s.request(
    'PUT',
    '/_inference/text_embedding/own',
    hfBody({}, { chunking_settings: { strategy: 'recursive', max_chunk_size: 50, separators: ['\n---\n'] } }),
  );
  t.strictSame(res.json.chunking_settings, { strategy: 'recursive', max_chunk_size: 50, separators: ['\n---\n'] });
  res = await s.request(
    'PUT',
    '/_inference/text_embedding/whole',
    hfBody({}, { chunking_settings: { strategy: 'none' } }),
  );
  t.strictSame(res.json.chunking_settings, { strategy: 'none' });
});

t.test('PUT of an id that exists answers resource_already_exists_exception and keeps the first', async (t) => {
  const s = await startApp(t);
  t.equal((await s.request('PUT', '/_inference/text_embedding/dup', hfBody())).status, 200);
  const res = await s.request(
    'PUT',
    '/_inference/dup',
    hfBody({ url: 'https://other.hf.test' }, { task_type: 'text_embedding' }),
  );
  t.strictSame(res.json, envelope(400, 'resource_already_exists_exception', 'Inference endpoint [dup] already exists'));
  t.equal((await s.request('GET', '/_inference/dup')).json.endpoints[0].service_settings.url, URL_);
});

t.test('GET in all five forms; listings sorted by id; a missing id is a 404', async (t) => {
  const s = await startApp(t);
  for (const id of ['zeta', 'alpha', 'mid-1', 'mid.0', 'mid_2']) {
    t.equal((await s.request('PUT', `/_inference/text_embedding/${id}`, hfBody())).status, 200);
  }
  const sorted = ['alpha', 'mid-1', 'mid.0', 'mid_2', 'zeta'];
  for (const url of ['/_inference', '/_inference/_all', '/_inference/text_embedding/_all', '/_inference/']) {
    const res = await s.request('GET', url);
    t.equal(res.status, 200, url);
    t.strictSame(res.json, { endpoints: sorted.map((id) => entry(id)) }, url);
  }
  t.strictSame((await s.request('GET', '/_inference/alpha')).json, { endpoints: [entry('alpha')] });
  t.strictSame((await s.request('GET', '/_inference/text_embedding/alpha')).json, { endpoints: [entry('alpha')] });
  t.strictSame((await s.request('GET', '/_inference/sparse_embedding/_all')).json, { endpoints: [] });
  t.strictSame((await s.request('GET', '/_inference/rerank/_all')).json, { endpoints: [] });
  t.strictSame(
    (await s.request('GET', '/_inference/nope')).json,
    envelope(404, 'resource_not_found_exception', 'Inference endpoint not found [nope]'),
  );
  t.strictSame(
    (await s.request('GET', '/_inference/text_embedding/nope')).json,
    envelope(404, 'resource_not_found_exception', 'Inference endpoint not found [nope]'),
  );
  t.strictSame(
    (await s.request('GET', '/_inference/completion/alpha')).json,
    envelope(
      400,
      'status_exception',
      "Requested task type [completion] does not match the inference endpoint's task type [text_embedding]",
    ),
  );
  t.strictSame(
    (await s.request('GET', '/_inference/embeddings/_all')).json,
    envelope(400, 'status_exception', 'Unknown task_type [embeddings]'),
  );
});

t.test('GET on an empty registry answers an empty list', async (t) => {
  const s = await startApp(t);
  const res = await s.request('GET', '/_inference');
  t.equal(res.status, 200);
  t.equal(res.body, '{"endpoints":[]}');
});

t.test('DELETE in both forms, dry_run and force', async (t) => {
  const s = await startApp(t);
  await s.request('PUT', '/_inference/text_embedding/a', hfBody());
  await s.request('PUT', '/_inference/text_embedding/b', hfBody());

  let res = await s.request('DELETE', '/_inference/a?dry_run=true');
  t.equal(res.status, 200);
  t.equal(res.body, '{"acknowledged":false,"pipelines":[],"indexes":[],"error_message":""}');
  t.equal((await s.request('GET', '/_inference/a')).status, 200, 'dry_run deletes nothing');

  res = await s.request('DELETE', '/_inference/a?force=true');
  t.equal(res.body, '{"acknowledged":true,"pipelines":[],"indexes":[]}');
  t.equal((await s.request('GET', '/_inference/a')).status, 404);

  res = await s.request('DELETE', '/_inference/sparse_embedding/b');
  t.strictSame(
    res.json,
    envelope(
      400,
      'status_exception',
      "Requested task type [sparse_embedding] does not match the inference endpoint's task type [text_embedding]",
    ),
  );
  res = await s.request('DELETE', '/_inference/text_embedding/b?dry_run=false&force=false');
  t.strictSame(res.json, { acknowledged: true, pipelines: [], indexes: [] });

  res = await s.request('DELETE', '/_inference/b');
  t.strictSame(res.json, envelope(404, 'resource_not_found_exception', 'Inference endpoint not found [b]'));
  res = await s.request('DELETE', '/_inference/a?dry_run=maybe');
  t.strictSame(
    res.json,
    envelope(400, 'illegal_argument_exception', 'Failed to parse value [maybe] as only [true] or [false] are allowed.'),
  );
});

t.test('_update changes the api key, rate limit, task and chunking settings, in both path forms', async (t) => {
  const s = await startApp(t);
  await s.request('PUT', '/_inference/text_embedding/up', hfBody());
  let res = await s.request('PUT', '/_inference/up/_update', {
    service_settings: { api_key: 'hf_RotatedKey987654321', rate_limit: { requests_per_minute: 120 } },
  });
  t.equal(res.status, 200);
  t.equal(
    res.body,
    JSON.stringify({
      ...entry('up'),
      service_settings: { url: URL_, similarity: 'cosine', rate_limit: { requests_per_minute: 120 } },
    }),
  );
  t.notMatch(res.body, 'hf_RotatedKey');

  res = await s.request('PUT', '/_inference/text_embedding/up/_update', {
    chunking_settings: { strategy: 'word', max_chunk_size: 20, overlap: 5 },
  });
  t.strictSame(res.json.chunking_settings, { strategy: 'word', max_chunk_size: 20, overlap: 5 });
  t.strictSame(res.json.service_settings.rate_limit, { requests_per_minute: 120 }, 'earlier updates stay');
  t.strictSame((await s.request('GET', '/_inference/up')).json.endpoints[0], res.json, 'GET sees the update');

  res = await s.request('PUT', '/_inference/up/_update', {});
  t.strictSame(
    res.json,
    (await s.request('GET', '/_inference/up')).json.endpoints[0],
    'an empty update changes nothing',
  );
});

t.test('_update rejects what cannot change, unknown ids, wrong task types and bad values', async (t) => {
  const s = await startApp(t);
  await s.request('PUT', '/_inference/text_embedding/up', hfBody());
  let res = await s.request('PUT', '/_inference/missing/_update', { service_settings: { api_key: 'x' } });
  t.strictSame(res.json, envelope(404, 'resource_not_found_exception', 'Inference endpoint not found [missing]'));

  res = await s.request('PUT', '/_inference/completion/up/_update', { service_settings: { api_key: 'x' } });
  t.strictSame(
    res.json,
    envelope(
      400,
      'status_exception',
      "Requested task type [completion] does not match the inference endpoint's task type [text_embedding]",
    ),
  );

  // A key too short to be masked is refused, unquoted, and the stored key stays.
  res = await s.request('PUT', '/_inference/up/_update', { service_settings: { api_key: 'short7!' } });
  t.strictSame(
    res.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [secret_settings] Invalid value: [api_key] must be at least 8 characters long;',
    ),
  );
  // So is a key a header cannot carry (control characters, anything above U+00FF).
  for (const key of ['8chars!!\r\nX-Evil: 1', '8chars!!\u0000', '8chars!!\u007f', '8chars!!\u0100']) {
    res = await s.request('PUT', '/_inference/up/_update', { service_settings: { api_key: key } });
    t.strictSame(
      res.json,
      envelope(
        400,
        'validation_exception',
        'Validation Failed: 1: [secret_settings] Invalid value: [api_key] must hold only characters an HTTP header can carry (no control characters, none above U+00FF);',
      ),
      JSON.stringify(key),
    );
  }
  res = await s.request('PUT', '/_inference/up/_update', { service_settings: { api_key: '8chars!!' } });
  t.equal(res.status, 200, 'eight characters are enough');

  res = await s.request('PUT', '/_inference/up/_update', {
    service_settings: { url: 'https://elsewhere', rate_limit: { requests_per_minute: -5 } },
  });
  t.strictSame(
    res.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [rate_limit] Invalid value [-5]. [requests_per_minute] must be a positive long;' +
        '2: [service_settings] setting [url] cannot be updated; create a new inference endpoint to change it;',
    ),
  );
  for (const [setting, value] of [
    ['model_id', 'sentence-transformers/all-MiniLM-L6-v2'],
    ['similarity', 'dot_product'],
    ['dimensions', 768],
  ] as const) {
    res = await s.request('PUT', '/_inference/up/_update', { service_settings: { [setting]: value } });
    t.strictSame(
      res.json,
      envelope(
        400,
        'validation_exception',
        `Validation Failed: 1: [service_settings] setting [${setting}] cannot be updated; create a new inference endpoint to change it;`,
      ),
      `${setting} is fixed at creation`,
    );
  }
  res = await s.request('PUT', '/_inference/up/_update', {
    chunking_settings: { strategy: 'word', max_chunk_size: 5 },
  });
  t.equal(res.status, 400);
  t.equal(
    res.json.error.reason,
    'Validation Failed: 1: [chunking_settings] Invalid value [5.0]. [max_chunk_size] must be a greater than or equal to [10.0];' +
      '2: [chunking_settings] does not contain the required setting [overlap];',
  );
  res = await s.request('PUT', '/_inference/up/_update', { task_settings: { foo: 1 } });
  t.strictSame(
    res.json,
    envelope(
      400,
      'status_exception',
      'Model configuration contains settings [{foo=1}] unknown to the [hugging_face] service',
    ),
  );
  res = await s.request('PUT', '/_inference/up/_update', { service: 'openai' });
  t.equal(res.status, 400);
  t.equal(res.json.error.type, 'status_exception');

  t.strictSame(
    (await s.request('GET', '/_inference/up')).json.endpoints[0],
    entry('up'),
    'failed updates changed nothing',
  );
});

t.test(
  'GET / answers as Elasticsearch does: the API version clients choose a protocol by, and our own version apart',
  async (t) => {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const expected = (number: string) => ({
      name: 'hf-inference-gateway',
      cluster_name: 'hf-inference-gateway',
      version: { number, build_flavor: 'default' },
      tagline: 'You Know, for Search',
      gateway_version: pkg.version,
    });
    const s = await startApp(t);
    const res = await s.request('GET', '/');
    t.equal(res.status, 200);
    t.strictSame(res.json, expected('9.4.0'), 'a 9.x default, as the 9.x client of these tests expects');
    t.equal(res.headers['x-elastic-product'], 'Elasticsearch');
    const older = await startApp(t, { ELASTICSEARCH_VERSION: '8.19.0' });
    t.strictSame(
      (await older.request('GET', '/')).json,
      expected('8.19.0'),
      'ELASTICSEARCH_VERSION chooses what is reported',
    );
  },
);
