// The official Elasticsearch JavaScript client (9.x and 8.x), unchanged, against the running service.
import { Client as Client9, errors as errors9 } from '@elastic/elasticsearch';
import { Client as Client8, errors as errors8 } from 'es8';
import t from 'tap';
import { API_KEY, ENDPOINT_URL as URL_, startApp } from '../helpers/app-harness.js';
import { FakeHuggingFace, rerankScore, sparseWeight } from '../helpers/fake-hf.js';

const clients = [
  {
    name: '@elastic/elasticsearch 9',
    make: (node: string) => new Client9({ node }),
    ResponseError: errors9.ResponseError,
  },
  {
    name: '@elastic/elasticsearch 8', // Same method names and request shapes; typed as 9.x so one test body drives both.
    make: (node: string) => new Client8({ node }) as unknown as Client9,
    ResponseError: errors8.ResponseError as unknown as typeof errors9.ResponseError,
  },
];

for (const { name, make, ResponseError } of clients) {
  t.test(`${name}: putHuggingFace, get, update, delete and a 404`, async (t) => {
    const s = await startApp(t);
    const node = await s.app.listen({ port: 0, host: '127.0.0.1' });
    const client = make(node);
    t.teardown(() => client.close());

    const created = await client.inference.putHuggingFace({
      task_type: 'text_embedding',
      huggingface_inference_id: 'hf-emb',
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: URL_ },
      chunking_settings: { strategy: 'word', max_chunk_size: 100, overlap: 10 },
    });
    const expected = {
      inference_id: 'hf-emb',
      task_type: 'text_embedding',
      service: 'hugging_face',
      service_settings: { url: URL_, similarity: 'cosine', rate_limit: { requests_per_minute: 3000 } },
      chunking_settings: { strategy: 'word', max_chunk_size: 100, overlap: 10 },
    };
    t.strictSame(created, expected);

    const generic = await client.inference.put({
      task_type: 'text_embedding',
      inference_id: 'generic',
      inference_config: { service: 'hugging_face', service_settings: { api_key: API_KEY, url: URL_ } },
    });
    t.equal(generic.inference_id, 'generic');

    t.strictSame(await client.inference.get({ inference_id: 'hf-emb' }), { endpoints: [expected] });
    t.strictSame(
      (await client.inference.get()).endpoints.map((e: { inference_id: string }) => e.inference_id),
      ['generic', 'hf-emb'],
    );
    t.strictSame((await client.inference.get({ task_type: 'text_embedding', inference_id: 'hf-emb' })).endpoints, [
      expected,
    ]);

    const updated = await client.inference.update({
      inference_id: 'hf-emb',
      task_type: 'text_embedding',
      inference_config: {
        service: 'hugging_face',
        service_settings: { api_key: 'hf_Rotated0123456789abcdef', rate_limit: { requests_per_minute: 600 } },
      },
    });
    t.strictSame(updated.service_settings, {
      url: URL_,
      similarity: 'cosine',
      rate_limit: { requests_per_minute: 600 },
    });

    t.strictSame(await client.inference.delete({ inference_id: 'hf-emb', dry_run: true }), {
      acknowledged: false,
      pipelines: [],
      indexes: [],
      error_message: '',
    });
    t.strictSame(await client.inference.delete({ inference_id: 'hf-emb', task_type: 'text_embedding', force: true }), {
      acknowledged: true,
      pipelines: [],
      indexes: [],
    });

    const err = await client.inference.get({ inference_id: 'hf-emb' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof ResponseError, "a 404 surfaces as the client's ResponseError");
    const responseError = err as InstanceType<typeof ResponseError>;
    t.equal(responseError.statusCode, 404);
    t.strictSame(responseError.body, {
      error: {
        root_cause: [{ type: 'resource_not_found_exception', reason: 'Inference endpoint not found [hf-emb]' }],
        type: 'resource_not_found_exception',
        reason: 'Inference endpoint not found [hf-emb]',
      },
      status: 404,
    });

    const invalid = await client.inference
      .putHuggingFace({
        task_type: 'text_embedding',
        huggingface_inference_id: 'bad',
        service: 'hugging_face',
        service_settings: { api_key: API_KEY, url: URL_, rate_limit: { requests_per_minute: 0 } },
      })
      .then(
        () => undefined,
        (e: unknown) => e as InstanceType<typeof ResponseError>,
      );
    t.equal(invalid?.statusCode, 400);
    t.equal(
      (invalid?.body as { error: { reason: string } }).error.reason,
      'Validation Failed: 1: [rate_limit] Invalid value [0]. [requests_per_minute] must be a positive long;',
    );
  });
}

