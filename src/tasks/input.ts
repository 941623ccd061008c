// Reading the fields every text task's request shares: `input` and `input_type` (docs/api.md#input_type).
import type { Static, TSchema } from 'typebox';
import { errors } from '../errors.js';
import type { TaskType } from '../inference-task-type.js';
import { bodyChecker } from '../request-body.js';
import { INPUT_TYPES, type InputType } from '../services/inference-service.js';

/** `input`: a string or a non-empty array of strings (docs/api.md#text_embedding). */
export function readInputs(input: string | string[] | null | undefined): string[] {
  if (input === undefined || input === null) throw errors.inputNull();
  if (typeof input === 'string') return [input];
  if (input.length === 0) throw errors.inputEmpty();
  return input;
}

/** Input types Elasticsearch passes between its own components, refused over HTTP. */
const INTERNAL_INPUT_TYPES = ['internal_ingest', 'internal_search'];

/**
 * `input_type` as Elasticsearch's REST layer reads it: trimmed, in any case; absent, null and `unspecified` are none.
 * Any other value is a parse error of the field, as Elasticsearch refuses it while reading the body.
 */
function readInputType(value: string | null | undefined): InputType | undefined {
  if (value === undefined || value === null) return undefined;
  const name = value.trim().toLowerCase();
  if (name === 'unspecified') return undefined;
  if (!(INPUT_TYPES as readonly string[]).includes(name)) {
    // Elasticsearch's own names as it writes them; anything else as it came, cut short.
    const shown = INTERNAL_INPUT_TYPES.includes(name) ? name : value.trim();
    throw errors.fieldParse(
      'input_type',
      `Unrecognized input_type [${shown.length > 100 ? `${shown.slice(0, 100)}...` : shown}], must be one of [${INPUT_TYPES.join(', ')}]`,
    );
  }
  return name as InputType;
}

interface InputFields {
  input?: string | string[] | null;
  input_type?: string | null;
  query?: string | null;
}

/**
 * A task's POST body checker: its structure (the schema), then `input_type`, read into one of INPUT_TYPES (or
 * removed). When the path names a task type other than text_embedding, an input type is refused as Elasticsearch's
 * request validation refuses it, after the checks it makes first (`input`, and rerank's `query`).
 */
export function inputChecker<T extends TSchema>(
  taskType: TaskType,
  schema: T,
): (body: unknown, query: unknown, named?: boolean) => Static<T> {
  const check = bodyChecker(schema);
  return (body, _query, named = false) => {
    const request: InputFields = check(body);
    const inputType = readInputType(request.input_type);
    if (inputType !== undefined && named && taskType !== 'text_embedding') {
      readInputs(request.input);
      if (taskType === 'rerank' && (request.query === undefined || request.query === null))
        throw errors.queryNull('rerank');
      throw errors.inputTypeNotAllowed(taskType);
    }
    return { ...request, input_type: inputType } as Static<T>;
  };
}

/**
 * The hugging_face service's answer to an input type (Elasticsearch's validateInputTypeIsUnspecifiedOrInternal, which
 * its embedding task types apply): refused, unless the endpoint's `prefix_strings` names it (ours). Answers the prefix
 * to put before each text.
 */
export function inputPrefix(
  inputType: string | null | undefined,
  prefixOf: ((inputType: InputType) => string | undefined) | undefined,
): string {
  if (inputType === undefined || inputType === null) return '';
  const prefix = prefixOf?.(inputType as InputType);
  if (prefix === undefined) throw errors.inputTypeNotSupported(inputType);
  return prefix;
}
