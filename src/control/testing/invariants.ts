import type { Store } from '../../store/store.js';
import { parseNet, formatNet } from '../../protocol/ipam.js';
import * as K from '../keys.js';
import { claimKeysOf, cidrKeyOf, pubkeyKeyOf } from '../peers.js';
import { claimKeyOf } from '../alloc.js';
import type { PeerRecord, PoolRecord } from '../records.js';

/**
 * Store consistency invariants of the control plane's key layout (keys.ts), read straight
 * from the store. Returns the violations found (empty = consistent):
 * - every pool has its listing key and vice versa; no pool is left half-deleted;
 * - every peer's addresses, public key and extra AllowedIPs have exactly one claim, naming it;
 * - every claim (ipam, pubkey, cidr) belongs to an existing peer that holds it;
 * - no address is held twice; nothing of a pool outlives it (LB reports included); status only
 *   for existing nodes.
 */
export async function checkInvariants(store: Store): Promise<string[]> {
  const bad: string[] = [];
  const all = new Map((await store.range('')).kvs.map((kv) => [kv.key, kv.value]));
  const pools = new Set<string>();
  for (const [key, value] of all) {
    const m = /^pools\/([^/]+)\/pool$/.exec(key);
    if (!m) continue;
    pools.add(m[1]!);
    if (!all.has(K.poolNameKey(m[1]!))) bad.push(`pool ${m[1]} has no listing key`);
    if ((JSON.parse(value) as PoolRecord).deleting) bad.push(`pool ${m[1]} is left marked deleting`);
  }
  for (const key of all.keys()) {
    if (key.startsWith(K.POOL_LIST_PREFIX) && !pools.has(key.slice(K.POOL_LIST_PREFIX.length))) bad.push(`listing key ${key} without pool`);
  }
  const expected = new Map<string, string>(); // claim key -> peer name
  const addresses = new Map<string, string>();
  for (const [key, value] of all) {
    const m = /^pools\/([^/]+)\/peers\/([^/]+)$/.exec(key);
    if (!m) continue;
    const rec = JSON.parse(value) as PeerRecord;
    if (!pools.has(m[1]!)) bad.push(`peer ${key} outlives its pool`);
    if (rec.name !== m[2] || rec.pool !== m[1]) bad.push(`peer ${key} names itself ${rec.pool}/${rec.name}`);
    for (const a of rec.addresses) {
      const id = `${rec.pool} ${formatNet(parseNet(a, 'a', false))}`;
      if (addresses.has(id)) bad.push(`address ${id} held by ${addresses.get(id)} and ${rec.name}`);
      addresses.set(id, rec.name);
      expected.set(claimKeyOf(rec.pool, parseNet(a, 'a', false)), rec.name);
    }
    expected.set(pubkeyKeyOf(rec.pool, rec.publicKey), rec.name);
    for (const c of rec.allowedIps) expected.set(cidrKeyOf(rec.pool, parseNet(c)), rec.name);
    if (claimKeysOf(rec).length !== 2 + rec.addresses.length + rec.allowedIps.length) bad.push(`peer ${key} claim count`);
  }
  for (const [key, peer] of expected) {
    if (all.get(key) !== peer) bad.push(`claim ${key} should name ${peer} but is ${all.get(key) ?? 'missing'}`);
  }
  for (const [key, value] of all) {
    if (/^(ipam|pubkey|cidr)\//.test(key) && expected.get(key) !== value) bad.push(`claim ${key} -> ${value} belongs to no peer holding it`);
    const owner = /^(?:ipam|pubkey|cidr|hint|status|lbstatus)\/([^/]+)\//.exec(key) ?? /^cidrseq\/([^/]+)$/.exec(key);
    if (owner && !pools.has(owner[1]!)) bad.push(`${key} outlives pool ${owner[1]}`);
    const st = /^status\/([^/]+)\/([^/]+)$/.exec(key);
    if (st && !all.has(K.nodeKey(st[1]!, st[2]!))) bad.push(`status ${key} without node`);
  }
  return bad;
}
