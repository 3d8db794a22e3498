import { FabricError } from '../protocol/errors.js';
import type { ChangeEvent, Watcher } from './store.js';

interface Subscription {
  readonly prefix: string;
  queue: ChangeEvent[];
  scheduled: boolean;
  cancelled: boolean;
  readonly onEvents: (events: readonly ChangeEvent[]) => void;
  readonly onError: (err: Error) => void;
}

/**
 * Fan-out of committed events to watchers, for drivers whose writes all go through this
 * process (memory, SQLite). The backlog is read synchronously when a watcher is added and
 * live events are queued synchronously at commit, so a watcher sees no gap and no duplicate.
 * Delivery is asynchronous (one batch per macrotask) so a slow callback never blocks a txn.
 */
export class WatchHub {
  private readonly subs = new Set<Subscription>();

  /** @param backlog returns events with revision > since under prefix, or throws (compacted). */
  constructor(private readonly backlog: (prefix: string, since: number) => ChangeEvent[]) {}

  add(prefix: string, since: number, onEvents: Subscription['onEvents'], onError: Subscription['onError']): Watcher {
    const sub: Subscription = { prefix, queue: [], scheduled: false, cancelled: false, onEvents, onError };
    try {
      sub.queue = this.backlog(prefix, since);
    } catch (e) {
      // Honour a cancel() made before the error is reported, as for events.
      setImmediate(() => {
        if (!sub.cancelled) onError(e as Error);
      });
      return { cancel: () => { sub.cancelled = true; } };
    }
    this.subs.add(sub);
    this.schedule(sub);
    return {
      cancel: () => {
        sub.cancelled = true;
        this.subs.delete(sub);
      },
    };
  }

  publish(events: readonly ChangeEvent[]): void {
    for (const sub of this.subs) {
      let matched = false;
      for (const e of events) {
        if (e.key.startsWith(sub.prefix)) {
          sub.queue.push(e);
          matched = true;
        }
      }
      if (matched) this.schedule(sub);
    }
  }

  closeAll(): void {
    for (const sub of this.subs) {
      sub.cancelled = true;
      setImmediate(() => sub.onError(new FabricError('WGF_ERR_STORE_UNAVAILABLE', 'store closed')));
    }
    this.subs.clear();
  }

  get size(): number {
    return this.subs.size;
  }

  private schedule(sub: Subscription): void {
    if (sub.scheduled || sub.queue.length === 0) return;
    sub.scheduled = true;
    setImmediate(() => {
      sub.scheduled = false;
      if (sub.cancelled || sub.queue.length === 0) return;
      const batch = sub.queue;
      sub.queue = [];
      sub.onEvents(batch);
    });
  }
}
