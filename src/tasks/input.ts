// Reading the fields every text task's request shares: `input` and `input_type`.
import { errors } from '../errors.js';

const INPUT_TYPES = ['ingest', 'search', 'classification', 'clustering', 'internal_ingest', 'internal_search'];

/** `input`: a string or a non-empty array of strings (docs/api.md#text_embedding). */
export function readInputs(input: string | string[] | null | undefined): string[] {
  if (input === undefined || input === null) throw errors.inputNull();
  if (typeof input === 'string') return [input];
  if (input.length === 0) throw errors.inputEmpty();
  return input;
}

/** `input_type` is checked and accepted; Hugging Face's APIs have no such field, so it is not sent. */
export function checkInputType(inputType: string | null | undefined): void {
  if (inputType != null && !INPUT_TYPES.includes(inputType.toLowerCase())) {
    throw errors.validation([`Field [input_type] must be one of [${INPUT_TYPES.join(', ')}], got [${inputType}]`]);
  }
}
