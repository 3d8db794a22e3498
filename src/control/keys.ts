/**
 * The control plane's key layout in the Store. Pure string builders: every other file of
 * src/control goes through these, so the layout is defined once.
 *
 * ```
 * pools/<pool>/pool               pool record (JSON; holds the ENCRYPTED server private key,
 *                                 which the API never returns)
 * pools/<pool>/nodes/<node>       node record (desired state; no status)
 * pools/<pool>/peers/<peer>       peer record
 * poolnames/<pool>                ""  listing index, so listing pools never sweeps peers
 * ipam/<pool>/4/<8 hex>           tunnel address claim -> peer name (fixed-width hex, so
 * ipam/<pool>/6/<32 hex>          claims sort in address order and gap scans are ranges)
 * hint/<pool>/4, hint/<pool>/6    next-free offset hint of the allocator (a hint, not a claim)
 * pubkey/<pool>/<64 hex>          public key claim -> peer name (one key once per pool)
 * cidr/<pool>/<4|6>/<hex>/<len>   extra AllowedIPs claim -> peer name
 * cidrseq/<pool>                  bumped by every txn that adds cidr claims, so two
 *                                 concurrent overlap checks of one pool cannot both pass
 * status/<pool>/<node>            agent-reported node status
 * lbstatus/<pool>/<instance>      LB-instance-reported VIP and backend state (kept apart
 *                                 from status/<pool>/, whose keys are all node statuses)
 * audit/<13-digit ms>-<seq>-<rnd> audit entry (sorts by time)
 * tokens/<id>                     token record (SHA-256 of the secret, never the secret)
 * tokennames/<name>               token name claim -> id
 * ```
 *
 * Why the pool record is `pools/<pool>/pool` rather than `pools/<pool>`: a prefix is only
 * safe with its trailing slash ("pools/demo" is also a prefix of "pools/demo2/..."), and with
 * the record inside `pools/<pool>/` one range is a consistent snapshot of the whole pool and
 * one watch on that prefix carries pool, node and peer changes.
 * Status (node and LB) lives outside `pools/<pool>/` so that frequent reports do not flood the
 * pool's change stream. Names never contain '/', so `x/<pool>/` prefixes never match another pool.
 */

export const POOL_LIST_PREFIX = 'poolnames/';
/** Prefixes of the global (not per-pool) key families. */
export const AUDIT_PREFIX = 'audit/';
export const TOKEN_PREFIX = 'tokens/';
export const TOKEN_NAME_PREFIX = 'tokennames/';
/** Bumped by every pool creation, so two concurrent creations cannot both pass the prefix-overlap check. */
export const POOL_SEQ_KEY = 'poolseq';

/** IP family of a prefix or claim. */
import type { Family } from '../protocol/ipam.js';
export type { Family };

/** Everything of one pool's desired state: its change stream and snapshot prefix. */
export const poolPrefix = (pool: string): string => `pools/${pool}/`;
/** Single-key builders, one per row of the layout above. */
export const poolKey = (pool: string): string => `pools/${pool}/pool`;
export const poolNameKey = (pool: string): string => `${POOL_LIST_PREFIX}${pool}`;
export const nodesPrefix = (pool: string): string => `pools/${pool}/nodes/`;
export const nodeKey = (pool: string, node: string): string => `${nodesPrefix(pool)}${node}`;
export const peersPrefix = (pool: string): string => `pools/${pool}/peers/`;
export const peerKey = (pool: string, peer: string): string => `${peersPrefix(pool)}${peer}`;
export const ipamPrefix = (pool: string, family: Family): string => `ipam/${pool}/${family}/`;
export const ipamKey = (pool: string, family: Family, hex: string): string => `${ipamPrefix(pool, family)}${hex}`;
export const hintKey = (pool: string, family: Family): string => `hint/${pool}/${family}`;
export const pubkeyKey = (pool: string, hexKey: string): string => `pubkey/${pool}/${hexKey}`;
export const cidrPrefix = (pool: string): string => `cidr/${pool}/`;
export const cidrKey = (pool: string, family: Family, hexNetwork: string, len: number): string => `${cidrPrefix(pool)}${family}/${hexNetwork}/${len}`;
export const cidrSeqKey = (pool: string): string => `cidrseq/${pool}`;
export const statusPrefix = (pool: string): string => `status/${pool}/`;
export const statusKey = (pool: string, node: string): string => `${statusPrefix(pool)}${node}`;
export const lbStatusPrefix = (pool: string): string => `lbstatus/${pool}/`;
export const lbStatusKey = (pool: string, instance: string): string => `${lbStatusPrefix(pool)}${instance}`;
export const tokenKey = (id: string): string => `${TOKEN_PREFIX}${id}`;
export const tokenNameKey = (name: string): string => `${TOKEN_NAME_PREFIX}${name}`;
export const auditKey = (id: string): string => `${AUDIT_PREFIX}${id}`;

/** Prefixes (and single keys) that belong to one pool and go when the pool goes. */
export function poolOwnedPrefixes(pool: string): string[] {
  return [poolPrefix(pool), `ipam/${pool}/`, `hint/${pool}/`, `pubkey/${pool}/`, cidrPrefix(pool), statusPrefix(pool), lbStatusPrefix(pool)];
}
/** Single keys (not prefixes) that belong to one pool. */
export function poolOwnedKeys(pool: string): string[] {
  return [poolNameKey(pool), cidrSeqKey(pool)];
}

/** What a key under poolPrefix(pool) is, or null for anything else. */
export type PoolKeyKind = { kind: 'pool' } | { kind: 'node'; name: string } | { kind: 'peer'; name: string };

/** Classifies a key under pools/<pool>/: the pool record, a node, a peer, or null. */
export function classifyPoolKey(pool: string, key: string): PoolKeyKind | null {
  const rest = key.startsWith(poolPrefix(pool)) ? key.slice(poolPrefix(pool).length) : null;
  if (rest === null) return null;
  if (rest === 'pool') return { kind: 'pool' };
  if (rest.startsWith('nodes/') && rest.length > 6 && !rest.slice(6).includes('/')) return { kind: 'node', name: rest.slice(6) };
  if (rest.startsWith('peers/') && rest.length > 6 && !rest.slice(6).includes('/')) return { kind: 'peer', name: rest.slice(6) };
  return null;
}
