import { FabricError } from '../protocol/errors.js';
import type { ChangeEvent, Compare, Op } from './store.js';

/**
 * Argument checks shared by the in-process drivers, so every driver rejects the same inputs
 * with WGF_ERR_VALIDATION before touching any state. Pure functions.
 */

// Printable ASCII without space: '!' (0x21) to '~' (0x7e). Keeping keys in this set makes
// JS string order, SQLite BINARY order and etcd byte order agree, which range/prefix rely on.
const KEY_RE = /^[\x21-\x7e]+$/;

/** True when `key` is a non-empty string of printable ASCII without spaces. */
export function isValidKey(key: unknown): key is string {
  return typeof key === 'string' && KEY_RE.test(key);
}

/** Throws WGF_ERR_VALIDATION unless every op and compare is well formed. */
export function validateTxn(compares: readonly Compare[], ops: readonly Op[]): void {
  if (!Array.isArray(compares) || !Array.isArray(ops)) {
    throw new FabricError('WGF_ERR_VALIDATION', 'txn needs an array of compares and an array of ops');
  }
  for (const [i, c] of compares.entries()) {
    if (!isValidKey(c?.key)) throw invalid(`compares[${i}].key`, 'must be printable ASCII without spaces');
    if (!Number.isSafeInteger(c.modRevision) || c.modRevision < 0) {
      throw invalid(`compares[${i}].modRevision`, 'must be an integer >= 0');
    }
  }
  for (const [i, op] of ops.entries()) {
    if (op?.type !== 'put' && op?.type !== 'delete') throw invalid(`ops[${i}].type`, "must be 'put' or 'delete'");
    if (!isValidKey(op.key)) throw invalid(`ops[${i}].key`, 'must be printable ASCII without spaces');
    if (op.type === 'put' && typeof op.value !== 'string') throw invalid(`ops[${i}].value`, 'must be a string');
  }
}

/** Throws WGF_ERR_VALIDATION unless `since` is an integer >= 0. */
export function validateSince(since: number): void {
  if (!Number.isSafeInteger(since) || since < 0) throw invalid('since', 'must be an integer >= 0');
}

/**
 * Throws WGF_ERR_VALIDATION unless `limit` is undefined or an integer >= 1. Zero is refused
 * rather than read as "no limit" (etcd's meaning) or "nothing", so neither misreading is silent.
 */
export function validateLimit(limit: number | undefined): void {
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
    throw invalid('limit', 'must be an integer >= 1 (omit it for no limit)');
  }
}

/**
 * How many of `events` (in revision order) a `changes(..., limit)` answer keeps: at most
 * `limit`, cut between two txns so a follower resuming from the last revision it received
 * never skips the rest of a txn. When the first txn alone has more than `limit` events it is
 * kept whole (the answer then exceeds `limit`) so a follower always makes progress.
 * `events` must hold every matching event, or at least limit + 1 of them; if the answer
 * equals events.length > limit, all of them share one revision and the caller must make
 * sure it holds that whole txn.
 */
export function keepAtTxnBoundary(events: readonly Pick<ChangeEvent, 'revision'>[], limit: number): number {
  if (events.length <= limit) return events.length;
  let n = limit;
  while (n > 0 && events[n - 1]!.revision === events[n]!.revision) n--;
  if (n > 0) return n;
  const first = events[0]!.revision;
  let m = limit;
  while (m < events.length && events[m]!.revision === first) m++;
  return m;
}

function invalid(field: string, rule: string): FabricError {
  return new FabricError('WGF_ERR_VALIDATION', `${field} ${rule}`, { field });
}
