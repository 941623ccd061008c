// TypeBox schema of Elasticsearch's error envelope (docs/api.md#errors), the answer of every failed request.
import Type from 'typebox';

/** `caused_by` nests the same shape; written out to a fixed depth (the service nests at most twice). */
const cause = (depth: number): ReturnType<typeof Type.Object> =>
  Type.Object(
    {
      type: Type.String(),
      reason: Type.String(),
      ...(depth > 0 ? { caused_by: Type.Optional(cause(depth - 1)) } : {}),
    },
    { additionalProperties: false },
  );

const ErrorEnvelope = Type.Object(
  {
    error: Type.Object(
      {
        root_cause: Type.Array(
          Type.Object({ type: Type.String(), reason: Type.String() }, { additionalProperties: false }),
        ),
        type: Type.String({ description: 'The exception type, e.g. resource_not_found_exception.' }),
        reason: Type.String(),
        caused_by: Type.Optional(cause(3)),
      },
      { additionalProperties: false },
    ),
    status: Type.Integer({ description: 'Equal to the HTTP status.' }),
  },
  { additionalProperties: false, description: "Elasticsearch's error envelope." },
);

/** Every route's error answers: one envelope, whatever the status. */
export const ErrorResponses = { default: ErrorEnvelope } as const;
