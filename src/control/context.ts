import { randomBytes } from 'node:crypto';
import { FabricError } from '../protocol/errors.js';
import type { AuditChange, AuditEntry } from '../protocol/types.js';
import type { Compare, KeyValue, Op, Store, TxnResult } from '../store/store.js';
import { auditKey } from './keys.js';
import type { AuditRecord } from './records.js';
import type { SecretBox } from './secrets.js';
import { GroupCommit } from './group-commit.js';
import { auditChanges, auditedKey } from './audit-diff.js';

/**
 * What every control-plane operation shares, and the one way mutations reach the store:
 * `commit` runs a plan (read, check, build compares and ops), appends the audit entry to the
 * SAME txn, and re-plans from fresh reads when a compare fails. Correctness never depends on
 * this process being the only writer; the per-key `Lanes` only keep this process's own
 * requests from racing each other (fewer retries), they are not a lock.
 */

/** Source of time; tests pass a fake. */
export interface Clock {
  now(): Date;
}

/** The real wall clock. */
export const systemClock: Clock = { now: () => new Date() };

/** Shared dependencies of every control-plane operation (one per ControlPlane). */
export interface Ctx {
  readonly store: Store;
  readonly secrets: SecretBox;
  readonly clock: Clock;
  readonly lanes: Lanes;
  /** Commits concurrent mutations of one lane together (group-commit.ts). */
  readonly group: GroupCommit;
  /** Makes audit ids that sort by time, then by order of creation in this process. */
  readonly auditId: () => string;
  /** Attempts before commit gives up under contention. */
  readonly maxAttempts: number;
}

/** A planned txn: what it compares, writes and audits, and what it returns on success. */
export interface Mutation<T> {
  readonly compares: readonly Compare[];
  readonly ops: readonly Op[];
  /** null for writes that are observations, not changes (node status). */
  readonly audit: Pick<AuditEntry, 'action' | 'kind' | 'object'> | null;
  readonly result: (revision: number) => T;
}

/** Who asks, and the optimistic-concurrency precondition (If-Match) if any. */
export interface MutationOptions {
  /** Token name recorded in the audit log. */
  readonly actor: string;
  /** Expected revision of the object; a different one is WGF_ERR_CONFLICT. */
  readonly ifMatch?: number;
}

/** Builds the shared context; audit ids are unique per process and sort by time. */
export function makeCtx(store: Store, secrets: SecretBox, clock: Clock, maxAttempts = 32): Ctx {
  let seq = 0;
  let lastMs = -1;
  // Random per process (not per id, which cost a randomBytes call per audit entry): ids of two
  // replicas made in the same millisecond with the same sequence number still differ.
  const tail = randomBytes(3).toString('hex');
  const auditId = (): string => {
    const ms = clock.now().getTime();
    if (ms !== lastMs) {
      lastMs = ms;
      seq = 0;
    }
    seq = (seq + 1) % 1_000_000;
    return `${String(ms).padStart(13, '0')}-${String(seq).padStart(6, '0')}-${tail}`;
  };
  const ctx: { -readonly [K in keyof Ctx]: Ctx[K] } = { store, secrets, clock, lanes: new Lanes(), auditId, maxAttempts, group: undefined as unknown as GroupCommit };
  ctx.group = new GroupCommit(ctx);
  return ctx;
}

/** Runs `plan` until its txn commits; returns `result(revision)`. See the file comment. */
export async function commit<T>(ctx: Ctx, actor: string, plan: (attempt: number) => Promise<Mutation<T>>): Promise<T> {
  for (let attempt = 0; attempt < ctx.maxAttempts; attempt++) {
    const m = await plan(attempt);
    const res = await txnWithAudit(ctx, actor, m.compares, m.ops, m.audit);
    if (res.succeeded) return m.result(res.revision);
  }
  throw new FabricError('WGF_ERR_UNAVAILABLE', `gave up after ${ctx.maxAttempts} attempts under write contention; retry`);
}

/** One txn of `ops` plus (when `audit` is given) its audit entry. */
export async function txnWithAudit(ctx: Ctx, actor: string, compares: readonly Compare[], ops: readonly Op[], audit: Mutation<unknown>['audit']): Promise<TxnResult> {
  const all = [...ops];
  if (audit) {
    const changes = await changesOf(ctx, audit, ops, compares);
    const rec: AuditRecord = { time: ctx.clock.now().toISOString(), actor, ...audit, ...(changes ? { changes } : {}) };
    all.push({ type: 'put', key: auditKey(ctx.auditId()), value: JSON.stringify(rec) });
  }
  return ctx.store.txn(compares, all);
}

/**
 * The changed fields of the audited object's record (audit-diff.ts): its value now (read
 * before the txn; the plan's compares make the txn fail if it changes in between) against
 * the op that writes or deletes it. Undefined when the txn does not touch the record.
 */
export async function changesOf(ctx: Ctx, audit: NonNullable<Mutation<unknown>['audit']>, ops: readonly Op[], compares: readonly Compare[] = []): Promise<AuditChange[] | undefined> {
  const key = auditedKey(audit.kind, audit.object);
  const op = key === null ? undefined : ops.find((o) => o.key === key);
  if (!op) return undefined;
  // A creation compares its record with "absent": nothing to read (one store read less each).
  const created = compares.some((c) => c.key === key && c.modRevision === 0);
  const parse = (v: string | undefined): Record<string, unknown> | null => {
    if (v === undefined) return null;
    try {
      const o = JSON.parse(v) as unknown;
      return typeof o === 'object' && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  };
  const before = created ? null : parse((await ctx.store.get(key!))?.value);
  return auditChanges(before, op.type === 'put' ? parse(op.value) : null);
}

/** Throws WGF_ERR_CONFLICT when `ifMatch` is given and the object's revision differs. */
export function checkIfMatch(kv: KeyValue, ifMatch: number | undefined, object: string): void {
  if (ifMatch !== undefined && kv.modRevision !== ifMatch) {
    throw new FabricError('WGF_ERR_CONFLICT', `${object} is at revision ${kv.modRevision}, not ${ifMatch}`, {
      object, expected: ifMatch, actual: kv.modRevision,
    });
  }
}

/** WGF_ERR_NOT_FOUND naming the object and its path. */
export function notFound(what: string, path: string): FabricError {
  return new FabricError('WGF_ERR_NOT_FOUND', `${what} not found`, { object: path });
}

/** Serialises async work per key inside this process (see the file comment). */
export class Lanes {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.then(() => undefined, () => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }
}
