// Runs inference requests: finds the endpoint and its task, keeps each endpoint's live state (limiter, queue), follows
// endpoint changes.
import PQueue from 'p-queue';
import type { EmbeddingCache } from '../cache/embedding-cache.js';
import { Cancellation } from '../cancellation.js';
import type { EndpointChanges } from '../endpoints/changes.js';
import type { EndpointRegistry } from '../endpoints/registry.js';
import { intervalMs, type RateLimiter, type RateLimiterFactory } from '../dispatch/rate-limiter.js';
import type { RetryPolicy } from '../dispatch/retry.js';
import { EsError, errors } from '../errors.js';
import type { BoundEndpoint } from '../services/inference-service.js';
import type { TaskType } from '../inference-task-type.js';
import { NO_TELEMETRY, type Telemetry } from '../telemetry.js';
import { TASK_QUERY_PARAMETERS, taskFor, type PostTaskType, type TaskResult } from './task-catalog.js';
import type { AnyTask, EventStream } from './task-module.js';

export interface RunnerDeps {
  /** Where live endpoints are read from (the registry). */
  registry: Pick<EndpointRegistry, 'resolve'>;
  changes: EndpointChanges;
  /** Makes each endpoint's rate limiter. */
  limiters: RateLimiterFactory;
  retry: RetryPolicy;
  /** Waiting batches per endpoint before 429; QUEUE_CAPACITY unless set. */
  queueCapacity: number | undefined;
  /** Upstream requests in flight across all endpoints. */
  maxInflight: number;
  /** Where each endpoint's queue and dispatch figures go. */
  telemetry?: Telemetry;
  /** The embedding cache, when the service keeps one. */
  cache?: EmbeddingCache;
  /** How long an endpoint stays live with nothing to do before it gives its live state up; `LIVE_IDLE_MS` unless set. */
  idleMs?: number;
}

export interface InferenceCall {
  inferenceId: string;
  /** The task type the path names, if it names one (the route has parsed it). */
  taskType: TaskType | undefined;
  /** The parsed JSON body (the route answers a missing one). */
  body: unknown;
  query: Readonly<Record<string, string | undefined>>;
  /** The request path, for messages. */
  path: string;
  /** Cancelled with the error to answer (408) when the request times out, or when its client leaves. */
  lifetime: Cancellation;
  /**
   * Told the endpoint's task type once it is known (the one-segment route learns it from the endpoint), for the
   * request's log line.
   */
  trace?: { inferenceId?: string; taskType?: TaskType };
}

/** An endpoint in use: bound to its service, with its rate limiter and its task's dispatch state. */
interface LiveEndpoint {
  endpoint: BoundEndpoint;
  task: AnyTask;
  limiter: RateLimiter;
  state: unknown;
  /** Requests running an operation of it now. */
  users: number;
  /** performance.now() when it opened or a request last finished with it. */
  lastUsed: number;
}

/**
 * An endpoint idle this long gives up its live state (queue, limiter, bound endpoint: about 6 KB of heap each), so a
 * service with 100,000 endpoints keeps only the recently used ones live (docs/performance.md#scale-100000-endpoints).
 */
const LIVE_IDLE_MS = 60_000;
/** Longest stretch a sweep for idle endpoints runs before it lets other work run. */
const SWEEP_SLICE_MS = 2;

/** Ids whose last change the runner remembers; past this many it forgets them all at once (see `changed`). */
const REMEMBERED_CHANGES = 10_000;

export class InferenceRunner {
  private readonly live = new Map<string, LiveEndpoint>();
  /** Endpoints being read for their first request: one read however many requests wait for it. */
  private readonly opening = new Map<string, Promise<LiveEndpoint>>();
  /**
   * A clock of changes: each id's last change, and the last change that concerned every id (a
   * reload). A read of the store is applied only if no change came while it was in flight, so a
   * slow read can never bring back what a later change replaced or deleted.
   */
  private clock = 0;
  private everyChange = 0;
  private readonly lastChange = new Map<string, number>();
  private readonly inflight: PQueue;
  private readonly unsubscribe: () => void;
  private readonly idleMs: number;
  private readonly sweeper: NodeJS.Timeout;
  private sweeping = false;

