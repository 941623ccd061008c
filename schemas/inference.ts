// TypeBox schemas for running inference: POST /_inference/{task_type}/{inference_id} and its _stream form.
import Type from 'typebox';
import { GlobalQueryProperties, Nullable } from './common.js';

export const InferenceBody = Type.Object(
  {
    input: Nullable(Type.Union([Type.String(), Type.Array(Type.String())])),
    query: Nullable(Type.String()),
    input_type: Nullable(Type.String()),
    task_settings: Nullable(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false, description: 'Texts to run through the endpoint.' },
);

export const InferenceQuery = Type.Object({ ...GlobalQueryProperties, timeout: Type.Optional(Type.String()) }, { additionalProperties: false });
