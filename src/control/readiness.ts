import type { ReadinessEvent } from '../protocol/readiness.js';
import type { ChangeEvent, KeyValue, Store, Watcher } from '../store/store.js';
import { statusPrefix } from './keys.js';

/**
 * Node readiness as the load balancers need it (protocol/readiness.ts): one bit per node,
 * "the agent's last report says ready and is at most maxAgeMs old", sent only when it flips.
 * The tracker is pure (clock injected); watchReadiness() is its shell over the store.
 */
export class ReadinessTracker {
  /** Per node: the last report's `ready` and its stamp (Unix ms; NaN when unparsable). */
  private readonly reports = new Map<string, { ready: boolean; at: number }>();
  /** What the follower was told last. */
  private readonly told = new Map<string, boolean>();
  /** Nodes with a report or deletion since the last next() (the rest only change by ageing). */
  private readonly dirty = new Set<string>();
  /** Clock time of the earliest expiry as of the last next() (null: none). */
  private expiry: number | null = null;

  constructor(private readonly prefix: string, private readonly maxAgeMs: number, private readonly now: () => number) {}

  /** Takes a range over the status prefix (the starting state). */
  load(kvs: readonly KeyValue[]): void {
    for (const kv of kvs) this.put(kv.key, kv.value);
  }

  /** Takes store events of the status prefix, in order. */
  apply(events: readonly ChangeEvent[]): void {
    for (const e of events) {
      if (e.type === 'put' && e.value !== undefined) this.put(e.key, e.value);
      else this.reports.delete(this.nameOf(e.key));
      this.dirty.add(this.nameOf(e.key));
    }
  }

  /** The event to send now: everything (`full`) or the flips since the last call; null when nothing flipped. */
  next(full = false): ReadinessEvent | null {
    const now = this.now();
    const nodes: Record<string, boolean> = {};
    let any = false;
    // Only reported nodes can flip, unless a report may have aged out: then look at all.
    const all = full || (this.expiry !== null && now >= this.expiry);
    const names = all ? new Set([...this.reports.keys(), ...this.told.keys()]) : this.dirty;
    for (const name of names) {
      const r = this.reports.get(name);
      if (!r) {
        if (this.told.delete(name) && !full) {
          nodes[name] = false;
          any = true;
        }
        continue;
      }
      const ready = this.readyAt(r, now);
      if (full || this.told.get(name) !== ready) {
        nodes[name] = ready;
        this.told.set(name, ready);
        any = true;
      }
    }
    // A full look recomputes the earliest expiry; otherwise only new reports can bring it closer
    // (a renewed report leaves an early expiry behind: it costs one look at all, then is gone).
    if (all) this.expiry = this.computeExpiry(now, this.reports.keys());
    else {
      const e = this.computeExpiry(now, names);
      if (e !== null && (this.expiry === null || e < this.expiry)) this.expiry = e;
    }
    this.dirty.clear();
    return full || any ? { full, nodes } : null;
  }

  /** Clock time (ms) at which the next ready node's report expires, as of the last next(); null when none will. */
  nextExpiry(): number | null {
    return this.expiry;
  }

  private computeExpiry(now: number, names: Iterable<string>): number | null {
    let min: number | null = null;
    for (const name of names) {
      const r = this.reports.get(name);
      if (!r) continue;
      if (!this.readyAt(r, now)) continue;
      const t = r.at + this.maxAgeMs + 1;
      if (min === null || t < min) min = t;
    }
    return min;
  }

  private readyAt(r: { ready: boolean; at: number }, now: number): boolean {
    return r.ready && Number.isFinite(r.at) && now - r.at <= this.maxAgeMs;
  }

  private nameOf(key: string): string {
    return key.slice(this.prefix.length);
  }

  private put(key: string, value: string): void {
    let ready = false;
    let at = Number.NaN;
    try {
      const s = JSON.parse(value) as { ready?: unknown; reportedAt?: unknown };
      ready = s.ready === true;
      at = typeof s.reportedAt === 'string' ? Date.parse(s.reportedAt) : Number.NaN;
    } catch {
      // an unparsable report is a report of "not ready"
    }
    this.reports.set(this.nameOf(key), { ready, at });
  }
}

/**
 * Follows the readiness of a pool's nodes: `onEvent` first with the full state, then with
 * each set of flips (a report that flips `ready`, a ready report that ages past maxAgeMs, a
 * node whose status is deleted). `onError` once when the store watch fails. The pool's
 * existence is the caller's to check.
 */
export async function watchReadiness(
  store: Store, pool: string, maxAgeMs: number, now: () => number,
  onEvent: (e: ReadinessEvent) => void, onError: (err: Error) => void,
): Promise<Watcher> {
  const prefix = statusPrefix(pool);
  const tracker = new ReadinessTracker(prefix, maxAgeMs, now);
  const start = await store.range(prefix);
  tracker.load(start.kvs);
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  const flush = (full = false) => {
    if (cancelled) return;
    const e = tracker.next(full);
    if (e) onEvent(e);
    clearTimeout(timer);
    const at = tracker.nextExpiry();
    if (at !== null) timer = setTimeout(() => flush(), Math.max(0, at - now()));
  };
  flush(true);
  const watcher = store.watch(prefix, start.revision, (events) => {
    tracker.apply(events);
    flush();
  }, (err) => {
    clearTimeout(timer);
    if (!cancelled) onError(err);
  });
  return {
    cancel: () => {
      cancelled = true;
      clearTimeout(timer);
      watcher.cancel();
    },
  };
}
