// completion: each input sent as one user message, answered whole (`{"completion":[{"result"}]}`) or streamed as
// deltas.
import { CompletionRequest, CompletionResult } from '../../schemas/completion.js';
import { errors } from '../errors.js';
import type { GenerationChunk, GenerationRequest, GenerationSettings } from '../services/inference-service.js';
import {
  DONE_EVENT,
  errorEvent,
  generateAll,
  generationLifecycle,
  messageEvent,
  samplingOf,
  startStream,
  streamEvents,
  type GenerationState,
} from './generation-task.js';
import { inputChecker, readInputs } from './input.js';
import { PROBE_TEXT, type Task } from './task-module.js';

const checkBody = inputChecker('completion', CompletionRequest);

const asRequest = (input: string, settings: GenerationSettings): GenerationRequest => ({
  messages: [{ role: 'user', content: input }],
  ...samplingOf(settings),
});

/** `{"completion":[{"result":"…"},…]}`, one entry per input, in input order. */
function completionJson(results: readonly string[]): string {
  return `{"completion":[${results.map((r) => `{"result":${JSON.stringify(r)}}`).join(',')}]}`;
}

/**
 * The events of one network read: each chunk's text as `{"completion":[{"delta":"…"}]}` (chunks without text send
 * nothing).
 */
export function completionDeltas(chunks: readonly GenerationChunk[]): string {
  let out = '';
  for (const chunk of chunks) {
    const text = chunk.choices[0]?.delta.content;
    if (text) out += messageEvent(`{"completion":[{"delta":${JSON.stringify(text)}}]}`);
  }
  return out;
}

export const completionTask: Task<'completion', CompletionRequest, GenerationState, CompletionRequest, string[]> = {
  taskType: 'completion',
  chunked: false,
  requestSchema: CompletionRequest,
  resultSchema: CompletionResult,
  checkBody,
  ...generationLifecycle,

  async run(state, endpoint, body, lifetime) {
    const inputs = readInputs(body.input);
    const settings = endpoint.taskSettings(body.task_settings);
    return generateAll(
      state,
      inputs.map((input) => asRequest(input, settings)),
      lifetime,
    );
  },

  resultJson: completionJson,

  streaming: {
    checkBody,
    async run(state, endpoint, body, lifetime) {
      const inputs = readInputs(body.input);
      if (inputs.length !== 1) throw errors.streamOneInput(inputs.length);
      const stream = await startStream(
        state,
        asRequest(inputs[0]!, endpoint.taskSettings(body.task_settings)),
        lifetime,
      );
      return streamEvents(state, stream, {
        chunks: completionDeltas,
        end: () => DONE_EVENT,
        failed: (error) =>
          errorEvent(JSON.stringify({ error: { type: error.type, reason: error.reason }, status: error.status })),
      });
    },
  },

  // One whole answer of a single token: as few as every protocol lets a request ask for.
  async validate(endpoint, signal) {
    await endpoint.operations.generate({ messages: [{ role: 'user', content: PROBE_TEXT }], maxTokens: 1 }, signal);
    return {};
  },
};
