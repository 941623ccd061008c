// The task types this build runs, looked up by name.
import type { TaskType } from '../inference-task-type.js';
import { chatCompletionTask } from './chat-completion-task.js';
import { completionTask } from './completion-task.js';
import { rerankTask } from './rerank-task.js';
import { sparseEmbeddingTask } from './sparse-embedding-task.js';
import { textEmbeddingTask } from './text-embedding-task.js';
import type { AnyTask } from './task-module.js';

const TASKS = {
  text_embedding: textEmbeddingTask,
  sparse_embedding: sparseEmbeddingTask,
  rerank: rerankTask,
  completion: completionTask,
  chat_completion: chatCompletionTask,
} satisfies Partial<Record<TaskType, AnyTask>>;

/** The task types whose plain POST answers (all but those answering only on `_stream`). */
export type PostTaskType = 'text_embedding' | 'sparse_embedding' | 'rerank' | 'completion';

/** What the plain POST of a task type results in, before `_inference` writes it as JSON. */
export type TaskResult<T extends PostTaskType> = Awaited<ReturnType<NonNullable<(typeof TASKS)[T]['run']>>>;

/** The task module of a task type; undefined for one this build does not run. */
export function taskFor(taskType: TaskType): AnyTask | undefined {
  return (TASKS as Partial<Record<TaskType, AnyTask>>)[taskType];
}

/** Query parameters some task reads on its POST (the route accepts them; a task that does not read one refuses it). */
export const TASK_QUERY_PARAMETERS: readonly string[] = [
  ...new Set(Object.values(TASKS).flatMap((t) => t.queryParameters ?? [])),
];

/** Every task module of this build (the OpenAPI document describes each one's request and answer). */
export function allTasks(): AnyTask[] {
  return Object.values(TASKS);
}
