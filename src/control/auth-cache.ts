import type { KeyValue, Store, Watcher } from '../store/store.js';

/** Settings of AuthCache. */
export interface AuthCacheOptions {
  /**
   * Longest time an entry is trusted without a fresh read (default 30 s): the bound on how long
   * a deleted token can still work on a replica whose store watch stalls without failing. With
   * a healthy watch a change invalidates the entry as soon as the watch delivers it.
   */
  readonly maxAgeMs?: number;
  /** Most entries kept (default 10000); the oldest go first. Unknown token ids are cached too. */
  readonly maxEntries?: number;
  /** Delay before a failed watch is started again (default 1000 ms); nothing is cached meanwhile. */
  readonly retryMs?: number;
  readonly now?: () => number;
}

interface Entry {
  readonly kv: KeyValue | undefined;
  readonly at: number;
}

/**
 * A read-through cache of the store keys that authentication reads (token records and, for
 * node tokens, node records), invalidated through one store watch of the whole key space:
 * once a token is cached a request costs no store read for its lookup, and a put or delete of
 * a cached key (token deleted, node deleted or re-created) drops the entry as soon as this
 * replica's watch delivers it, whichever replica wrote it.
 *
 * Only reads begun after the watch was established are cached, and a read during which its
 * key changed is not, so an entry is never older than the watch's position. While the watch
 * is down nothing is cached and every lookup reads the store. Entries also expire after
 * maxAgeMs, a bound that holds even if the watch silently stops delivering.
 */
export class AuthCache {
  private readonly entries = new Map<string, Entry>();
  /** Keys with a read in flight -> whether the key changed meanwhile. */
  private readonly inflight = new Map<string, { dirty: boolean }>();
  private watcher: Watcher | null = null;
  private live = false;
  private starting: Promise<void> | null = null;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly maxAgeMs: number;
  private readonly maxEntries: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  /** Reads answered from the cache / from the store (metrics, tests). */
  hits = 0;
  misses = 0;

  constructor(private readonly store: Store, opts: AuthCacheOptions = {}) {
    this.maxAgeMs = opts.maxAgeMs ?? 30_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.retryMs = opts.retryMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /** The key's current value: from the cache when trusted, else one store read. */
  async get(key: string): Promise<KeyValue | undefined> {
    if (!this.live && !this.closed) await this.start();
    const e = this.entries.get(key);
    if (e && this.live && this.now() - e.at < this.maxAgeMs) {
      this.hits++;
      return e.kv;
    }
    this.misses++;
    const cacheable = this.live;
    const mark = { dirty: false };
    this.inflight.set(key, mark);
    try {
      const kv = await this.store.get(key);
      if (cacheable && this.live && !mark.dirty) this.put(key, kv);
      return kv;
    } finally {
      if (this.inflight.get(key) === mark) this.inflight.delete(key);
    }
  }

  /**
   * The store with txns of this process dropping the keys they write from the cache as they
   * commit, so the replica that serves a delete refuses the token from its next request on
   * (other replicas: when their watch delivers it).
   */
  wrap(store: Store): Store {
    const txn: Store['txn'] = async (compares, ops) => {
      this.forget(ops.map((o) => o.key));
      try {
        return await store.txn(compares, ops);
      } finally {
        this.forget(ops.map((o) => o.key));
      }
    };
    // Each method bound once (binding on every access cost a closure per store call); looked
    // up on every access still, so a method replaced on the store (tests) is the one called.
    const bound = new WeakMap<object, unknown>();
    return new Proxy(store, {
      get: (target, prop) => {
        if (prop === 'txn') return txn;
        const v: unknown = Reflect.get(target, prop, target);
        if (typeof v !== 'function') return v;
        let b = bound.get(v);
        if (b === undefined) bound.set(v, (b = v.bind(target)));
        return b;
      },
    });
  }

  private forget(keys: readonly string[]): void {
    for (const k of keys) {
      this.entries.delete(k);
      const m = this.inflight.get(k);
      if (m) m.dirty = true;
    }
  }

  /** Whether entries are being served (the watch is established). */
  get active(): boolean {
    return this.live;
  }

  get size(): number {
    return this.entries.size;
  }

  close(): void {
    this.closed = true;
    this.drop();
    if (this.timer) clearTimeout(this.timer);
  }

  private put(key: string, kv: KeyValue | undefined): void {
    this.entries.delete(key);
    this.entries.set(key, { kv, at: this.now() });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  private start(): Promise<void> {
    this.starting ??= (async () => {
      try {
        const since = await this.store.currentRevision();
        if (this.closed) return;
        this.watcher = this.store.watch('', since, (events) => this.forget(events.map((e) => e.key)), () => this.drop(true));
        this.live = true;
      } catch {
        this.drop(true);
      }
    })();
    return this.starting;
  }

  /** Forgets everything (watch failed or closed); retries the watch later unless closed. */
  private drop(retry = false): void {
    this.live = false;
    this.watcher?.cancel();
    this.watcher = null;
    this.entries.clear();
    for (const m of this.inflight.values()) m.dirty = true;
    if (!retry || this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.starting = null;
    }, this.retryMs);
    this.timer.unref();
  }
}
