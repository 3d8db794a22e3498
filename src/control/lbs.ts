import { MAX_LB_BACKENDS, MAX_LB_ERROR, MAX_LB_REASON, MAX_LB_RTT_MS, MAX_LB_TABLE_SIZE, type LbReportInput } from '../protocol/api.js';
import { LB_AFFINITIES } from '../protocol/lb-settings.js';
import { LB_RETURN_PATHS, type LbBackendReport, type LbBackendState, type LbReport, type LbReturnPath, type Page } from '../protocol/types.js';
import type { KeyValue } from '../store/store.js';
import { checkIfMatch, commit, type Ctx, type MutationOptions } from './context.js';
import * as K from './keys.js';
import { scanPage, type PageRequest } from './paging.js';
import { readPool, readPoolChild, readPoolForChild } from './pools.js';
import { decode, lbReportEntity, type LbReportRecord } from './records.js';
import { announceReport } from './nodes.js';
import * as V from './validate.js';

/**
 * Load-balancer reports: what each `wgfabric lb run` instance last saw of its VIP and
 * backends, one key per pool and instance (keys.ts `lbstatus/`). Observations, like node
 * status: not audited and kept out of the pool's change stream. They belong to the pool and go
 * with it (poolOwnedPrefixes); a report never lands on a pool that is gone or being deleted.
 */

const STATES: readonly LbBackendState[] = ['probing', 'up', 'down', 'suppressed', 'unknown'];

/** A probe round trip: null, or a finite number of ms in 0..MAX_LB_RTT_MS. */
function rtt(field: string, v: unknown): number | null {
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_LB_RTT_MS) throw V.invalid(field, `must be null or a number of ms 0..${MAX_LB_RTT_MS}`);
  return v;
}

/** Validates and normalises a report (the HTTP layer checked its shape; this holds for every caller). */
export function lbReportFields(input: LbReportInput): Required<Omit<LbReportRecord, 'pool' | 'instance' | 'reportedAt' | 'announce' | 'returnPath'>> & Pick<LbReportRecord, 'announce' | 'returnPath'> {
  const tableSize = V.int('tableSize', input.tableSize, 1, MAX_LB_TABLE_SIZE);
  if (!LB_AFFINITIES.includes(input.affinity)) throw V.invalid('affinity', `must be one of ${LB_AFFINITIES.join(', ')}`);
  if (!Array.isArray(input.backends) || input.backends.length > MAX_LB_BACKENDS) {
    throw V.invalid('backends', `must be a list of at most ${MAX_LB_BACKENDS} backends`);
  }
  const seen = new Set<string>();
  const backends = input.backends.map((b, i): LbBackendReport => {
    const name = V.name(`backends[${i}].name`, b?.name);
    if (seen.has(name)) throw V.invalid(`backends[${i}].name`, `repeats backend ${name}`);
    seen.add(name);
    if (!STATES.includes(b.state)) throw V.invalid(`backends[${i}].state`, `must be one of ${STATES.join(', ')}`);
    return {
      name, state: b.state, reason: V.text(`backends[${i}].reason`, b.reason, MAX_LB_REASON), inTable: V.bool(`backends[${i}].inTable`, b.inTable),
      slots: V.int(`backends[${i}].slots`, b.slots, 0, tableSize),
      ...(b.rttMs === undefined ? {} : { rttMs: rtt(`backends[${i}].rttMs`, b.rttMs) }),
      ...(b.flows === undefined ? {} : { flows: V.int(`backends[${i}].flows`, b.flows, 0, Number.MAX_SAFE_INTEGER) }),
    };
  });
  return {
    vip: V.ip('vip', input.vip), port: V.int('port', input.port, 1, 65535), tableSize, affinity: input.affinity,
    generation: V.int('generation', input.generation, 0, Number.MAX_SAFE_INTEGER),
    lastError: input.lastError === null ? null : V.text('lastError', input.lastError, MAX_LB_ERROR),
    failOpen: V.bool('failOpen', input.failOpen), backends,
    ...(input.announce !== undefined ? { announce: announceReport('announce', input.announce) } : {}),
    ...(input.returnPath !== undefined ? { returnPath: returnPathOf(input.returnPath) } : {}),
  };
}

function returnPathOf(p: LbReturnPath): LbReturnPath {
  if (!LB_RETURN_PATHS.includes(p)) throw V.invalid('returnPath', `must be one of ${LB_RETURN_PATHS.join(', ')}`);
  return p;
}

/**
 * Records an LB instance's report (replacing its previous one); the server stamps
 * `reportedAt`. The pool must exist and not be being deleted (WGF_ERR_NOT_FOUND,
 * WGF_ERR_IN_USE); the txn compares the pool record, so a report cannot outlive its pool.
 */
export async function putLbStatus(ctx: Ctx, pool: string, instance: string, input: LbReportInput, opts: MutationOptions): Promise<LbReport> {
  V.name('pool', pool);
  V.name('instance', instance);
  const fields = lbReportFields(input);
  return commit(ctx, opts.actor, async () => {
    const p = await readPoolForChild(ctx, pool);
    const rec: LbReportRecord = { pool, instance, ...fields, reportedAt: ctx.clock.now().toISOString() };
    return {
      compares: [{ key: K.poolKey(pool), modRevision: p.kv.modRevision }],
      ops: [{ type: 'put', key: K.lbStatusKey(pool, instance), value: JSON.stringify(rec) }],
      audit: null,
      result: (rev) => lbReportEntity(rec, rev),
    };
  });
}

/** The instance's last report; WGF_ERR_NOT_FOUND for a missing pool or report. */
export async function getLbStatus(ctx: Ctx, pool: string, instance: string): Promise<LbReport> {
  const kv = await readReport(ctx, pool, instance);
  return lbReportEntity(decode<LbReportRecord>(kv), kv.modRevision);
}

/** A page of the pool's LB reports, in instance name order. */
export async function listLbStatus(ctx: Ctx, pool: string, req: PageRequest): Promise<Page<LbReport>> {
  await readPool(ctx, pool);
  return scanPage(ctx.store, K.lbStatusPrefix(pool), K.lbStatusPrefix(pool), req, (kv) => lbReportEntity(decode<LbReportRecord>(kv), kv.modRevision));
}

/**
 * Forgets a retired instance's report (a running instance writes a new one at its next
 * heartbeat). Not audited, like the reports. WGF_ERR_NOT_FOUND when there is none; If-Match
 * honoured. Allowed while the pool is being deleted.
 */
export async function deleteLbStatus(ctx: Ctx, pool: string, instance: string, opts: MutationOptions): Promise<void> {
  await commit(ctx, opts.actor, async () => {
    const kv = await readReport(ctx, pool, instance);
    checkIfMatch(kv, opts.ifMatch, `pools/${pool}/lbs/${instance}`);
    return { compares: [{ key: kv.key, modRevision: kv.modRevision }], ops: [{ type: 'delete', key: kv.key }], audit: null, result: () => undefined };
  });
}

async function readReport(ctx: Ctx, pool: string, instance: string): Promise<KeyValue> {
  V.name('pool', pool);
  V.name('instance', instance);
  return readPoolChild(ctx, pool, K.lbStatusKey(pool, instance), `load balancer report of ${instance} in pool ${pool}`, `pools/${pool}/lbs/${instance}`);
}
