import { FabricError, isFabricError, toFabricError } from '../protocol/errors.js';
import type { Compare, Op, TxnResult } from '../store/store.js';
import { changesOf, type Ctx, type Mutation } from './context.js';
import { auditKey } from './keys.js';
import { Overlay, type Reader } from './overlay.js';
import type { AuditRecord } from './records.js';

/**
 * Several mutations of one pool in one store txn. A plan reads through an Overlay, so it
 * sees the writes of the plans made before it in the same txn (IPAM hands out the next free
 * address, a public key or name taken earlier in the txn is taken); each keeps its own audit
 * entry. Two uses:
 * - group commit (GroupCommit): concurrent single requests of one pool that queue up while a
 *   txn is in flight go into the next txn together; each is answered on its own (a plan that
 *   fails fails only its request);
 * - a batch (planAll + commitPlans): all or nothing, one revision.
 */

/** A plan of one mutation, made against `r` (an Overlay). */
export type Plan<T> = (r: Reader, attempt: number) => Promise<Mutation<T>>;

/** One planned mutation and who asked for it. */
export interface Planned<T> {
  readonly m: Mutation<T>;
  readonly actor: string;
}

/** Resolves after the I/O callbacks of the current event-loop turn have run. */
const gather = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Most mutations in one group-commit txn (etcd counts every key written against --max-txn-ops). */
const MAX_GROUP = 64;

/**
 * The compares of several plans made in order on one Overlay: a compare on a key that an
 * earlier plan wrote is dropped (it was read from the overlay, which the earlier plan's own
 * compares guard), and of two compares on one key the first is kept (if they differ the
 * store changed between the reads and the txn fails, to be re-planned).
 */
export function mergeCompares(plans: readonly { compares: readonly Compare[]; ops: readonly Op[] }[]): Compare[] {
  const touched = new Set<string>();
  const out = new Map<string, number>();
  for (const p of plans) {
    for (const c of p.compares) if (!touched.has(c.key) && !out.has(c.key)) out.set(c.key, c.modRevision);
    for (const op of p.ops) touched.add(op.key);
  }
  return [...out].map(([key, modRevision]) => ({ key, modRevision }));
}

/** Commits planned mutations in one txn, each with its audit entry. */
export async function commitPlans(ctx: Ctx, planned: readonly Planned<unknown>[]): Promise<TxnResult> {
  const ops: Op[] = [];
  for (const { m, actor } of planned) {
    ops.push(...m.ops);
    if (m.audit) {
      const changes = await changesOf(ctx, m.audit, m.ops, m.compares);
      const rec: AuditRecord = { time: ctx.clock.now().toISOString(), actor, ...m.audit, ...(changes ? { changes } : {}) };
      ops.push({ type: 'put', key: auditKey(ctx.auditId()), value: JSON.stringify(rec) });
    }
  }
  return ctx.store.txn(mergeCompares(planned.map((p) => p.m)), planned.length > 1 ? lastWrites(ops) : ops);
}

/**
 * The ops of several plans with every put dropped that a later op of the same txn overwrites
 * (the allocator hints of a group are written by each creation in turn): the txn leaves the
 * same state at the same revision, with one change event per key, for fewer store writes.
 */
export function lastWrites(ops: readonly Op[]): Op[] {
  const last = new Map<string, number>();
  ops.forEach((op, i) => last.set(op.key, i));
  if (last.size === ops.length) return [...ops];
  return ops.filter((op, i) => op.type !== 'put' || last.get(op.key) === i);
}

/** Queues mutations per lane and commits what queued up together (see the file comment). */
export class GroupCommit {
  private readonly queues = new Map<string, Item[]>();
  /** Txns committed and the mutations they carried (for benches and metrics). */
  readonly stats = { txns: 0, mutations: 0 };

  constructor(private readonly ctx: Ctx) {}

  submit<T>(lane: string, actor: string, plan: Plan<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const item: Item = { actor, plan, resolve: resolve as (v: unknown) => void, reject };
      const q = this.queues.get(lane);
      if (q) {
        q.push(item);
        return;
      }
      this.queues.set(lane, [item]);
      void this.ctx.lanes.run(lane, () => this.drain(lane));
    });
  }

  private async drain(lane: string): Promise<void> {
    for (;;) {
      // A synchronous store (SQLite) commits without ever yielding to I/O, so nothing would
      // queue up behind a txn: wait for the end of this event-loop turn, so the requests that
      // arrived together (one poll of the sockets) go into one txn.
      await gather();
      const q = this.queues.get(lane)!;
      if (q.length === 0) {
        this.queues.delete(lane);
        return;
      }
      await this.commitGroup(q.splice(0, MAX_GROUP));
    }
  }

  /** Plans and commits a group, re-planning after lost races; never throws. */
  private async commitGroup(items: Item[]): Promise<void> {
    let live = items;
    for (let attempt = 0; attempt < this.ctx.maxAttempts && live.length > 0; attempt++) {
      const overlay = new Overlay(this.ctx.store);
      const planned: { item: Item; m: Mutation<unknown> }[] = [];
      for (const item of live) {
        try {
          const m = await item.plan(overlay, attempt);
          overlay.apply(m.ops);
          planned.push({ item, m });
        } catch (e) {
          item.reject(e);
        }
      }
      live = planned.map((p) => p.item);
      if (planned.length === 0) return;
      let res: TxnResult;
      try {
        res = await commitPlans(this.ctx, planned.map((p) => ({ m: p.m, actor: p.item.actor })));
      } catch (e) {
        if (planned.length > 1 && isFabricError(e, 'WGF_ERR_STORE_TXN_TOO_LARGE')) {
          // Too large together for this store (etcd limits): one txn each.
          for (const item of live) await this.commitGroup([item]);
          return;
        }
        for (const item of live) item.reject(e);
        return;
      }
      if (res.succeeded) {
        this.stats.txns++;
        this.stats.mutations += planned.length;
        for (const p of planned) {
          try {
            p.item.resolve(p.m.result(res.revision));
          } catch (e) {
            p.item.reject(toFabricError(e));
          }
        }
        return;
      }
    }
    const err = new FabricError('WGF_ERR_UNAVAILABLE', `gave up after ${this.ctx.maxAttempts} attempts under write contention; retry`);
    for (const item of live) item.reject(err);
  }
}

interface Item {
  readonly actor: string;
  readonly plan: Plan<unknown>;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
}
