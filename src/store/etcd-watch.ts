import type { IKeyValue, Watcher as EtcdWatcher } from 'etcd3';
import { FabricError, isFabricError } from '../protocol/errors.js';
import { decodeLog } from './etcd-codec.js';
import type { EtcdStore } from './etcd.js';
import type { ChangeEvent } from './store.js';

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

/** What the shared follower feeds: one subscriber (an EtcdWatch). */
interface LogSubscriber {
  /** Events of whole txns, in revision order, contiguous from the follower's start. */
  take(events: readonly ChangeEvent[]): void;
  fail(err: Error): void;
}

/**
 * The ONE etcd watch of an EtcdStore: it follows the whole change log of the fabric (prefix
 * P + "log/") and hands every entry to the store's watchers, so a replica holds one etcd watch
 * stream however many agents and LBs it serves (and the auth cache) instead of one each.
 *
 * It starts at the store revision of its first read and from then on emits every log entry
 * once, in order, without gaps: when etcd fails (member down, connection lost, etcd history
 * compacted under the watch) it drops the etcd watch and reads the log again from the last
 * entry it emitted, retrying with backoff until etcd answers. Only the store's own compaction
 * passing it (WGF_ERR_STORE_COMPACTED) or close ends its subscribers; it then starts afresh for
 * the next watcher.
 */
export class EtcdLogFollower {
  private last = -1;
  private ready: Promise<void> | null = null;
  private etcd: EtcdWatcher | undefined;
  private generation = 0;
  private retryMs = RETRY_MIN_MS;
  private readonly subs = new Set<LogSubscriber>();
  /** etcd watch streams opened so far (tests and metrics: stays 1 while etcd is healthy). */
  etcdWatchesOpened = 0;

  constructor(private readonly store: EtcdStore) {}

  /**
   * Adds a subscriber once the follower has a start point. From the moment this resolves, the
   * subscriber sees every entry after the follower's position at that moment; a log read made
   * after it covers everything before (see EtcdWatch).
   */
  async add(sub: LogSubscriber): Promise<void> {
    this.ready ??= this.begin();
    await this.ready;
    this.subs.add(sub);
  }

  remove(sub: LogSubscriber): void {
    this.subs.delete(sub);
  }

  /** Number of subscribers (tests). */
  get size(): number {
    return this.subs.size;
  }

  /** Ends every subscriber with `err` and forgets the position (the next add starts afresh). */
  failAll(err: Error): void {
    this.generation++;
    this.dropEtcd();
    this.last = -1;
    this.ready = null;
    for (const s of [...this.subs]) s.fail(err);
    this.subs.clear();
  }

  private async begin(): Promise<void> {
    const gen = ++this.generation;
    try {
      const head = await this.store.readHead();
      if (gen !== this.generation) return;
      this.last = head.revision;
      this.watchFrom(gen, head.etcdRevision);
    } catch (e) {
      this.ready = null;
      throw e;
    }
  }

  private watchFrom(gen: number, etcdRevision: string): void {
    const w = this.store.client.watch().prefix(this.store.layout.logPrefix).startRevision(String(BigInt(etcdRevision) + 1n)).only('put').watcher();
    this.etcd = w;
    this.etcdWatchesOpened++;
    w.on('put', (kv: IKeyValue) => {
      if (gen !== this.generation) return;
      const rev = this.store.layout.logRevision(kv.key);
      if (rev <= this.last) return;
      this.last = rev;
      this.emit(decodeLog(rev, kv.value));
    });
    w.on('connected', () => { this.retryMs = RETRY_MIN_MS; });
    // 'disconnected' is retried by the etcd3 client itself from the last etcd revision it
    // saw; 'error' (the watch was cancelled by etcd, e.g. history compacted) is ours to redo.
    w.on('error', () => this.restart(gen));
  }

  private async resume(gen: number): Promise<void> {
    try {
      const { events, lastEntry, etcdRevision } = await this.store.readLog('', this.last);
      if (gen !== this.generation) return;
      this.last = Math.max(this.last, lastEntry);
      this.emit(events);
      this.watchFrom(gen, etcdRevision);
    } catch (e) {
      if (gen !== this.generation) return;
      if (this.store.isClosed) return this.failAll(new FabricError('WGF_ERR_STORE_UNAVAILABLE', 'store closed'));
      if (isFabricError(e, 'WGF_ERR_STORE_COMPACTED')) return this.failAll(e as Error);
      this.restart(gen);
    }
  }