  constructor(private readonly deps: RunnerDeps) {
    this.inflight = new PQueue({ concurrency: deps.maxInflight });
    this.unsubscribe = deps.changes.subscribe((change) => {
      this.changed(change.kind === 'reload' ? undefined : change.inferenceId);
      if (change.kind === 'reload') for (const id of [...this.live.keys()]) void this.refresh(id);
      else if (change.kind === 'deleted') {
        this.drop(change.inferenceId, errors.endpointNotFound(change.inferenceId));
        (this.deps.telemetry ?? NO_TELEMETRY).forget(change.inferenceId);
      }
      // 'created' too: another instance's creation may be heard after this one already serves it.
      else void this.refresh(change.inferenceId);
    });
    this.idleMs = deps.idleMs ?? LIVE_IDLE_MS;
    this.sweeper = setInterval(() => void this.sweep(), Math.max(100, this.idleMs / 2)).unref();
  }

  /** The endpoint's rate limit (upstream requests per minute) while it is live here; undefined otherwise. */
  requestsPerMinute(inferenceId: string): number | undefined {
    return this.live.get(inferenceId)?.endpoint.dispatch.requestsPerMinute;
  }

  /**
   * Runs an endpoint's creation check (docs/api.md#create-an-endpoint) with one grant of its rate limiter taken
   * first: the live limiter's when the endpoint is live (an `_update`), otherwise one made for the check. `acquire`
   * takes a further grant for any further upstream request the check makes.
   */
  async withCheckGrant<R>(
    endpoint: BoundEndpoint,
    signal: AbortSignal,
    check: (acquire: () => Promise<void>) => Promise<R>,
  ): Promise<R> {
    const live = this.live.get(endpoint.inferenceId);
    const limiter = live?.limiter ?? this.deps.limiters(endpoint.inferenceId, endpoint.dispatch.requestsPerMinute);
    const cancel = new Cancellation(Infinity);
    const onAbort = () => cancel.cancel(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const acquire = () => limiter.acquire(cancel).then(() => limiter.sent?.());
    try {
      await acquire();
      return await check(acquire);
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (!live) await limiter.close();
    }
  }

  /**
   * The task type of the endpoint an id names (404 when there is none), read from the live endpoint as a request would
   * find it: what a door reads to pick the protocol of a route shared by several task types (docs/doors.md).
   */
  async taskTypeOf(inferenceId: string): Promise<TaskType> {
    return (await this.liveEndpoint(inferenceId)).endpoint.taskType;
  }

  /** Runs one inference request; answers the JSON text of the result (or its UTF-8 bytes). */
  async infer(call: InferenceCall): Promise<string | Buffer> {
    const { task, result } = await this.post(call);
    return task.resultJson(result);
  }

  /**
   * Runs one inference request as `infer` does, for a door (docs/doors.md): the task's result itself, which the door
   * writes in its own protocol, instead of `_inference`'s JSON.
   */
  async result<T extends PostTaskType>(call: InferenceCall & { taskType: T }): Promise<TaskResult<T>> {
    // The endpoint's task is the path's (`served` refuses any other): its result is of that task type.
    return (await this.post(call)).result as TaskResult<T>;
  }

  private post(call: InferenceCall): Promise<{ task: PostTask; result: unknown }> {
    // A task that answers only on `_stream` is refused before its body is read, endpoint or not.
    const pathTask = call.taskType && taskFor(call.taskType);
    if (pathTask && !pathTask.run) throw errors.streamingOnly(pathTask.taskType, call.inferenceId);
    return this.start(
      call,
      (task) => (answersPost(task) ? postOperation(task) : undefined),
      (live) => errors.streamingOnly(live.task.taskType, call.inferenceId),
    );
  }

  /**
   * Runs one `_stream` request: resolves with its events once the upstream's answer has begun.
   * Like Elasticsearch, a task type that cannot stream is refused (405) once the endpoint is found.
   */
  stream(call: InferenceCall): Promise<EventStream> {
    return this.start(
      call,
      (task) => task.streaming,
      (live) => errors.streamingNotAllowed(live.endpoint.service, live.endpoint.taskType),
    );
  }

  /**
   * Runs one `_unified` request (Elasticsearch's older route to its chat API, still registered): a chat_completion
   * stream, as `_stream` runs it. As Elasticsearch's UnifiedCompletionAction, the body is read as a chat body whatever
   * the path names, a task type other than chat_completion in the path is refused before any endpoint is looked up,
   * and the one-segment form refuses an endpoint of another task type.
   */
  async unified(call: InferenceCall): Promise<EventStream> {
    const operation = taskFor('chat_completion')!.streaming!;
    const body = checkRequest(operation, call);
    if (call.taskType !== undefined && call.taskType !== 'chat_completion') throw errors.unifiedTaskTypeInPath();
    const live = await this.served(call);
    if (live.task.taskType !== 'chat_completion') throw errors.unifiedIncompatibleTaskType(call.taskType ?? 'any');
    return using(live, () => operation.run(live.state, live.endpoint, body, call.lifetime));
  }

  /**
   * Runs one request through `operationOf` its endpoint's task (`refused` when the task has no
   * such operation). With the task type in the path, the body is checked before the endpoint is
   * looked up; otherwise once the endpoint says which task reads it.
   */
  private async start<R>(
    call: InferenceCall,
    operationOf: (task: AnyTask) => Operation<R> | undefined,
    refused: (live: LiveEndpoint) => EsError,
  ): Promise<R> {
    const pathTask = call.taskType && taskFor(call.taskType);
    const early = pathTask ? operationOf(pathTask) : undefined;
    let body = early ? checkRequest(early, call) : undefined;
    const served = this.served(call);
    const live = served instanceof Promise ? await served : served;
    const operation = operationOf(live.task);
    if (!operation) throw refused(live);
    body ??= checkRequest(operation, call);
    // Awaited here: an async function that returns a promise settles two turns of the microtask queue later.
    return await using(live, () => operation.run(live.state, live.endpoint, body, call.lifetime));
  }

  /**
   * The live endpoint a request names, recorded in its trace; 400 when the path names another task type. Without a
   * promise when the endpoint is live already (most requests).
   */
  private served(call: InferenceCall): LiveEndpoint | Promise<LiveEndpoint> {
    const live = this.liveEndpoint(call.inferenceId);
    return live instanceof Promise ? live.then((opened) => this.serving(call, opened)) : this.serving(call, live);
  }

  private serving(call: InferenceCall, live: LiveEndpoint): LiveEndpoint {
    if (call.trace) {
      call.trace.inferenceId = call.inferenceId;
      call.trace.taskType = live.endpoint.taskType;
    }
    if (call.taskType && call.taskType !== live.endpoint.taskType)
      throw errors.taskTypeMismatchOnInference(call.taskType, live.endpoint.taskType);
    return live;
  }

  /** Notes a change of one endpoint, or of every endpoint (undefined). */
  private changed(inferenceId: string | undefined): void {
    const now = ++this.clock;
    if (inferenceId === undefined || this.lastChange.size >= REMEMBERED_CHANGES) {
      // Forgetting every id's own change is safe once the change of every id is this one.
      this.everyChange = now;
      this.lastChange.clear();
    }
    if (inferenceId !== undefined) this.lastChange.set(inferenceId, now);
  }

  private changeOf(inferenceId: string): number {
    return Math.max(this.everyChange, this.lastChange.get(inferenceId) ?? 0);
  }

  /** An endpoint read from the store with no change of it while the read was in flight (read again if there was). */
  private async resolveSettled(inferenceId: string): Promise<BoundEndpoint> {
    for (let attempt = 1; ; attempt++) {
      const before = this.changeOf(inferenceId);
      const endpoint = await this.deps.registry.resolve(inferenceId);
      // Changes faster than reads cannot keep a request waiting: the third read stands.
      if (this.changeOf(inferenceId) === before || attempt === 3) return endpoint;
    }
  }

  private liveEndpoint(inferenceId: string): Promise<LiveEndpoint> | LiveEndpoint {
    const known = this.live.get(inferenceId);
    if (known) return known;
    let opening = this.opening.get(inferenceId);
    if (!opening) {
      opening = this.open(inferenceId).finally(() => this.opening.delete(inferenceId));
      this.opening.set(inferenceId, opening);
    }
    return opening;
  }

  private async open(inferenceId: string): Promise<LiveEndpoint> {
    const endpoint = await this.resolveSettled(inferenceId);
    const task = taskFor(endpoint.taskType);
    if (!task) throw errors.unsupportedTaskType(endpoint.service, endpoint.taskType);
    const limiter = this.deps.limiters(inferenceId, endpoint.dispatch.requestsPerMinute);
    const live: LiveEndpoint = { endpoint, task, limiter, state: undefined, users: 0, lastUsed: performance.now() };
    live.state = task.open({
      inferenceId,
      current: () => live.endpoint,
      limiter,
      inflight: this.inflight,
      retry: this.deps.retry,
      queueCapacity: this.deps.queueCapacity,
      telemetry: (this.deps.telemetry ?? NO_TELEMETRY).endpoint(inferenceId, endpoint.taskType),
      cache: this.deps.cache,
    });
    this.live.set(inferenceId, live);
    return live;
  }

  private async refresh(inferenceId: string): Promise<void> {
    const live = this.live.get(inferenceId);
    if (!live) return;
    const before = this.changeOf(inferenceId);
    let next: BoundEndpoint;
    try {
      next = await this.deps.registry.resolve(inferenceId);
    } catch (err) {
      // Gone: its waiting requests fail. Unreadable (the shared store is away): it keeps serving as it was.
      if (err instanceof EsError && err.status === 404 && this.changeOf(inferenceId) === before)
        this.drop(inferenceId, err);
      return;
    }
    // A later change has its own refresh, which reads after it: this older read must not win.
    if (this.live.get(inferenceId) !== live || this.changeOf(inferenceId) !== before) return;
    // Deleted and created again elsewhere as another task type: what is held belongs to the old one.
    if (next.taskType !== live.endpoint.taskType) {
      this.drop(inferenceId, errors.endpointNotFound(inferenceId));
      return;
    }
    const previous = live.endpoint;
    live.endpoint = next;
    live.limiter.setRate(next.dispatch.requestsPerMinute);
    live.task.refresh(live.state, next, previous);
  }

  private drop(inferenceId: string, error: EsError): void {
    const live = this.live.get(inferenceId);
    if (!live) return;
    this.live.delete(inferenceId);
    live.task.close(live.state, error);
    void live.limiter.close();
  }

  /**
   * Closes the live state of endpoints that have had nothing to do for `idleMs`, and at least their limiter's interval
   * (a limiter made again then grants exactly when the old one would have); the next request opens them again. A walk
   * over every live endpoint, in slices.
   */
  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      let slice = performance.now();
      let seen = 0;
      for (const [id, live] of this.live) {
        const now = performance.now();
        const idleFor = Math.max(this.idleMs, intervalMs(live.endpoint.dispatch.requestsPerMinute));
        if (live.users === 0 && now - live.lastUsed >= idleFor && live.task.idle(live.state))
          // Nothing waits on it, so the error reaches nobody.
          this.drop(id, errors.endpointNotFound(id));
        if ((++seen & 1023) === 0 && now - slice > SWEEP_SLICE_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          slice = performance.now();
        }
      }
    } finally {
      this.sweeping = false;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.unsubscribe();
    for (const id of [...this.live.keys()]) this.drop(id, errors.queueFull(id));
  }
}

