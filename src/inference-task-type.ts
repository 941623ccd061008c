// The inference task types of the Elasticsearch API, and parsing of a task type named by a user.
import { errors } from './errors.js';

export const TASK_TYPES = ['text_embedding', 'sparse_embedding', 'completion', 'chat_completion', 'rerank'] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export function isTaskType(value: string): value is TaskType {
  return (TASK_TYPES as readonly string[]).includes(value);
}

/** `text_embedding` → the task type; anything else → 400 `Unknown task_type [X]`. */
export function parseTaskType(value: string): TaskType {
  if (!isTaskType(value)) throw errors.unknownTaskType(value);
  return value;
}
