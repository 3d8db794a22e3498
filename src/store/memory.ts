import { FabricError } from '../protocol/errors.js';
import type { ChangeEvent, ChangesResult, Compare, KeyValue, Op, RangeOptions, RangeResult, Store, StoreCheckResult, TxnResult, Watcher } from './store.js';
import { keepAtTxnBoundary, validateLimit, validateSince, validateTxn } from './validate.js';
import { WatchHub } from './watch-hub.js';

/**
 * In-memory store for fast unit tests. Holds to the same contract as the SQLite driver
 * (store/contract.ts); not durable.
 */
export class MemoryStore implements Store {
  private readonly kv = new Map<string, KeyValue>();
  private log: ChangeEvent[] = [];
  private rev = 0;
  private compacted = 0;
  private closed = false;
  private readonly hub = new WatchHub((prefix, since) => this.changesSync(prefix, since));

  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen();
    return this.kv.get(key);
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    this.assertOpen();
    validateLimit(options.limit);
    const keys = [...this.kv.keys()].filter((k) => k.startsWith(prefix) && (options.after === undefined || k > options.after)).sort();
    const limit = options.limit ?? Infinity;
    const page = keys.slice(0, limit);
    return { kvs: page.map((k) => this.kv.get(k)!), revision: this.rev, more: keys.length > page.length };
  }

  async count(prefix: string): Promise<number> {
    this.assertOpen();
    let n = 0;
    for (const k of this.kv.keys()) if (k.startsWith(prefix)) n++;
    return n;
  }

  async txn(compares: readonly Compare[], ops: readonly Op[]): Promise<TxnResult> {
    this.assertOpen();
    validateTxn(compares, ops);
    const failed = compares.filter((c) => (this.kv.get(c.key)?.modRevision ?? 0) !== c.modRevision).map((c) => c.key);
    if (failed.length > 0) return { succeeded: false, revision: this.rev, failed };
    if (ops.length === 0) return { succeeded: true, revision: this.rev, failed: [] };
    const revision = this.rev + 1;
    const events: ChangeEvent[] = [];
    for (const op of ops) {
      const prev = this.kv.get(op.key);
      if (op.type === 'put') {
        this.kv.set(op.key, { key: op.key, value: op.value, createRevision: prev?.createRevision ?? revision, modRevision: revision });
        events.push({ type: 'put', key: op.key, revision, value: op.value, ...(prev ? { prevValue: prev.value } : {}) });
      } else if (prev) {
        this.kv.delete(op.key);
        events.push({ type: 'delete', key: op.key, revision, prevValue: prev.value });
      }
    }
    this.rev = revision;
    this.log.push(...events);
    this.hub.publish(events);
    return { succeeded: true, revision, failed: [] };
  }

  async changes(prefix: string, since: number, limit?: number): Promise<ChangesResult> {
    this.assertOpen();
    validateLimit(limit);
    const events = this.changesSync(prefix, since);
    return { events: limit === undefined ? events : events.slice(0, keepAtTxnBoundary(events, limit)), revision: this.rev };
  }

  private changesSync(prefix: string, since: number): ChangeEvent[] {
    validateSince(since);
    if (since < this.compacted) {
      throw new FabricError('WGF_ERR_STORE_COMPACTED', `revision ${since} was compacted; take a snapshot`, {
        compactRevision: this.compacted,
        currentRevision: this.rev,
      });
    }
    return this.log.filter((e) => e.revision > since && e.key.startsWith(prefix));
  }

  async currentRevision(): Promise<number> {
    this.assertOpen();
    return this.rev;
  }

  async compactRevision(): Promise<number> {
    this.assertOpen();
    return this.compacted;
  }

  async compact(rev: number): Promise<void> {
    this.assertOpen();
    if (!Number.isInteger(rev) || rev < 0 || rev > this.rev) {
      throw new FabricError('WGF_ERR_VALIDATION', `cannot compact to ${rev}: current revision is ${this.rev}`);
    }
    if (rev <= this.compacted) return;
    this.compacted = rev;
    this.log = this.log.filter((e) => e.revision > rev);
  }

  watch(prefix: string, since: number, onEvents: (events: readonly ChangeEvent[]) => void, onError: (err: Error) => void): Watcher {
    this.assertOpen();
    return this.hub.add(prefix, since, onEvents, onError);
  }

  /** Nothing is stored on a disk: the check always passes. */
  async check(mode: 'quick' | 'full'): Promise<StoreCheckResult> {
    return { ok: true, mode, problems: [], durationMs: 0 };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.hub.closeAll();
  }

  private assertOpen(): void {
    if (this.closed) throw new FabricError('WGF_ERR_STORE_UNAVAILABLE', 'store is closed');
  }
}
