// What a generation protocol is (TGI native, text2text, OpenAI chat), and what the three share: finish reasons,
// prompts, stream events as JSON.
import type { ChatMessage, GenerationChunk, GenerationRequest } from '../inference-service.js';
import { badAnswer, describeShape, isJsonObject, type JsonAnswer } from './call.js';

/** What one SSE event of a protocol's stream means. */
export type StreamReading =
  { chunk: GenerationChunk } | { error: Record<string, unknown> } | { done: true } | undefined;

/** One upstream protocol: its requests, its answers, its stream events. Pure functions. */
export interface GenerationProtocol {
  /** Where a request goes and its body. */
  request(request: GenerationRequest, stream: boolean): { url: string; body: string };
  /** The generated text of a whole answer; throws SendError for a shape it does not know. */
  parseAnswer(answer: JsonAnswer, inferenceId: string): string;
  /** One event's data; throws SendError when it is not JSON. Undefined for events that carry nothing. */
  readEvent(data: string, inferenceId: string): StreamReading;
  /** Whether the upstream streams at all (text2text does not: a stream of it is one whole answer). */
  readonly streams: boolean;
  /** Every URL its requests go to. */
  readonly urls: readonly string[];
}

/**
 * OpenAI's finish reasons. TGI's native `eos_token` and both its protocols' `stop_sequence`
 * are OpenAI's `stop`; OpenAI clients know no others.
 */
export function normaliseFinishReason(reason: unknown): string | undefined {
  if (typeof reason !== 'string' || reason === '') return undefined;
  return reason === 'eos_token' || reason === 'stop_sequence' ? 'stop' : reason;
}

/** The text a prompt-only protocol sends: the messages' texts, one per line (a completion has exactly one). */
export function promptOf(messages: readonly ChatMessage[]): string {
  return messages
    .map((m) => (typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p.text).join('')))
    .join('\n');
}

/** One stream event's data as a JSON object; anything else is a bad answer naming what was `expected`. */
export function eventObject(data: string, inferenceId: string, expected: string): Record<string, unknown> {
  let payload: unknown;
  try {
    payload = JSON.parse(data);
  } catch {
    throw badAnswer(inferenceId, 'an event of the stream is not JSON');
  }
  if (!isJsonObject(payload)) throw badAnswer(inferenceId, `expected ${expected}, got ${describeShape(payload)}`);
  return payload;
}