  private restart(gen: number): void {
    if (gen !== this.generation) return;
    this.dropEtcd();
    const wait = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    const next = ++this.generation;
    setTimeout(() => void this.resume(next), wait).unref();
  }

  private emit(events: readonly ChangeEvent[]): void {
    if (events.length === 0) return;
    for (const s of this.subs) s.take(events);
  }

  private dropEtcd(): void {
    const w = this.etcd;
    this.etcd = undefined;
    if (w) w.cancel().catch(() => undefined);
  }
}

/**
 * One store watch on etcd, fed by the store's shared EtcdLogFollower. It joins the follower
 * first (buffering what it emits), then reads its own backlog after `since` (readLog), delivers
 * that, then the buffered and live entries after the backlog's last entry: nothing is missed
 * or repeated. It ends only by cancel(), store close (WGF_ERR_STORE_UNAVAILABLE) or the store's
 * own compaction passing it (WGF_ERR_STORE_COMPACTED).
 *
 * Delivery is one non-empty batch per macrotask, whole txns, in revision order.
 */
export class EtcdWatch implements LogSubscriber {
  /** Highest revision delivered or queued; -1 while the backlog is being read. */
  private caught = -1;
  private pending: ChangeEvent[] = [];
  private ended = false;
  private queue: ChangeEvent[] = [];
  private scheduled = false;

  constructor(
    private readonly store: EtcdStore,
    private readonly follower: EtcdLogFollower,
    private readonly prefix: string,
    private readonly since: number,
    private readonly onEvents: (events: readonly ChangeEvent[]) => void,
    private readonly onError: (err: Error) => void,
  ) {}

  start(): void {
    void this.begin();
  }

  cancel(): void {
    this.ended = true;
    this.queue = [];
    this.follower.remove(this);
  }

  /** Ends the watch with `err` (delivered on a later macrotask, unless cancelled first). */
  fail(err: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.queue = [];
    this.follower.remove(this);
    setImmediate(() => this.onError(err));
  }

  take(events: readonly ChangeEvent[]): void {
    if (this.ended) return;
    if (this.caught < 0) {
      for (const e of events) if (e.key.startsWith(this.prefix)) this.pending.push(e);
      return;
    }
    this.push(events);
  }

  private async begin(): Promise<void> {
    for (let wait = RETRY_MIN_MS; !this.ended; wait = Math.min(RETRY_MAX_MS, wait * 2)) {
      try {
        await this.follower.add(this);
        if (this.ended) return this.follower.remove(this);
        const { events, lastEntry } = await this.store.readLog(this.prefix, this.since);
        if (this.ended) return;
        this.caught = Math.max(this.since, lastEntry);
        this.queue.push(...events);
        const buffered = this.pending;
        this.pending = [];
        this.push(buffered);
        this.schedule();
        return;
      } catch (e) {
        if (this.ended) return;
        if (this.store.isClosed || isFabricError(e, 'WGF_ERR_STORE_COMPACTED') || isFabricError(e, 'WGF_ERR_VALIDATION')) return this.fail(e as Error);
        // etcd down while starting: try again (the follower too), as a running watch would.
        this.follower.remove(this);
        this.pending = [];
        await new Promise((r) => setTimeout(r, wait).unref());
      }
    }
  }

  /** Queues this watch's events after `caught` (the follower's entries may repeat the backlog). */
  private push(events: readonly ChangeEvent[]): void {
    let any = false;
    for (const e of events) {
      if (e.revision <= this.caught || !e.key.startsWith(this.prefix)) continue;
      this.queue.push(e);
      any = true;
    }
    const lastRev = events.at(-1)?.revision;
    if (lastRev !== undefined && lastRev > this.caught) this.caught = lastRev;
    if (any) this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.ended || this.queue.length === 0) return;
      const batch = this.queue;
      this.queue = [];
      this.onEvents(batch);
    });
  }
}
