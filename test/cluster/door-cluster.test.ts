// Three real instances on one PostgreSQL database and one Redis, one endpoint reached through different doors on
// different instances: Elasticsearch's hugging_face requests through the Hugging Face door and an OpenAI client's
// through the OpenAI door share the endpoint's one limit (docs/doors.md, docs/rate-limiting.md).
import crypto from 'node:crypto';
import t from 'tap';
import { Cluster, spacingAtTwiceTheLimit, type LoadRequest } from '../helpers/cluster-harness.js';
import { createDatabase, runAlone, servicesAvailable, TEST_REDIS_URL } from '../helpers/backing-services.js';

const RPM = 600;
const SECONDS = 12;
/** Ids unique to this run: the limiters live in a Redis other runs may share. */
const run = crypto.randomBytes(3).toString('hex');

/** Elasticsearch's hugging_face text_embedding request (HuggingFaceEmbeddingsRequestEntity), with the door as its url. */
const esRequest = (base: string, id: string, text: string): LoadRequest => ({
  base,
  path: `/hf/${id}`,
  body: { inputs: [text] },
});

/** The openai SDK's embeddings.create, with the OpenAI door as its base URL. */
const openAiRequest = (base: string, id: string, text: string): LoadRequest => ({
  base,
  path: '/v1/embeddings',
  body: { model: id, input: [text], encoding_format: 'float' },
});

async function post(request: LoadRequest): Promise<{ status: number; json: any }> {
  const res = await fetch(`${request.base}${request.path}`, {
    method: 'POST',
    // What both clients send: the service's key as a Bearer token (any key while the service runs open).
    headers: { 'content-type': 'application/json', authorization: 'Bearer gateway-key' },
    body: JSON.stringify(request.body),
  });
  return { status: res.status, json: await res.json() };
}

t.test('an Elasticsearch client and an OpenAI client on different instances share one limit', async (t) => {
  if (!(await servicesAvailable(t, { postgres: true, redis: true }))) return;
  await runAlone(t, 'cluster-timing');
  const databaseUrl = await createDatabase(t);
  const cluster = await Cluster.start({ owner: t, size: 3, databaseUrl, redisUrl: TEST_REDIS_URL });
  t.teardown(() => cluster.close());
  const [a, b, c] = [0, 1, 2].map((i) => cluster.url(i)) as [string, string, string];
  const upstream = cluster.upstream;
  const id = `doors-${run}`;
  t.equal((await cluster.createEndpoint(0, id, RPM)).status, 200);

  // Each door answers in its own protocol through each instance (which also opens every upstream connection first).
  for (const base of [a, b, c]) {
    const es = await post(esRequest(base, id, 'hello'));
    t.equal(es.status, 200, `the Hugging Face door on ${base}`);
    t.ok(Array.isArray(es.json) && es.json.length === 1 && es.json[0].length === upstream.dims, 'one vector');
    const openAi = await post(openAiRequest(base, id, 'hello'));
    t.equal(openAi.status, 200, `the OpenAI door on ${base}`);
    t.match(openAi.json, { object: 'list', model: id, data: [{ object: 'embedding', index: 0 }] });
  }

  // Elasticsearch's requests through A and C (two of its nodes), the OpenAI client's through B: together twice the
  // endpoint's limit.
  const request = (n: number) =>
    n % 3 === 1 ? openAiRequest(b, id, `load text ${n}`) : esRequest(n % 3 === 0 ? a : c, id, `load text ${n}`);
  await spacingAtTwiceTheLimit(t, 'spacing at 2x the limit through both doors', {
    upstream,
    bases: [a, b, c],
    inferenceId: id,
    requestsPerMinute: RPM,
    seconds: SECONDS,
    request,
  });
});
