// TypeBox schema of GET /_inference/_stats: each active endpoint's traffic over the last minutes, on the instance that
// answered (docs/api.md#traffic-history).
import Type from 'typebox';
import { GlobalQueryProperties, TaskTypeName } from './common.js';

export const TrafficQuery = Type.Object(
  {
    ...GlobalQueryProperties,
    since: Type.Optional(
      Type.String({ description: 'Only samples taken after this time (epoch milliseconds): what a page already has.' }),
    ),
  },
  { additionalProperties: false },
);

const Count = Type.Integer({ minimum: 0 });
const CountsBy = (what: string) => Type.Record(Type.String(), Count, { description: what });
const Timestamp = Type.Integer({ minimum: 0, description: "Epoch milliseconds of the interval's end." });

const TrafficSample = Type.Object(
  {
    timestamp: Timestamp,
    requests: Type.Integer({ minimum: 0, description: 'Inference requests answered.' }),
    failed: CountsBy('Answers with an error status, by status.'),
    upstream_requests: Type.Integer({ minimum: 0, description: 'Requests sent to the upstream.' }),
    upstream_errors: CountsBy(
      'Upstream answers that were not a success, by HTTP status, or `timeout`, `network_error`, `too_large`.',
    ),
    rate_limit: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
      description: "The endpoint's rate_limit.requests_per_minute at the interval's end (null: not live here).",
    }),
    upstream_latency_ms: Type.Union(
      [Type.Object({ p50: Type.Number(), p99: Type.Number() }, { additionalProperties: false }), Type.Null()],
      { description: 'Upstream request durations (null: none ended in the interval).' },
    ),
    texts: Type.Integer({ minimum: 0, description: 'Texts (documents for rerank) the upstream answered for.' }),
    texts_per_request: Type.Union([Type.Number(), Type.Null()], {
      description: 'Mean texts per upstream batch taken in the interval (null: none).',
    }),
    queue_depth: Type.Integer({
      minimum: 0,
      description: "Texts waiting in the endpoint's queue at the interval's end.",
    }),
    streams_open: Type.Integer({ minimum: 0, description: "Streamed answers in progress at the interval's end." }),
    cache_hits: Type.Integer({ minimum: 0, description: 'Texts answered by the embedding cache.' }),
    cache_misses: Type.Integer({
      minimum: 0,
      description: 'Texts looked up in the embedding cache and sent upstream.',
    }),
    retries: Type.Integer({ minimum: 0, description: 'Upstream work sent again (back-off or split).' }),
  },
  { additionalProperties: false },
);

const CacheSample = Type.Object(
  {
    timestamp: Timestamp,
    bytes: Count,
    entries: Count,
    evictions: Type.Integer({ minimum: 0, description: 'Entries dropped for room during the interval.' }),
    expirations: Type.Integer({ minimum: 0, description: 'Entries dropped for their age during the interval.' }),
  },
  { additionalProperties: false },
);

export const TrafficAnswer = Type.Object(
  {
    instance: Type.Object(
      {
        host: Type.String({ description: 'The host name of the machine (or container) that answered.' }),
        pid: Type.Integer(),
        address: Type.String({ description: 'The address and port the request reached.' }),
      },
      { additionalProperties: false, description: 'Which instance answered: each counts only its own traffic.' },
    ),
    interval_seconds: Type.Number(),
    window_seconds: Type.Number(),
    max_endpoints: Type.Integer({
      minimum: 0,
      description: 'Endpoints with a history at once on this instance (METRICS_ENDPOINTS).',
    }),
    endpoints_left_out: Type.Boolean({
      description: 'Some endpoint had traffic in the window but no history: max_endpoints were already kept.',
    }),
    embedding_cache: Type.Union(
      [
        Type.Object(
          { max_bytes: Count, samples: Type.Array(CacheSample) },
          { additionalProperties: false, description: "This instance's embedding cache in memory." },
        ),
        Type.Null(),
      ],
      { description: 'null when the cache is off.' },
    ),
    endpoints: Type.Array(
      Type.Object(
        { inference_id: Type.String(), task_type: TaskTypeName, samples: Type.Array(TrafficSample) },
        { additionalProperties: false },
      ),
      { description: 'Endpoints with traffic in the window, by id; samples oldest first.' },
    ),
  },
  { additionalProperties: false },
);
