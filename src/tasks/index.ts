// The task types this build runs, looked up by name.
import type { TaskType } from '../task-types.js';
import { chatCompletionTask } from './chat-completion.js';
import { completionTask } from './completion.js';
import { rerankTask } from './rerank.js';
import { sparseEmbeddingTask } from './sparse-embedding.js';
import { textEmbeddingTask } from './text-embedding.js';
import type { AnyTask } from './types.js';

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
export const TASK_QUERY_PARAMETERS: readonly string[] = [...new Set(Object.values(TASKS).flatMap((t) => t.queryParameters ?? []))];

/** Every task module of this build (the OpenAPI document describes each one's request and answer). */
export function allTasks(): AnyTask[] {
  return Object.values(TASKS);
}
