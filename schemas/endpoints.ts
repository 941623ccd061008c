// TypeBox schemas for the endpoint registry routes (PUT, GET, DELETE and _update under /_inference): requests and
// answers.
import Type, { type Static, type TSchema } from 'typebox';
import { GlobalQueryProperties, Int, Long, Nullable, TaskTypeName } from './common.js';

// Objects stay open (additionalProperties): unknown keys are reported by the domain in
// Elasticsearch's words ("Model configuration contains settings […] unknown …"), not by the schema.
const open = { additionalProperties: true } as const;

const RateLimitSettings = Type.Object({ requests_per_minute: Nullable(Long()) }, open);

const ServiceSettings = Type.Object(
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

const TaskSettings = Type.Object({ top_n: Nullable(Int()), return_documents: Nullable(Type.Boolean()) }, open);

const ChunkingSettings = Type.Object(
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

export const TaskTypeParams = Type.Object({ task_type: Type.String() });
export const InferenceIdParams = Type.Object({ inference_id: Type.String() });
export const TaskTypeAndIdParams = Type.Object({ task_type: Type.String(), inference_id: Type.String() });

export const GetQuery = Type.Object({ ...GlobalQueryProperties }, { additionalProperties: false });
export const PutQuery = Type.Object(
  { ...GlobalQueryProperties, timeout: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
export const DeleteQuery = Type.Object(
  { ...GlobalQueryProperties, dry_run: Type.Optional(Type.String()), force: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

// Answers

const ChunkingSettingsView = Type.Object(
  {
    strategy: Type.Enum(['word', 'sentence', 'recursive', 'none']),
    max_chunk_size: Type.Optional(Type.Integer()),
    overlap: Type.Optional(Type.Integer()),
    sentence_overlap: Type.Optional(Type.Integer()),
    separators: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);

/** An endpoint as PUT, GET and `_update` show it, with the service settings as its service shows them. */
export const endpointViewSchema = <S extends TSchema>(serviceSettings: S) =>
  Type.Object(
    {
      inference_id: Type.String(),
      task_type: TaskTypeName,
      service: Type.String(),
      service_settings: serviceSettings,
      task_settings: Type.Optional(Type.Object({}, { ...open, description: 'Only when not empty.' })),
      chunking_settings: Type.Optional(ChunkingSettingsView),
    },
    {
      additionalProperties: false,
      description: 'An inference endpoint as stored, fields in this order; the api key is never shown.',
    },
  );

/** Any service's endpoint (its settings as an open map): the shape the registry answers with. */
export const EndpointView = endpointViewSchema(
  Type.Object({}, { ...open, description: 'The service settings, never the api key.' }),
);

export const endpointListSchema = <V extends TSchema>(view: V) =>
  Type.Object(
    { endpoints: Type.Array(view, { description: 'Sorted by inference_id.' }) },
    { additionalProperties: false },
  );

export const DeleteAnswer = Type.Object(
  {
    acknowledged: Type.Boolean(),
    pipelines: Type.Array(Type.String()),
    indexes: Type.Array(Type.String()),
    error_message: Type.Optional(Type.String({ description: 'Present (empty) on a dry run.' })),
  },
  { additionalProperties: false },
);
