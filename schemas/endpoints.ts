// TypeBox schemas for the endpoint registry routes: PUT, GET, DELETE and _update under /_inference.
import Type, { type Static } from 'typebox';
import { GlobalQueryProperties, Int, Long, Nullable } from './common.js';

// Objects stay open (additionalProperties): unknown keys are reported by the domain in
// Elasticsearch's words ("Model configuration contains settings […] unknown …"), not by the schema.
const open = { additionalProperties: true } as const;

export const RateLimitSettings = Type.Object({ requests_per_minute: Nullable(Long()) }, open);

export const ServiceSettings = Type.Object(
  {
    api_key: Nullable(Type.String()),
    url: Nullable(Type.String()),
    model_id: Nullable(Type.String()),
    similarity: Nullable(Type.String()),
    dimensions: Nullable(Int()),
    max_input_tokens: Nullable(Int()),
    batch_size: Nullable(Int()),
    rate_limit: Nullable(RateLimitSettings),
  },
  open,
);

export const TaskSettings = Type.Object({ top_n: Nullable(Int()), return_documents: Nullable(Type.Boolean()) }, open);

export const ChunkingSettings = Type.Object(
  {
    strategy: Nullable(Type.String()),
    max_chunk_size: Nullable(Int()),
    overlap: Nullable(Int()),
    sentence_overlap: Nullable(Int()),
    separators: Nullable(Type.Array(Type.String())),
    separator_group: Nullable(Type.String()),
  },
  open,
);

export const PutEndpointBody = Type.Object(
  {
    service: Nullable(Type.String()),
    task_type: Nullable(Type.String()),
    service_settings: Nullable(ServiceSettings),
    task_settings: Nullable(TaskSettings),
    chunking_settings: Nullable(ChunkingSettings),
  },
  { ...open, description: 'An inference endpoint configuration.' },
);
export type PutEndpointBody = Static<typeof PutEndpointBody>;

export const UpdateEndpointBody = PutEndpointBody;

export const TaskTypeParams = Type.Object({ task_type: Type.String() });
export const InferenceIdParams = Type.Object({ inference_id: Type.String() });
export const TaskTypeAndIdParams = Type.Object({ task_type: Type.String(), inference_id: Type.String() });

export const GetQuery = Type.Object({ ...GlobalQueryProperties }, { additionalProperties: false });
export const PutQuery = Type.Object({ ...GlobalQueryProperties, timeout: Type.Optional(Type.String()) }, { additionalProperties: false });
export const DeleteQuery = Type.Object(
  { ...GlobalQueryProperties, dry_run: Type.Optional(Type.String()), force: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
