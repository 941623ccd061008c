// input_type through HTTP (docs/api.md#input_type): Elasticsearch's hugging_face answers to it, and the endpoint's
// prefix_strings (ours) that let one endpoint embed queries and documents, checked on what the test upstream received.
import t from 'tap';
import { API_KEY, envelope, startApp, type Tap } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';

async function setup(t: Tap, env: Record<string, string> = {}) {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, { SKIP_VALIDATION: 'true', ...env });
  const put = (taskType: string, id: string, serviceSettings: Record<string, unknown> = {}, route = '/embed') =>
    s.request('PUT', `/_inference/${taskType}/${id}`, {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: `${hf.url}${route}`, ...serviceSettings },
    });
  return { s, hf, put };
}

// Elasticsearch's words: ServiceUtils.validateInputTypeIsUnspecifiedOrInternal (the service's check) and
// InferenceAction.Request.validate (the request's, when the path names a task type other than text_embedding).
const notSupported = (inputType: string) =>
  envelope(
    400,
    'validation_exception',
    `Validation Failed: 1: Invalid input_type [${inputType}]. The input_type option is not supported by this service;`,
  );
const notAllowed = (taskType: string) =>
  envelope(
    400,
    'action_request_validation_exception',
    `Validation Failed: 1: Field [input_type] cannot be specified for task type [${taskType}];`,
  );
const unrecognized = (value: string) =>
  envelope(
    400,
    'x_content_parse_exception',
    `Failed to parse field [input_type]: Unrecognized input_type [${value}], must be one of [ingest, search, classification, clustering]`,
  );

t.test('text_embedding without prefix_strings refuses every input type, as Elasticsearch does', async (t) => {
  const { s, hf, put } = await setup(t);
  await put('text_embedding', 'e');
  for (const inputType of ['ingest', 'search', 'classification', 'clustering']) {
    const res = await s.request('POST', '/_inference/text_embedding/e', { input: 'a', input_type: inputType });
    t.equal(res.status, 400);
    t.strictSame(res.json, notSupported(inputType), inputType);
    t.strictSame(
      (await s.request('POST', '/_inference/e', { input: 'a', input_type: inputType })).json,
      notSupported(inputType),
      `${inputType}, the path without a task type`,
    );
  }
  t.strictSame(
    (await s.request('POST', '/_inference/text_embedding/e', { input: 'a', input_type: ' Search ' })).json,
    notSupported('search'),
    'read trimmed, in any case, and named as Elasticsearch names it',
  );
  t.equal(hf.received.length, 0, 'nothing refused reached the upstream');

  for (const [value, shown] of [
    ['internal_ingest', 'internal_ingest'],
    ['INTERNAL_SEARCH', 'internal_search'],
    [' Sideways ', 'Sideways'],
    ['x'.repeat(150), `${'x'.repeat(100)}...`],
  ]) {
    t.strictSame(
      (await s.request('POST', '/_inference/text_embedding/e', { input: 'a', input_type: value })).json,
      unrecognized(shown!),
      `${shown}: refused while the body is read`,
    );
  }
  t.strictSame(
    (await s.request('POST', '/_inference/text_embedding/e', { input: 'a', input_type: 7 })).json,
    envelope(400, 'x_content_parse_exception', 'Failed to parse field [input_type]: expected a string or null'),
  );
  t.strictSame(
    (await s.request('POST', '/_inference/text_embedding/e', { input_type: 'search' })).json,
    envelope(400, 'action_request_validation_exception', 'Validation Failed: 1: Field [input] cannot be null;'),
    'a missing input is told first',
  );
  t.equal(hf.received.length, 0);

  for (const none of ['unspecified', 'UNSPECIFIED', null]) {
    const res = await s.request('POST', '/_inference/text_embedding/e', { input: 'plain', input_type: none });
    t.strictSame(res.json, { text_embedding: [{ embedding: hf.vector('plain') }] }, `${none}: no input type`);
  }
  t.strictSame(
    hf.received.map((r) => JSON.stringify(r.body)),
    Array(3).fill('{"inputs":["plain"]}'),
    'sent as they came, nothing added',
  );
});

