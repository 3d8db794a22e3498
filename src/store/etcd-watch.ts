import type { IKeyValue, Watcher as EtcdWatcher } from 'etcd3';
import { isFabricError } from '../protocol/errors.js';
import { decodeLog } from './etcd-codec.js';
import type { EtcdStore } from './etcd.js';
import type { ChangeEvent } from './store.js';

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

/**
 * One store watch on etcd. It reads the change log after `since` (readLog), delivers it, then
 * follows the log with an etcd watch starting right after the etcd revision of that read, so
 * nothing is missed or repeated. When etcd fails (member down, connection lost, etcd history
 * compacted under the watch) it drops the etcd watch and starts over from the last store
 * revision delivered, retrying with backoff until etcd answers: watchers survive etcd
 * failovers. It ends only by cancel(), store close (WGF_ERR_STORE_UNAVAILABLE) or the store's
 * own compaction passing it (WGF_ERR_STORE_COMPACTED).
 *
 * Delivery is one non-empty batch per macrotask, whole txns, in revision order.
 */
export class EtcdWatch {
  private last: number;
  private ended = false;
  private etcd: EtcdWatcher | undefined;
  private queue: ChangeEvent[] = [];
  private scheduled = false;
  private generation = 0;
  private retryMs = RETRY_MIN_MS;

  constructor(
    private readonly store: EtcdStore,
    private readonly prefix: string,
    since: number,
    private readonly onEvents: (events: readonly ChangeEvent[]) => void,
    private readonly onError: (err: Error) => void,
  ) {
    this.last = since;
  }

  start(): void {
    void this.follow(++this.generation);
  }

  cancel(): void {
    this.ended = true;
    this.queue = [];
    this.dropEtcd();
  }

  /** Ends the watch with `err` (delivered on a later macrotask, unless cancelled first). */
  fail(err: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.queue = [];
    this.dropEtcd();
    setImmediate(() => this.onError(err));
  }

  private async follow(gen: number): Promise<void> {
    try {
      const { events, lastEntry, etcdRevision } = await this.store.readLog(this.prefix, this.last);
      if (this.ended || gen !== this.generation) return;
      this.push(events);
      this.last = Math.max(this.last, lastEntry);
      const w = this.store.client.watch().prefix(this.store.layout.logPrefix).startRevision(String(BigInt(etcdRevision) + 1n)).only('put').watcher();
      this.etcd = w;
      w.on('put', (kv: IKeyValue) => {
        if (this.ended || gen !== this.generation) return;
        const rev = this.store.layout.logRevision(kv.key);
        if (rev <= this.last) return;
        this.last = rev;
        this.push(decodeLog(rev, kv.value).filter((e) => e.key.startsWith(this.prefix)));
      });
      w.on('connected', () => { this.retryMs = RETRY_MIN_MS; });
      // 'disconnected' is retried by the etcd3 client itself from the last etcd revision it
      // saw; 'error' (the watch was cancelled by etcd, e.g. history compacted) is ours to redo.
      w.on('error', () => this.restart(gen));
    } catch (e) {
      if (this.ended || gen !== this.generation) return;
      if (this.store.isClosed || isFabricError(e, 'WGF_ERR_STORE_COMPACTED') || isFabricError(e, 'WGF_ERR_VALIDATION')) {
        this.fail(e as Error);
        return;
      }
      this.restart(gen);
    }
  }

  private restart(gen: number): void {
    if (this.ended || gen !== this.generation) return;
    this.dropEtcd();
    const wait = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    const next = ++this.generation;
    setTimeout(() => void this.follow(next), wait).unref();
  }

  private dropEtcd(): void {
    const w = this.etcd;
    this.etcd = undefined;
    if (w) w.cancel().catch(() => undefined);
  }

  private push(events: readonly ChangeEvent[]): void {
    if (events.length === 0) return;
    this.queue.push(...events);
    if (this.scheduled) return;
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
