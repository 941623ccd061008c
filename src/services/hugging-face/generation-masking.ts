// A generated answer with the endpoint's key masked: whole, or streamed with each choice's text (and reasoning) held
// back only where it could begin the key.
import { maskSecret, SecretHoldBack } from '../../redaction.js';
import type { GenerationChoice, GenerationChunk } from '../inference-service.js';

/** The generated text of a choice's delta: held back where it could begin the key. */
const HELD_FIELDS = ['content', 'refusal', 'reasoning'] as const;
type HeldField = (typeof HELD_FIELDS)[number];

/** Every string in a JSON value (tool calls as the upstream sent them) with the key masked. */
function maskDeep(value: unknown, key: string): unknown {
  if (typeof value === 'string') return maskSecret(value, key);
  if (Array.isArray(value)) return value.map((v) => maskDeep(v, key));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [maskSecret(k, key), maskDeep(v, key)]));
  return value;
}

/**
 * The chunks of one stream, masked as they come (docs/operations.md#storage-and-secrets): an
 * upstream may echo the key it was sent as generated text, split over several events. Each
 * choice's content, refusal and reasoning go through a SecretHoldBack: what cannot begin the key is sent at
 * once, the rest waits for the next chunk, the choice's finish (even one with an empty delta), the
 * usage chunk or the stream's end (flush()). A chunk left with nothing to say is not sent. Ids,
 * model names, roles, finish reasons, tool calls and reasoning details are masked whole.
 */
export class ChunkMasker {
  private readonly held = new Map<string, SecretHoldBack>();
  /** Choices whose role has been sent (a chunk that only repeats it need not be). */
  private readonly roleSent = new Set<number>();
  private id: string | undefined;
  private model: string | undefined;
  /** The id and model as the upstream sent them last: every chunk of a stream repeats them, masked once. */
  private rawId: string | undefined;
  private rawModel: string | undefined;

  constructor(private readonly key: string) {}

  private holdBack(index: number, field: HeldField): SecretHoldBack {
    const name = `${index}:${field}`;
    let holdBack = this.held.get(name);
    if (!holdBack) this.held.set(name, (holdBack = new SecretHoldBack(this.key)));
    return holdBack;
  }

  /** One read's chunks as they may be sent. */
  chunks(batch: readonly GenerationChunk[]): GenerationChunk[] {
    const out: GenerationChunk[] = [];
    for (const chunk of batch) {
      if (this.unchanged(chunk)) {
        out.push(chunk);
        continue;
      }
      const masked: GenerationChunk = { ...chunk, choices: [] };
      if (chunk.id !== undefined) {
        if (chunk.id !== this.rawId) {
          this.rawId = chunk.id;
          this.id = maskSecret(chunk.id, this.key);
        }
        masked.id = this.id!;
      }
      if (chunk.model !== undefined) {
        if (chunk.model !== this.rawModel) {
          this.rawModel = chunk.model;
          this.model = maskSecret(chunk.model, this.key);
        }
        masked.model = this.model!;
      }
      // Usage comes last, after every choice has finished: what is still held goes before it, and
      // the text of a choice in the same chunk is not held past it.
      const last = chunk.usage !== undefined;
      if (last) out.push(...this.flush());
      let says = last || chunk.choices.length === 0;
      for (const choice of chunk.choices) {
        const { choice: next, says: choiceSays } = this.choice(choice, last);
        masked.choices.push(next);
        says ||= choiceSays;
      }
      if (says) out.push(masked);
    }
    return out;
  }

  /**
   * Whether masking would give this chunk back as it is: a token's chunk (one choice with text only, no finish, no
   * usage) whose text cannot begin the key with nothing held, and whose id and model were masked to themselves
   * before. Most chunks of a stream are such; sent as they are, they cost no copies (a fifth of what a stream
   * allocates, measured with a sampling allocation profile).
   */
  private unchanged(chunk: GenerationChunk): boolean {
    if (chunk.usage !== undefined || chunk.choices.length !== 1) return false;
    if (chunk.id !== undefined && (chunk.id !== this.rawId || this.id !== chunk.id)) return false;
    if (chunk.model !== undefined && (chunk.model !== this.rawModel || this.model !== chunk.model)) return false;
    const choice = chunk.choices[0]!;
    const delta = choice.delta;
    if (
      choice.finish_reason !== undefined ||
      delta.role !== undefined ||
      delta.refusal !== undefined ||
      delta.reasoning !== undefined ||
      delta.tool_calls !== undefined ||
      delta.reasoning_details !== undefined
    )
      return false;
    const text = delta.content;
    if (text === undefined || text === '') return false;
    const holdBack = this.held.get(`${choice.index}:content`);
    return holdBack !== undefined && holdBack.passes(text);
  }

  /** A choice masked, and whether it says anything (a held piece alone says nothing). */
  private choice(choice: GenerationChoice, last: boolean): { choice: GenerationChoice; says: boolean } {
    const delta: GenerationChoice['delta'] = { ...choice.delta };
    const finishes = choice.finish_reason !== undefined;
    let says = finishes;
    for (const field of HELD_FIELDS) {
      const text = choice.delta[field];
      if (text === undefined) {
        // A choice that finishes sends what was held for it, even when its last delta is empty
        // (OpenAI's `"delta":{}`): held any longer, it would follow the finish.
        if (!finishes) continue;
        const holdBack = this.held.get(`${choice.index}:${field}`);
        if (holdBack?.holding) delta[field] = holdBack.flush();
        continue;
      }
      const holdBack = this.holdBack(choice.index, field);
      delta[field] = holdBack.push(text) + (finishes || last ? holdBack.flush() : '');
      // An empty text as the upstream sent it (a first chunk's) is kept; one emptied by holding back says nothing.
      says ||= delta[field] !== '' || text === '';
    }
    if (choice.delta.role !== undefined) delta.role = maskSecret(choice.delta.role, this.key);
    if (choice.delta.tool_calls !== undefined) {
      delta.tool_calls = maskDeep(choice.delta.tool_calls, this.key) as unknown[];
      says = true;
    }
    if (choice.delta.reasoning_details !== undefined) {
      delta.reasoning_details = maskDeep(choice.delta.reasoning_details, this.key) as unknown[];
      says = true;
    }
    if (choice.delta.role !== undefined && !this.roleSent.has(choice.index)) says = true;
    if (says && choice.delta.role !== undefined) this.roleSent.add(choice.index);
    const out: GenerationChoice = { index: choice.index, delta };
    if (choice.finish_reason !== undefined) out.finish_reason = maskSecret(choice.finish_reason, this.key);
    return { choice: out, says };
  }

  /** What is still held, one chunk per choice (none when nothing is): sent before the stream ends or fails. */
  flush(): GenerationChunk[] {
    const byIndex = new Map<number, GenerationChoice['delta']>();
    for (const [name, holdBack] of this.held) {
      if (!holdBack.holding) continue;
      const [index, field] = name.split(':') as [string, HeldField];
      const delta = byIndex.get(Number(index)) ?? {};
      delta[field] = holdBack.flush();
      byIndex.set(Number(index), delta);
    }
    return [...byIndex].map(([index, delta]) => {
      const chunk: GenerationChunk = { choices: [{ index, delta }] };
      if (this.id !== undefined) chunk.id = this.id;
      if (this.model !== undefined) chunk.model = this.model;
      return chunk;
    });
  }
}