t.test('other task types: refused when the path names them, their service decides otherwise', async (t) => {
  const { s, hf, put } = await setup(t);
  await put('sparse_embedding', 'sp', {}, '/embed_sparse');
  await put('rerank', 'rr', {}, '/rerank');

  t.strictSame(
    (await s.request('POST', '/_inference/sparse_embedding/sp', { input: 'a', input_type: 'ingest' })).json,
    notAllowed('sparse_embedding'),
  );
  t.strictSame(
    (await s.request('POST', '/_inference/sp', { input: 'a', input_type: 'ingest' })).json,
    notSupported('ingest'),
    'sparse_embedding through the id alone: the service refuses it',
  );
  t.strictSame(
    (await s.request('POST', '/_inference/rerank/rr', { query: 'q', input: ['a'], input_type: 'search' })).json,
    notAllowed('rerank'),
  );
  t.strictSame(
    (await s.request('POST', '/_inference/rerank/rr', { input: ['a'], input_type: 'search' })).json,
    envelope(
      400,
      'action_request_validation_exception',
      'Validation Failed: 1: Field [query] cannot be null for task type [rerank];',
    ),
    'a missing query is told first',
  );
  t.strictSame(
    (await s.request('POST', '/_inference/completion/nope', { input: 'a', input_type: 'search' })).json,
    notAllowed('completion'),
    'refused before the endpoint is looked up, as the request is checked first',
  );
  t.strictSame(
    (await s.request('POST', '/_inference/completion/nope/_stream', { input: 'a', input_type: 'search' })).json,
    notAllowed('completion'),
  );
  t.equal(hf.received.length, 0);

  const rerank = await s.request('POST', '/_inference/rr', { query: 'q', input: ['a'], input_type: 'search' });
  t.equal(rerank.status, 200, 'rerank through the id alone: accepted and not used');
  t.strictSame(hf.received[0]!.body, { texts: ['a'], query: 'q' });
  t.equal(
    (await s.request('POST', '/_inference/rerank/rr', { query: 'q', input: ['a'], input_type: 'unspecified' })).status,
    200,
  );
});

t.test('prefix_strings: each text sent with its input type prefix; the answer is the input', async (t) => {
  const { s, hf, put } = await setup(t, { SKIP_VALIDATION: 'false' });
  const created = await put('text_embedding', 'e5', { prefix_strings: { search: 'query: ', Ingest: 'passage: ' } });
  t.equal(
    created.body,
    JSON.stringify({
      inference_id: 'e5',
      task_type: 'text_embedding',
      service: 'hugging_face',
      service_settings: {
        url: `${hf.url}/embed`,
        similarity: 'cosine',
        dimensions: 16,
        prefix_strings: { search: 'query: ', ingest: 'passage: ' },
        rate_limit: { requests_per_minute: 3000 },
      },
      chunking_settings: { strategy: 'sentence', max_chunk_size: 250, sentence_overlap: 1 },
    }),
    'shown after dimensions, keys as input types',
  );
  t.strictSame((await s.request('GET', '/_inference/e5')).json.endpoints[0], created.json);
  t.strictSame(hf.received[0]!.body, { inputs: ['how big'] }, 'the creation check sends its text bare');

  const search = await s.request('POST', '/_inference/text_embedding/e5', {
    input: ['What is Elastic?', 'Lucene'],
    input_type: 'search',
  });
  t.strictSame(search.json, {
    text_embedding: [{ embedding: hf.vector('query: What is Elastic?') }, { embedding: hf.vector('query: Lucene') }],
  });
  t.equal(JSON.stringify(hf.received[1]!.body), '{"inputs":["query: What is Elastic?","query: Lucene"]}');

  await s.request('POST', '/_inference/e5', { input: 'A document.', input_type: 'INGEST' });
  t.equal(JSON.stringify(hf.received[2]!.body), '{"inputs":["passage: A document."]}');
  await s.request('POST', '/_inference/e5', { input: 'No type.' });
  t.equal(JSON.stringify(hf.received[3]!.body), '{"inputs":["No type."]}', 'no input type, no prefix');
  t.strictSame(
    (await s.request('POST', '/_inference/e5', { input: 'x', input_type: 'classification' })).json,
    notSupported('classification'),
    'an input type the map does not name is refused as without one',
  );
  t.equal(hf.received.length, 4);
});