/** Runs `work` counted as a user of `live`, so the sweep never closes an endpoint a request is using. */
async function using<R>(live: LiveEndpoint, work: () => Promise<R>): Promise<R> {
  live.users++;
  try {
    return await work();
  } finally {
    live.users--;
    live.lastUsed = performance.now();
  }
}

/** A task with a plain POST: every one but those that answer only on `_stream`. */
type PostTask = AnyTask & Pick<Required<AnyTask>, 'run' | 'resultJson'>;
const answersPost = (task: AnyTask): task is PostTask => task.run !== undefined && task.resultJson !== undefined;

/** Each task's plain POST as the runner runs it: its result, with the task that writes it. Made once per task. */
const postOperations = new Map<AnyTask, Operation<{ task: PostTask; result: unknown }>>();
function postOperation(task: PostTask): Operation<{ task: PostTask; result: unknown }> {
  let operation = postOperations.get(task);
  if (!operation) {
    operation = {
      queryParameters: task.queryParameters,
      checkBody: (body, query, named): unknown => task.checkBody(body, query, named),
      run: async (state, endpoint, body, lifetime) => ({
        task,
        result: await task.run(state, endpoint, body, lifetime),
      }),
    };
    postOperations.set(task, operation);
  }
  return operation;
}

/** What a request runs of its task: the plain POST's reading and run, or the `_stream` ones. */
interface Operation<R> {
  checkBody(body: unknown, query: Readonly<Record<string, string | undefined>>, named: boolean): unknown;
  /** Query parameters it reads besides `timeout`. */
  readonly queryParameters?: readonly string[];
  run(state: unknown, endpoint: BoundEndpoint, body: unknown, lifetime: Cancellation): Promise<R>;
}

/** Query parameters only some tasks read are refused by the others; then the task checks the body. */
function checkRequest(task: Pick<Operation<unknown>, 'checkBody' | 'queryParameters'>, call: InferenceCall): unknown {
  const unread = TASK_QUERY_PARAMETERS.filter(
    (name) => call.query[name] !== undefined && !task.queryParameters?.includes(name),
  );
  if (unread.length > 0) throw errors.unrecognizedParameters(call.path, unread);
  return task.checkBody(call.body, call.query, call.taskType !== undefined);
}
