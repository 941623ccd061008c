// What each task's wire module gives the Hugging Face service: one endpoint's operations and the URLs they call,
// resolved once.
import type { TaskType } from '../../inference-task-type.js';
import type { EndpointTelemetry } from '../../telemetry.js';
import type { TaskOperations } from '../inference-service.js';
import type { HttpTransport } from '../upstream/http-transport.js';
import type { ServiceSettingsOf } from './hugging-face-settings.js';

/** What every task's wire shares, for the life of the service. */
export interface WireContext {
  transport: HttpTransport;
  /** Base of Hugging Face's serverless API (hosted mode). */
  hfApiBase: string;
  /** Base of Hugging Face's router (hosted chat). */
  hfRouterBase: string;
  /** UPSTREAM_TIMEOUT as a user reads it, for the message of a stream that went silent. */
  silenceLimit: string;
}

/** One stored endpoint of a task type, as its wire needs it. */
interface WireEndpoint<T extends TaskType> {
  inferenceId: string;
  settings: ServiceSettingsOf<T>;
  apiKey: string;
  /** Where each upstream request is counted and timed. */
  telemetry: EndpointTelemetry;
}

/** One endpoint's operations, and every URL they send to (checked against the upstream rules at PUT). */
interface BoundWire<T extends TaskType> {
  upstreamUrls: string[];
  operations: TaskOperations[T];
}

/** A task type's wire, made once per service: binds each endpoint of that type. */
export type TaskWire<T extends TaskType> = (endpoint: WireEndpoint<T>) => BoundWire<T>;
