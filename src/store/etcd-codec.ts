import type { ChangeEvent, KeyValue, Op } from './store.js';

/**
 * How the etcd driver lays the store out in etcd (pure functions, no I/O). Under the fabric's
 * prefix P:
 *   P + "k/" + key          one store key: "<createRevision> <modRevision> <value>"
 *   P + "m/rev"             the store revision (decimal), bumped by every successful txn
 *   P + "m/compact"         the compaction point of the change log (decimal)
 *   P + "log/" + rev(16)    {id, events} of the txn of that revision, written in the same etcd txn
 * Store keys are printable ASCII (validate.ts), so byte order in etcd is the string order the
 * contract asks for, and a prefix range ends at prefix + "\x7f".
 */
export class EtcdLayout {
  readonly rev: Buffer;
  readonly compact: Buffer;
  constructor(readonly prefix: string) {
    this.rev = Buffer.from(`${prefix}m/rev`);
    this.compact = Buffer.from(`${prefix}m/compact`);
  }

  key(k: string): Buffer {
    return Buffer.from(`${this.prefix}k/${k}`);
  }

  /** The store key of an etcd key under k/. */
  storeKey(etcdKey: Buffer): string {
    return etcdKey.toString('latin1').slice(this.prefix.length + 2);
  }

  /** [start, end) of store keys under `prefix`, strictly after `after` when given. */
  keyRange(prefix: string, after?: string): { key: Buffer; range_end: Buffer } {
    const start = after !== undefined && after >= prefix ? `${after}\x00` : prefix;
    return { key: this.key(start), range_end: this.key(`${prefix}\x7f`) };
  }

  log(rev: number): Buffer {
    return Buffer.from(`${this.prefix}log/${String(rev).padStart(16, '0')}`);
  }

  /** [log(from), end of log). */
  logFrom(from: number): { key: Buffer; range_end: Buffer } {
    return { key: this.log(from), range_end: Buffer.from(`${this.prefix}log0`) };
  }

  get logPrefix(): Buffer {
    return Buffer.from(`${this.prefix}log/`);
  }

  logRevision(etcdKey: Buffer): number {
    return Number(etcdKey.toString('latin1').slice(this.prefix.length + 4));
  }
}

export function encodeKv(createRevision: number, modRevision: number, value: string): Buffer {
  return Buffer.from(`${createRevision} ${modRevision} ${value}`);
}

export function decodeKv(key: string, raw: Buffer): KeyValue {
  const text = raw.toString('utf8');
  const a = text.indexOf(' ');
  const b = text.indexOf(' ', a + 1);
  return { key, value: text.slice(b + 1), createRevision: Number(text.slice(0, a)), modRevision: Number(text.slice(a + 1, b)) };
}

type WireEvent = [t: 'p' | 'd', key: string, value: string | null, prev: string | null];

/**
 * A log entry: the txn's id (so a writer that lost the answer of etcd can tell whether its txn
 * was applied) and its events.
 */
export function encodeLog(id: string, events: readonly ChangeEvent[]): Buffer {
  return Buffer.from(JSON.stringify({ id, e: events.map((e): WireEvent => [e.type === 'put' ? 'p' : 'd', e.key, e.value ?? null, e.prevValue ?? null]) }));
}

export function logId(raw: Buffer): string {
  return (JSON.parse(raw.toString('utf8')) as { id: string }).id;
}

export function decodeLog(revision: number, raw: Buffer): ChangeEvent[] {
  return (JSON.parse(raw.toString('utf8')) as { e: WireEvent[] }).e.map(([t, key, value, prev]) => {
    const p = prev === null ? {} : { prevValue: prev };
    return t === 'p' ? { type: 'put', key, revision, value: value as string, ...p } : { type: 'delete', key, revision, ...p };
  });
}

/** What one store txn does to etcd: the final state of each touched key and the events. */
export interface TxnPlan {
  readonly events: ChangeEvent[];
  /** Per touched key: the KeyValue after the txn, or null when it ends absent. */
  readonly finals: Map<string, KeyValue | null>;
}

/**
 * Applies `ops` in order to the state `before` (the keys' KeyValues read at the store revision
 * `revision - 1`; a missing entry means absent) and returns the events and final states.
 * Several ops on one key in one txn (which etcd itself refuses) collapse to the last state,
 * while the events keep every step, as the contract asks.
 */
export function planTxn(before: ReadonlyMap<string, KeyValue>, ops: readonly Op[], revision: number): TxnPlan {
  const cur = new Map<string, KeyValue | null>();
  const now = (k: string) => (cur.has(k) ? cur.get(k)! : before.get(k) ?? null);
  const events: ChangeEvent[] = [];
  for (const op of ops) {
    const prev = now(op.key);
    if (op.type === 'put') {
      cur.set(op.key, { key: op.key, value: op.value, createRevision: prev?.createRevision ?? revision, modRevision: revision });
      events.push({ type: 'put', key: op.key, revision, value: op.value, ...(prev ? { prevValue: prev.value } : {}) });
    } else if (prev) {
      cur.set(op.key, null);
      events.push({ type: 'delete', key: op.key, revision, prevValue: prev.value });
    }
  }
  // A key absent before and after needs no etcd op.
  for (const [k, v] of cur) if (v === null && !before.has(k)) cur.delete(k);
  return { events, finals: cur };
}
