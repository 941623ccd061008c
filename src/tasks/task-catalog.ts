// The task types this build runs, looked up by name.
import type { TaskType } from '../inference-task-type.js';
import { chatCompletionTask } from './chat-completion-task.js';
import { completionTask } from './completion-task.js';
import { rerankTask } from './rerank-task.js';
import { sparseEmbeddingTask } from './sparse-embedding-task.js';
import { textEmbeddingTask } from './text-embedding-task.js';
import type { AnyTask } from './task-module.js';

const TASKS: Partial<Record<TaskType, AnyTask>> = {
  text_embedding: textEmbeddingTask,
  sparse_embedding: sparseEmbeddingTask,
  rerank: rerankTask,
  completion: completionTask,
  chat_completion: chatCompletionTask,
};

/** The task module of a task type; undefined for one this build does not run. */
export function taskFor(taskType: TaskType): AnyTask | undefined {
  return TASKS[taskType];
}

/** Query parameters some task reads on its POST (the route accepts them; a task that does not read one refuses it). */
export const TASK_QUERY_PARAMETERS: readonly string[] = [
  ...new Set(Object.values(TASKS).flatMap((t) => t.queryParameters ?? [])),
];

/** Every task module of this build (the OpenAPI document describes each one's request and answer). */
export function allTasks(): AnyTask[] {
  return Object.values(TASKS);
}
