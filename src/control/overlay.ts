import type { KeyValue, Op, RangeOptions, RangeResult, Store } from '../store/store.js';
import { validateLimit } from '../store/validate.js';

/** The reads a mutation plan makes. */
export type Reader = Pick<Store, 'get' | 'range'>;

/** modRevision of a key written by an earlier plan of the same txn (never compared: see mergeCompares). */
export const PENDING_REVISION = -1;

/**
 * The store as it will be once the ops of the plans before this one are applied: several
 * plans (group commit, batch) are made one after another on one Overlay and committed in one
 * txn. Reads of keys those ops wrote see the pending value (modRevision PENDING_REVISION) or
 * nothing for a pending delete; every other read goes to the store.
 */
export class Overlay implements Reader {
  private readonly pending = new Map<string, string | null>();
  /**
   * Reads of the base already made through this overlay: the plans of one txn read the same
   * keys (the pool record, each creation's) again and again. A remembered read is only an
   * earlier one; every read a plan's decision rests on is guarded by a compare, and the first
   * compare of a key (at the modRevision first read) is the one kept (mergeCompares).
   */
  private readonly read = new Map<string, Promise<KeyValue | undefined>>();

  constructor(private readonly base: Reader) {}

  /** Adds a planned txn's ops. */
  apply(ops: readonly Op[]): void {
    for (const op of ops) this.pending.set(op.key, op.type === 'put' ? op.value : null);
  }

  /** Whether a key was written by an op applied so far. */
  touched(key: string): boolean {
    return this.pending.has(key);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    if (!this.pending.has(key)) {
      let kv = this.read.get(key);
      if (!kv) {
        kv = this.base.get(key);
        this.read.set(key, kv);
        kv.catch(() => this.read.delete(key));
      }
      return kv;
    }
    const value = this.pending.get(key);
    return value === null || value === undefined ? undefined : { key, value, createRevision: PENDING_REVISION, modRevision: PENDING_REVISION };
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    validateLimit(options.limit);
    const base = await this.base.range(prefix, options);
    // Pending keys past the last key of a partial page belong to a later page.
    const upper = base.more ? base.kvs.at(-1)?.key : undefined;
    const merged = new Map(base.kvs.map((kv) => [kv.key, kv]));
    for (const [key, value] of this.pending) {
      if (!key.startsWith(prefix) || (options.after !== undefined && key <= options.after) || (upper !== undefined && key > upper)) continue;
      if (value === null) merged.delete(key);
      else merged.set(key, { key, value, createRevision: PENDING_REVISION, modRevision: PENDING_REVISION });
    }
    let kvs = [...merged.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    let more = base.more;
    if (options.limit !== undefined && kvs.length > options.limit) {
      kvs = kvs.slice(0, options.limit);
      more = true;
    }
    return { kvs, revision: base.revision, more };
  }
}
