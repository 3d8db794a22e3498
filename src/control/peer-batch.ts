import { Value } from '@sinclair/typebox/value';
import { PeerCreateSchema, PeerUpdateSchema, type PeerBatchItem, type PeerBatchResult, type PeerBatchResultItem, type PeerCreate, type PeerUpdate } from '../protocol/api.js';
import { FabricError, toFabricError } from '../protocol/errors.js';
import type { Peer } from '../protocol/types.js';
import type { Ctx } from './context.js';
import { commitPlans, type Plan, type Planned } from './group-commit.js';
import { Overlay } from './overlay.js';
import { peerLane, planCreatePeer, planDeletePeer, planUpdatePeer } from './peers.js';
import * as V from './validate.js';

/** Most items of one batch. */
export const PEER_BATCH_MAX = 1000;

/** One failing item of a refused batch (details.failed of WGF_ERR_BATCH_REJECTED). */
export interface BatchFailure {
  readonly index: number;
  readonly op: string;
  readonly name: string | null;
  readonly code: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/**
 * Creates, updates and deletes up to PEER_BATCH_MAX peers of one pool in ONE txn: all or
 * nothing, one revision, one audit entry per item. Each item is planned in order on an
 * Overlay (so item 7 sees the address item 3 took, a public key freed by a delete earlier in
 * the batch can be reused). When any item fails, nothing is written and the answer is
 * WGF_ERR_BATCH_REJECTED listing every failing item with its index and its own error code
 * (items after a failing one are planned as if it were absent). A peer may be named by at
 * most one item. The txn's size is bounded by the store: on etcd a batch needs about
 * 6 keys per created peer below --max-txn-ops, else WGF_ERR_STORE_TXN_TOO_LARGE, nothing applied.
 */
export async function peerBatch(ctx: Ctx, pool: string, items: readonly PeerBatchItem[], actor: string): Promise<PeerBatchResult> {
  V.name('pool', pool);
  if (!Array.isArray(items) || items.length === 0 || items.length > PEER_BATCH_MAX) {
    throw V.invalid('items', `must list 1..${PEER_BATCH_MAX} items`);
  }
  const failures: BatchFailure[] = [];
  const plans: { index: number; op: 'create' | 'update' | 'delete'; name: string; plan: Plan<Peer | void> }[] = [];
  const seen = new Set<string>();
  for (const [index, item] of items.entries()) {
    const op = typeof item === 'object' && item !== null ? item.op : undefined;
    const name = op === 'create' ? (item as { peer?: { name?: unknown } }).peer?.name : (item as { name?: unknown } | null)?.name;
    const label = typeof name === 'string' ? name : null;
    try {
      const plan = planOf(ctx, pool, item);
      const n = label!;
      if (seen.has(n)) throw V.invalid(`items[${index}]`, `peer ${n} is named by more than one item of the batch`);
      seen.add(n);
      plans.push({ index, op: item.op, name: n, plan });
    } catch (e) {
      failures.push(failureOf(index, String(op), label, e));
    }
  }
  return ctx.lanes.run(peerLane(pool), async () => {
    for (let attempt = 0; attempt < ctx.maxAttempts; attempt++) {
      const overlay = new Overlay(ctx.store);
      const failed = [...failures];
      const planned: (Planned<Peer | void> & { index: number; op: 'create' | 'update' | 'delete'; name: string })[] = [];
      for (const p of plans) {
        try {
          const m = await p.plan(overlay, attempt);
          overlay.apply(m.ops);
          planned.push({ m, actor, index: p.index, op: p.op, name: p.name });
        } catch (e) {
          failed.push(failureOf(p.index, p.op, p.name, e));
        }
      }
      if (failed.length > 0) {
        failed.sort((a, b) => a.index - b.index);
        throw new FabricError('WGF_ERR_BATCH_REJECTED', `${failed.length} of ${items.length} items failed (first: item ${failed[0]!.index}: ${failed[0]!.code}: ${failed[0]!.message}); nothing was applied`,
          { failed: failed.slice(0, 100), failedCount: failed.length, items: items.length });
      }
      const res = await commitPlans(ctx, planned);
      if (!res.succeeded) continue;
      const results: PeerBatchResultItem[] = planned.map((p) => {
        const peer = p.m.result(res.revision);
        return peer ? { index: p.index, op: p.op, name: p.name, peer } : { index: p.index, op: p.op, name: p.name };
      });
      return { revision: res.revision, results };
    }
    throw new FabricError('WGF_ERR_UNAVAILABLE', `gave up after ${ctx.maxAttempts} attempts under write contention; retry`);
  });
}

function planOf(ctx: Ctx, pool: string, item: PeerBatchItem): Plan<Peer | void> {
  if (typeof item !== 'object' || item === null) throw V.invalid('op', 'each item must be an object with op create, update or delete');
  const ifMatch = 'ifMatch' in item && item.ifMatch !== undefined ? revisionOf(item.ifMatch) : undefined;
  switch (item.op) {
    case 'create':
      return planCreatePeer(ctx, pool, checked<PeerCreate>(PeerCreateSchema, item.peer, 'peer'));
    case 'update':
      return planUpdatePeer(ctx, pool, V.name('name', item.name), checked<PeerUpdate>(PeerUpdateSchema, item.patch, 'patch'), ifMatch);
    case 'delete':
      return planDeletePeer(ctx, pool, V.name('name', item.name), ifMatch);
    default:
      throw V.invalid('op', 'must be create, update or delete');
  }
}

/** The wire schema check the HTTP layer would make for a single request, per item. */
function checked<T>(schema: Parameters<typeof Value.Check>[0], value: unknown, field: string): T {
  if (Value.Check(schema, value)) return value as T;
  const first = Value.Errors(schema, value).First();
  const path = first ? first.path.replace(/^\//, '').replace(/\//g, '.') : '';
  throw V.invalid(path ? `${field}.${path}` : field, first?.message ?? 'is not valid');
}

function revisionOf(v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw V.invalid('ifMatch', 'must be a revision (integer >= 1)');
  return v as number;
}

function failureOf(index: number, op: string, name: string | null, e: unknown): BatchFailure {
  const f = toFabricError(e);
  return { index, op, name, code: f.code, message: f.message, ...(f.details ? { details: f.details } : {}) };
}
