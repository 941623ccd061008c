// The OpenAPI document: valid OpenAPI 3.1, and real answers of every route (successes and errors) valid against it.
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import t from 'tap';
import { API_KEY, hfBody, startApp } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';
import { FakeLlm } from '../helpers/fake-llm.js';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: object }> }>;
}
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> };

t.test('the document at /_openapi.json is valid OpenAPI 3.1, and every route answers as it says', async (t) => {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  // Samples of the traffic history every 20 ms: its answer below holds some to check.
  const s = await startApp(t, { SKIP_VALIDATION: 'false' }, undefined, { trafficIntervalMs: 20 });
  const served = await s.request('GET', '/_openapi.json');
  t.equal(served.status, 200);
  const doc = served.json as Doc;
  const validity = await new Validator().validate(doc);
  t.strictSame(validity, { valid: true }, 'valid OpenAPI');
  t.equal(doc.openapi, '3.1.0');
  const docsPage = await s.request('GET', '/_docs');
  t.equal(docsPage.status, 200, 'Swagger UI');
  t.match(docsPage.body, /<title>Swagger UI<\/title>/);

  const ajv = new Ajv2020.default({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const validators = new Map<object, ReturnType<typeof ajv.compile>>();
  /** Answers seen per documented operation: `METHOD path` → statuses. */
  const seen = new Map<string, number[]>();

  /** One real request, its answer checked against the operation the document gives for its route. */
  const check = async (method: string, template: string, url: string, body?: unknown) => {
    const res = await s.request(method, url, body);
    const operation = doc.paths[template]?.[method.toLowerCase()];
    t.ok(operation, `${method} ${template} is documented`);
    if (!operation) return res;
    const documented = operation.responses[String(res.status)] ?? operation.responses.default;
    t.ok(documented, `${method} ${url}: status ${res.status} is documented`);
    const type = String(res.headers['content-type']).split(';')[0]!;
    const content = documented?.content?.[type];
    t.ok(content, `${method} ${url} ${res.status}: ${type} is documented`);
    if (content?.schema && type === 'application/json') {
      let validate = validators.get(content.schema);
      if (!validate) validators.set(content.schema, (validate = ajv.compile(content.schema)));
      t.ok(
        validate(res.json),
        `${method} ${url} ${res.status} matches the document${validate.errors ? `: ${ajv.errorsText(validate.errors)}` : ''}`,
      );
    }
    const key = `${method} ${template}`;
    seen.set(key, [...(seen.get(key) ?? []), res.status]);
    return res;
  };

  await check('GET', '/', '/');
  await check('GET', '/_health', '/_health');
  await check('GET', '/_inference/_services', '/_inference/_services');
  await check('GET', '/_inference/_services/{task_type}', '/_inference/_services/rerank');
  await check('GET', '/_inference/_services/{task_type}', '/_inference/_services/bogus');

  // Endpoints of every task type this build serves.
  const dense = {
    ...hfBody({ url: `${hf.url}/embed` }),
    chunking_settings: { strategy: 'word', max_chunk_size: 10, overlap: 1 },
  };
  t.equal(
    (await check('PUT', '/_inference/{task_type}/{inference_id}', '/_inference/text_embedding/dense', dense)).status,
    200,
  );
  t.equal(
    (
      await check('PUT', '/_inference/{inference_id}', '/_inference/sparse', {
        ...hfBody({ url: `${hf.url}/sparse-handler` }),
        task_type: 'sparse_embedding',
      })
    ).status,
    200,
  );
  t.equal(
    (
      await check('PUT', '/_inference/{task_type}/{inference_id}', '/_inference/rerank/ranker', {
        ...hfBody({ url: `${hf.url}/rerank` }),
        task_settings: { top_n: 2, return_documents: true },
      })
    ).status,
    200,
  );
  await check(
    'PUT',
    '/_inference/{task_type}/{inference_id}',
    '/_inference/text_embedding/bad',
    hfBody({ url: 'nope', rate_limit: { requests_per_minute: 0 } }),
  );
  await check('PUT', '/_inference/{inference_id}', '/_inference/dense', dense);

  await check('GET', '/_inference', '/_inference');
  await check('GET', '/_inference/_all', '/_inference/_all');
  await check('GET', '/_inference/{inference_id}', '/_inference/dense');
  await check('GET', '/_inference/{inference_id}', '/_inference/nobody');
  await check('GET', '/_inference/{task_type}/_all', '/_inference/rerank/_all');
  await check('GET', '/_inference/{task_type}/{inference_id}', '/_inference/text_embedding/dense');
  await check('GET', '/_inference/{task_type}/{inference_id}', '/_inference/rerank/dense');

  // Inference: every task's answer, a multi-chunk one included.
  const long = 'One two three four five six seven eight nine ten. Eleven twelve thirteen fourteen fifteen sixteen.';
  const embedded = await check('POST', '/_inference/{task_type}/{inference_id}', '/_inference/text_embedding/dense', {
    input: ['short', long],
  });
  t.ok(embedded.json.text_embedding[1].chunks.length > 1, 'a chunked entry was checked too');
  hf.next({ status: 200, json: [{ hello: 0.5, world: 0.25 }] });
  t.equal(
    (await check('POST', '/_inference/{inference_id}', '/_inference/sparse', { input: 'hello world' })).status,
    200,
  );
  hf.next({
    status: 200,
    json: [
      { index: 0, score: 0.1 },
      { index: 1, score: 0.9 },
    ],
  });
  t.equal(
    (
      await check('POST', '/_inference/{task_type}/{inference_id}', '/_inference/rerank/ranker', {
        query: 'q',
        input: ['a', 'b'],
      })
    ).status,
    200,
  );
  await check('POST', '/_inference/{inference_id}', '/_inference/dense', { input: 3 });
  await check('POST', '/_inference/{task_type}/{inference_id}', '/_inference/text_embedding/nobody', { input: 'x' });
  await check('POST', '/_inference/{task_type}/{inference_id}/_stream', '/_inference/text_embedding/dense/_stream', {
    input: 'x',
  });
  await check('POST', '/_inference/{task_type}/{inference_id}/_unified', '/_inference/text_embedding/dense/_unified', {
    messages: [{ role: 'user', content: 'x' }],
  });

  await check('PUT', '/_inference/{inference_id}/_update', '/_inference/dense/_update', {
    service_settings: { api_key: `${API_KEY}2` },
  });
  await check('PUT', '/_inference/{task_type}/{inference_id}/_update', '/_inference/text_embedding/dense/_update', {
    service_settings: { rate_limit: { requests_per_minute: 600 } },
  });
  await check('PUT', '/_inference/{inference_id}/_update', '/_inference/dense/_update', {
    service_settings: { url: 'https://elsewhere.example' },
  });

  // The OpenAI door (docs/doors.md): its answers and its own error shape.
  const llm = await new FakeLlm().start();
  t.teardown(() => llm.close());
  for (const [taskType, id] of [
    ['chat_completion', 'chat'],
    ['completion', 'gen'],
  ])
    t.equal(
      (await s.request('PUT', `/_inference/${taskType}/${id}`, hfBody({ url: `${llm.url}/v1/chat/completions` })))
        .status,
      200,
    );
  await check('POST', '/v1/embeddings', '/v1/embeddings', { model: 'dense', input: ['a', 'b'] });
  await check('POST', '/v1/embeddings', '/v1/embeddings', { model: 'dense', input: 'a', encoding_format: 'base64' });
  await check('POST', '/v1/embeddings', '/v1/embeddings', { model: 'nobody', input: 'x' });
  await check('POST', '/v1/chat/completions', '/v1/chat/completions', {
    model: 'chat',
    messages: [{ role: 'user', content: 'hi' }],
  });
  await check('POST', '/v1/chat/completions', '/v1/chat/completions', {
    model: 'chat',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
  });
  await check('POST', '/v1/chat/completions', '/v1/chat/completions', { model: 'chat' });
  await check('POST', '/v1/completions', '/v1/completions', { model: 'gen', prompt: ['a', 'b'] });
  await check('POST', '/v1/completions', '/v1/completions', { model: 'gen', prompt: 'a', stream: true });
  await check('POST', '/v1/completions', '/v1/completions', { model: 'dense', prompt: 'a' });
  await check('GET', '/v1/models', '/v1/models');
  await check('GET', '/v1/models/{model}', '/v1/models/dense');
  await check('GET', '/v1/models/{model}', '/v1/models/nobody');

  // The Hugging Face door (docs/doors.md): TEI's and TGI's answers and error shape.
  await check('POST', '/hf/{inference_id}', '/hf/dense', { inputs: ['a', 'b'] });
  hf.next({
    status: 200,
    json: [
      { index: 0, score: 0.1 },
      { index: 1, score: 0.9 },
    ],
  });
  await check('POST', '/hf/{inference_id}', '/hf/ranker', { query: 'q', texts: ['a', 'b'] });
  await check('POST', '/hf/{inference_id}', '/hf/gen', { inputs: 'a' });
  await check('POST', '/hf/{inference_id}', '/hf/nobody', { inputs: 'a' });
  await check('POST', '/hf/{inference_id}/embed', '/hf/dense/embed', { inputs: 'a', normalize: false });
  await check('POST', '/hf/{inference_id}/embed', '/hf/dense/embed', { inputs: [] });
  await check('POST', '/hf/{inference_id}', '/hf/sparse', { inputs: ['hello world'] });
  await check('POST', '/hf/{inference_id}/embed_sparse', '/hf/sparse/embed_sparse', { inputs: 'a' });
  hf.next({ status: 200, json: [{ index: 0, score: 0.5 }] });
  await check('POST', '/hf/{inference_id}/rerank', '/hf/ranker/rerank', {
    query: 'q',
    texts: ['a'],
    return_text: true,
  });
  await check('POST', '/hf/{inference_id}/generate', '/hf/gen/generate', { inputs: 'a' });
  await check('POST', '/hf/{inference_id}/generate', '/hf/chat/generate', { inputs: 'a' });
  await check('POST', '/hf/{inference_id}/generate_stream', '/hf/gen/generate_stream', { inputs: 'a' });
  await check('POST', '/hf/{inference_id}/v1/chat/completions', '/hf/chat/v1/chat/completions', {
    messages: [{ role: 'user', content: 'hi' }],
  });
  await check('POST', '/hf/{inference_id}/v1/completions', '/hf/gen/v1/completions', { prompt: 'a' });
  await check('GET', '/hf/{inference_id}/info', '/hf/dense/info');
  await check('GET', '/hf/{inference_id}/info', '/hf/nobody/info');

  await check('DELETE', '/v1/models/{model}', '/v1/models/gen');
  await check('DELETE', '/v1/models/{model}', '/v1/models/gen');

  await check('GET', '/_prometheus/metrics', '/_prometheus/metrics');
  await new Promise((resolve) => setTimeout(resolve, 50));
  const stats = await check('GET', '/_inference/_stats', '/_inference/_stats');
  t.ok(stats.json.endpoints[0].samples.length > 0, 'samples were checked too');
  await check('GET', '/_inference/_stats', '/_inference/_stats?since=x');
  await check('POST', '/_inference/{inference_id}/_cache/clear', '/_inference/dense/_cache/clear');
  await check('POST', '/_inference/{inference_id}/_cache/clear', '/_inference/ranker/_cache/clear');
  await check('DELETE', '/_inference/{inference_id}', '/_inference/ranker?dry_run=true');
  await check('DELETE', '/_inference/{task_type}/{inference_id}', '/_inference/rerank/ranker');
  await check('DELETE', '/_inference/{inference_id}', '/_inference/sparse');
  await check('DELETE', '/_inference/{task_type}/{inference_id}', '/_inference/text_embedding/gone');

  // Every documented operation was called, and each that can succeed on this build answered a 2xx.
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const statuses = seen.get(`${method.toUpperCase()} ${path}`) ?? [];
      t.ok(statuses.length > 0, `${method.toUpperCase()} ${path} was checked`);
      // Streaming answers text/event-stream; no task of this build streams yet, so only its error answer is checked
      // here.
      const jsonSuccess = operation.responses['200']?.content?.['application/json'] !== undefined;
      if (jsonSuccess)
        t.ok(
          statuses.some((x) => x >= 200 && x < 300),
          `${method.toUpperCase()} ${path}: a success was checked (${statuses.join(', ')})`,
        );
    }
  }
});
