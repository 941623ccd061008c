// Schema pieces shared by every route: nullable fields, Elasticsearch's global query parameters.
import Type, { type TSchema } from 'typebox';
import { TASK_TYPES } from '../src/inference-task-type.js';

/** Java int range, as Elasticsearch parses integer settings. */
export const Int = () => Type.Integer({ minimum: -2147483648, maximum: 2147483647 });
export const Long = () => Type.Integer({ minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER });

/** An optional field that may also be null (Elasticsearch treats null as absent). */
export const Nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));

/** Parameters Elasticsearch accepts on every route; `pretty` is honoured, the others are accepted and ignored. */
export const GlobalQueryProperties = {
  pretty: Type.Optional(Type.String()),
  human: Type.Optional(Type.String()),
  error_trace: Type.Optional(Type.String()),
  filter_path: Type.Optional(Type.String()),
};

/**
 * One of the task types of the Elasticsearch API (answers only; requests take any string and answer `Unknown task_type
 * [X]`).
 */
export const TaskTypeName = Type.Enum(TASK_TYPES);
