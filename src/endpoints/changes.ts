// Endpoint changes as events: the registry publishes them, live state (rate limiters, queues) follows them.
export type EndpointChange =
  | { kind: 'created' | 'updated' | 'deleted'; inferenceId: string }
  /** Changes may have been missed (another instance's, while this one was cut off): anything cached may be stale. */
  | { kind: 'reload' };

export type ChangeListener = (change: EndpointChange) => void;

export class EndpointChanges {
  private readonly listeners = new Set<ChangeListener>();

  /** Calls `listener` for every change from now on; returns a function that stops it. */
  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(change: EndpointChange): void {
    for (const listener of this.listeners) listener(change);
  }
}
