// Request bodies checked against their TypeBox schema, and the first problem told in Elasticsearch's words
// (x_content_parse_exception).
import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { type EsError, errors } from './errors.js';

export interface SchemaIssue {
  instancePath?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

/** `/service_settings/rate_limit/requests_per_minute` → `service_settings.rate_limit.requests_per_minute`. */
export const fieldName = (pointer: string) =>
  pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');

/** Describes the first failing body field from the validator's issues, without echoing its value. */
export function bodyIssue(issues: readonly SchemaIssue[], body: unknown): EsError {
  if (body === undefined) return errors.requestBodyRequired();
  const unknown = issues.find((i) => i.keyword === 'additionalProperties');
  if (unknown) {
    const parent = fieldName(unknown.instancePath ?? '');
    const name = ((unknown.params?.additionalProperties as string[] | undefined) ?? [])[0] ?? '';
    return errors.fieldParse(parent ? `${parent}.${name}` : name, 'unknown field');
  }
  const path = issues[0]?.instancePath ?? '';
  const here = issues.filter((i) => (i.instancePath ?? '') === path);
  if (path === '') return errors.fieldParse('_body', 'the request body must be a JSON object');
  if (here.some((i) => i.keyword === 'maximum' || i.keyword === 'minimum')) {
    return errors.fieldParse(fieldName(path), 'the number is out of range');
  }
  const expected = here
    .filter((i) => i.keyword === 'type')
    .flatMap((i) => [i.params?.type].flat())
    .map((t) => TYPE_WORDS[String(t)] ?? String(t));
  const detail =
    expected.length > 0 ? `expected ${[...new Set(expected)].join(' or ')}` : 'the value is not valid here';
  return errors.fieldParse(fieldName(path), detail);
}

/** A compiled check of one body schema: the body, typed, or the EsError describing its first problem. */
export function bodyChecker<T extends TSchema>(schema: T): (body: unknown) => Static<T> {
  const check = Compile(schema);
  return (body) => {
    if (check.Check(body)) return body;
    throw bodyIssue([...check.Errors(body)] as SchemaIssue[], body);
  };
}
