/**
 * Update planning: from the records a name has now and the addresses it should have, the
 * smallest RFC 2136 update that gets there, and the messages that carry it. Pure.
 *
 * Guard: a plan never leaves the name with no address at all. When nothing is in service
 * (every node down, or a shared cause such as the updater losing its own network), the last
 * published records stay: a name that points at nodes that may be dead is better than a name
 * that resolves to nothing, and the next in-service node replaces them.
 */
import { FabricError } from '../protocol/errors.js';
import { addressOf, addressRdata, CLASS, OPCODE, TYPE, type Message, type Rr } from './wire.js';

/** The A and AAAA records of one name, as addresses in canonical text, and their TTL. */
export interface RecordSet {
  readonly addresses: readonly string[];
  /** TTL of the records found (null when there are none). */
  readonly ttl: number | null;
}

export interface UpdatePlan {
  readonly add: readonly string[];
  readonly remove: readonly string[];
  /** Records whose TTL differs from the wanted one are replaced (deleted and added again). */
  readonly retimed: boolean;
  /** Non-empty when the guard kept records that should go (see the file header). */
  readonly kept: readonly string[];
}

/** Canonical text of an address (validated): what addressOf returns for its record. */
export function canonicalAddress(address: string): string {
  const { type, data } = addressRdata(address);
  return addressOf({ type, data });
}

/**
 * The update that turns `current` into `desired` with `ttl`; null when nothing is to do.
 * See the file header for the guard against an empty name; `allowEmpty` lifts it (an explicit
 * withdraw of the whole name).
 */
export function planUpdate(current: RecordSet, desired: readonly string[], ttl: number, opts: { allowEmpty?: boolean } = {}): UpdatePlan | null {
  const want = new Set(desired.map(canonicalAddress));
  const have = new Set(current.addresses.map(canonicalAddress));
  if (want.size === 0 && !opts.allowEmpty) {
    return have.size === 0 ? null : { add: [], remove: [], retimed: false, kept: [...have].sort() };
  }
  const retimed = have.size > 0 && current.ttl !== ttl;
  const add = [...want].filter((a) => retimed || !have.has(a)).sort();
  const remove = [...have].filter((a) => retimed || !want.has(a)).sort();
  if (add.length === 0 && remove.length === 0) return null;
  return { add, remove, retimed, kept: [] };
}

/** A query for `type` records of `name` (no recursion; EDNS0 with a 4096-byte buffer so long sets fit in UDP). */
export function queryMessage(id: number, name: string, type: number): Message {
  const opt: Rr = { name: '', type: TYPE.OPT, class: 4096, ttl: 0, data: new Uint8Array(0) };
  return { id, qr: false, opcode: OPCODE.QUERY, aa: false, tc: false, rd: false, rcode: 0, question: [{ name, type, class: CLASS.IN }], answer: [], authority: [], additional: [opt] };
}

/** The A/AAAA records of `name` in an answer, as a RecordSet (CNAMEs and other names ignored). */
export function recordSetOf(answer: readonly Rr[], name: string): RecordSet {
  const own = answer.filter((r) => r.name === name && r.class === CLASS.IN && (r.type === TYPE.A || r.type === TYPE.AAAA));
  return { addresses: own.map(addressOf).sort(), ttl: own.length ? Math.min(...own.map((r) => r.ttl)) : null };
}

/**
 * The RFC 2136 UPDATE message of a plan: zone section = the zone's SOA; no prerequisites;
 * update section = one "delete an RR from an RRset" (class NONE) per removed address, then one
 * "add to an RRset" (class IN, `ttl`) per added one. The server applies it atomically.
 */
export function updateMessage(id: number, zone: string, name: string, plan: UpdatePlan, ttl: number): Message {
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 2 ** 31 - 1) throw new FabricError('WGF_ERR_VALIDATION', `TTL must be 0..2147483647 seconds, got ${ttl}`, { field: 'ttl' });
  const rr = (address: string, cls: number, t: number): Rr => {
    const { type, data } = addressRdata(address);
    return { name, type, class: cls, ttl: t, data };
  };
  return {
    id, qr: false, opcode: OPCODE.UPDATE, aa: false, tc: false, rd: false, rcode: 0,
    question: [{ name: zone, type: TYPE.SOA, class: CLASS.IN }],
    answer: [],
    authority: [...plan.remove.map((a) => rr(a, CLASS.NONE, 0)), ...plan.add.map((a) => rr(a, CLASS.IN, ttl))],
    additional: [],
  };
}