for (const { name, make } of clients) {
  t.test(`${name}: inference.textEmbedding and inference.inference`, async (t) => {
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    const s = await startApp(t, { SKIP_VALIDATION: 'false' });
    const node = await s.app.listen({ port: 0, host: '127.0.0.1' });
    const client = make(node);
    t.teardown(() => client.close());
    const created = await client.inference.putHuggingFace({
      task_type: 'text_embedding',
      huggingface_inference_id: 'live',
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: `${hf.url}/embed` },
    });
    t.strictSame(created.service_settings, {
      url: `${hf.url}/embed`,
      similarity: 'cosine',
      dimensions: 16,
      rate_limit: { requests_per_minute: 3000 },
    });

    const one = await client.inference.textEmbedding({ inference_id: 'live', input: 'hello' });
    t.strictSame(one, { text_embedding: [{ embedding: hf.vector('hello') }] });
    const many = await client.inference.inference({
      task_type: 'text_embedding',
      inference_id: 'live',
      input: ['a', 'b'],
    });
    t.strictSame(many, { text_embedding: [{ embedding: hf.vector('a') }, { embedding: hf.vector('b') }] });
    t.strictSame(
      hf.received.slice(1).map((r) => r.body),
      [{ inputs: ['hello'] }, { inputs: ['a', 'b'] }],
    );
  });
}

for (const { name, make } of clients) {
  t.test(`${name}: inference.rerank and inference.sparseEmbedding`, async (t) => {
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    const s = await startApp(t, { SKIP_VALIDATION: 'false' });
    const node = await s.app.listen({ port: 0, host: '127.0.0.1' });
    const client = make(node);
    t.teardown(() => client.close());

    const created = await client.inference.putHuggingFace({
      task_type: 'rerank',
      huggingface_inference_id: 'rr',
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url: `${hf.url}/rerank` },
      task_settings: { return_documents: false, top_n: 3 },
    });
    t.strictSame(created, {
      inference_id: 'rr',
      task_type: 'rerank',
      service: 'hugging_face',
      service_settings: { url: `${hf.url}/rerank`, rate_limit: { requests_per_minute: 3000 } },
      task_settings: { return_documents: false, top_n: 3 },
    });
    const input = ['luke', 'leia and luke', 'r2d2'];
    // 9.x sends top_n and return_documents in the body, 8.x in the query string: both are honoured.
    const ranked = await client.inference.rerank({
      inference_id: 'rr',
      query: 'leia luke',
      input,
      top_n: 2,
      return_documents: true,
    });
    const scored = input
      .map((text, index) => ({ index, relevance_score: rerankScore('leia luke', text), text }))
      .sort((a, b) => b.relevance_score - a.relevance_score);
    t.strictSame(ranked, { rerank: scored.slice(0, 2) });
    t.strictSame(
      hf.received.map((r) => r.body),
      // The creation check (with the stored task settings), then the request, as Elasticsearch sends them.
      [
        { texts: ['how big'], query: 'how big', return_text: false, top_n: 3 },
        { texts: input, query: 'leia luke', return_text: true, top_n: 2 },
      ],
    );
    const stored = await client.inference.inference({ task_type: 'rerank', inference_id: 'rr', query: 'r2d2', input });
    t.equal((stored as { rerank: unknown[] }).rerank.length, 3, 'the stored top_n applies');

    // The 8.x client types sparse_embedding out of putHuggingFace; the generic put takes it.
    await client.inference.put({
      task_type: 'sparse_embedding',
      inference_id: 'sp',
      inference_config: {
        service: 'hugging_face',
        service_settings: { api_key: API_KEY, url: `${hf.url}/sparse-handler` },
      },
    });
    const sparse = await client.inference.sparseEmbedding({ inference_id: 'sp', input: 'sparse search' });
    t.strictSame(sparse, {
      sparse_embedding: [
        { is_truncated: false, embedding: { sparse: sparseWeight('sparse'), search: sparseWeight('search') } },
      ],
    });
  });
}

for (const { name, make } of clients) {
  t.test(`${name}: info() reads the Elasticsearch version a tool would choose a protocol by`, async (t) => {
    const s = await startApp(t);
    const client = make(await s.app.listen({ port: 0, host: '127.0.0.1' }));
    t.teardown(() => client.close());
    const info = await client.info();
    t.equal(info.version.number, '9.4.0');
    t.equal(info.version.build_flavor, 'default');
    t.equal(info.tagline, 'You Know, for Search');
  });
}
