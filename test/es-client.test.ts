// The official Elasticsearch JavaScript client (9.x and 8.x), unchanged, against the running service.
import { Client as Client9, errors as errors9 } from '@elastic/elasticsearch';
import { Client as Client8, errors as errors8 } from 'es8';
import t from 'tap';
import { API_KEY, startApp } from './helpers/app.js';
import { FakeHuggingFace } from './helpers/fake-hf.js';

const URL_ = 'https://xyz.endpoints.huggingface.cloud';

const clients = [
  { name: '@elastic/elasticsearch 9', make: (node: string) => new Client9({ node }),
    ResponseError: errors9.ResponseError, },
  { name: '@elastic/elasticsearch 8', // Same method names and request shapes; typed as 9.x so one test body drives both.
    make: (node: string) => new Client8({ node }) as unknown as Client9,
    ResponseError: errors8.ResponseError as unknown as typeof errors9.ResponseError, },
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
    t.same(created, expected);

    const generic = await client.inference.put({
      task_type: 'text_embedding',
      inference_id: 'generic',
      inference_config: { service: 'hugging_face', service_settings: { api_key: API_KEY, url: URL_ } },
    });
    t.equal(generic.inference_id, 'generic');

    t.same(await client.inference.get({ inference_id: 'hf-emb' }), { endpoints: [expected] });
    t.same(
      (await client.inference.get()).endpoints.map((e: { inference_id: string }) => e.inference_id),
      ['generic', 'hf-emb'],
    );
    t.same((await client.inference.get({ task_type: 'text_embedding', inference_id: 'hf-emb' })).endpoints, [expected]);

    const updated = await client.inference.update({
      inference_id: 'hf-emb',
      task_type: 'text_embedding',
      inference_config: {
        service: 'hugging_face',
        service_settings: { api_key: 'hf_Rotated0123456789abcdef', rate_limit: { requests_per_minute: 600 } },
      },
    });
    t.same(updated.service_settings, { url: URL_, similarity: 'cosine', rate_limit: { requests_per_minute: 600 } });

    t.same(await client.inference.delete({ inference_id: 'hf-emb', dry_run: true }), {
      acknowledged: false,
      pipelines: [],
      indexes: [],
      error_message: '',
    });
    t.same(await client.inference.delete({ inference_id: 'hf-emb', task_type: 'text_embedding', force: true }), {
      acknowledged: true,
      pipelines: [],
      indexes: [],
    });

    const err = await client.inference.get({ inference_id: 'hf-emb' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof ResponseError, 'a 404 surfaces as the client\'s ResponseError');
    const responseError = err as InstanceType<typeof ResponseError>;
    t.equal(responseError.statusCode, 404);
    t.same(responseError.body, {
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
    t.same(created.service_settings, { url: `${hf.url}/embed`, similarity: 'cosine', dimensions: 16, rate_limit: { requests_per_minute: 3000 } });

    const one = await client.inference.textEmbedding({ inference_id: 'live', input: 'hello' });
    t.same(one, { text_embedding: [{ embedding: hf.vector('hello') }] });
    const many = await client.inference.inference({ task_type: 'text_embedding', inference_id: 'live', input: ['a', 'b'] });
    t.same(many, { text_embedding: [{ embedding: hf.vector('a') }, { embedding: hf.vector('b') }] });
    t.same(hf.received.slice(1).map((r) => r.body), [{ inputs: ['hello'] }, { inputs: ['a', 'b'] }]);
  });
}