t.test('prefix_strings with chunks and max_input_tokens: prefixed upstream only, cut with the prefix', async (t) => {
  const { s, hf } = await setup(t);
  const created = await s.request('PUT', '/_inference/text_embedding/chunked', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: `${hf.url}/embed`, prefix_strings: { ingest: 'passage: ' } },
    chunking_settings: { strategy: 'word', max_chunk_size: 10, overlap: 1 },
  });
  t.equal(created.status, 200, created.body);
  const input = Array.from({ length: 25 }, (_, i) => `word${i}`).join(' ');
  const res = await s.request('POST', '/_inference/chunked', { input, input_type: 'ingest' });
  t.equal(res.status, 200, res.body);
  const chunks = res.json.text_embedding[0].chunks as Array<{
    text: string;
    start_offset: number;
    end_offset: number;
    embedding: number[];
  }>;
  t.ok(chunks.length > 1, 'several chunks');
  t.strictSame(
    hf.texts,
    chunks.map((c) => `passage: ${c.text}`),
    'each chunk sent with the prefix',
  );
  for (const c of chunks) {
    t.equal(c.text, input.slice(c.start_offset, c.end_offset), 'chunk text and offsets are the input, not the prefix');
    t.strictSame(c.embedding, hf.vector(`passage: ${c.text}`));
  }

  await s.request('PUT', '/_inference/text_embedding/short', {
    service: 'hugging_face',
    service_settings: {
      api_key: API_KEY,
      url: `${hf.url}/embed`,
      max_input_tokens: 4,
      prefix_strings: { search: 'query: ' },
    },
  });
  await s.request('POST', '/_inference/short', { input: 'abcdefghijkl', input_type: 'search' });
  t.equal(hf.texts.at(-1), 'query: abcde', 'the prefix counts towards max_input_tokens × 3 characters');
});

t.test('_update changes or removes prefix_strings, live', async (t) => {
  const { s, hf, put } = await setup(t);
  await put('text_embedding', 'bge', { prefix_strings: { search: 'query: ', ingest: 'passage: ' } });
  const instruction = 'Represent this sentence for searching relevant passages: ';
  await s.request('POST', '/_inference/bge', { input: 'warm', input_type: 'search' });
  const updated = await s.request('PUT', '/_inference/bge/_update', {
    service_settings: { prefix_strings: { search: instruction } },
  });
  t.equal(updated.status, 200);
  t.strictSame(updated.json.service_settings.prefix_strings, { search: instruction }, 'the map is replaced whole');
  t.strictSame((await s.request('GET', '/_inference/bge')).json.endpoints[0], updated.json);
  await s.request('POST', '/_inference/bge', { input: 'what is bge', input_type: 'search' });
  t.equal(hf.texts.at(-1), `${instruction}what is bge`);
  t.strictSame(
    (await s.request('POST', '/_inference/bge', { input: 'doc', input_type: 'ingest' })).json,
    notSupported('ingest'),
  );

  const bad = await s.request('PUT', '/_inference/bge/_update', {
    service_settings: { prefix_strings: { search: '' } },
  });
  t.strictSame(
    bad.json,
    envelope(
      400,
      'validation_exception',
      'Validation Failed: 1: [service_settings] Invalid value empty string. [prefix_strings.search] must be a non-empty string;',
    ),
  );

  const cleared = await s.request('PUT', '/_inference/bge/_update', { service_settings: { prefix_strings: {} } });
  t.equal(cleared.json.service_settings.prefix_strings, undefined, '{} removes them');
  t.strictSame(
    (await s.request('POST', '/_inference/bge', { input: 'q', input_type: 'search' })).json,
    notSupported('search'),
  );
  await s.request('POST', '/_inference/bge', { input: 'bare' });
  t.equal(hf.texts.at(-1), 'bare');
});
