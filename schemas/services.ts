// TypeBox schema of GET /_inference/_services (Elasticsearch 8.16+): each service, its task types and the settings it
// reads.
import Type, { type Static } from 'typebox';
import { TaskTypeName } from './common.js';

export const SettingDescription = Type.Object(
  {
    description: Type.String(),
    label: Type.String(),
    required: Type.Boolean(),
    sensitive: Type.Boolean(),
    updatable: Type.Boolean(),
    type: Type.Enum(['str', 'int', 'float', 'bool', 'map', 'list']),
    supported_task_types: Type.Array(TaskTypeName),
  },
  { additionalProperties: false },
);
export type SettingDescription = Static<typeof SettingDescription>;

export const ServiceDescription = Type.Object(
  {
    service: Type.String(),
    name: Type.String(),
    task_types: Type.Array(TaskTypeName),
    configurations: Type.Record(Type.String(), SettingDescription),
  },
  {
    additionalProperties: false,
    description: 'An inference service, the task types it serves and the settings it reads (keyed by setting).',
  },
);
export type ServiceDescription = Static<typeof ServiceDescription>;

export const ServicesList = Type.Array(ServiceDescription);
