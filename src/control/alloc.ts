import { randomInt } from 'node:crypto';
import { FabricError } from '../protocol/errors.js';
import type { Compare, Op } from '../store/store.js';
import type { Reader } from './overlay.js';
import { clampToRange, formatIp, formatNet, fromHex, hostProblem, toHex, usableRange, type Net } from '../protocol/ipam.js';
import * as K from './keys.js';
import { invalid } from './validate.js';

/**
 * Tunnel address claims in the store. One claim key per address (ipam/<pool>/<family>/<hex>),
 * created with compare modRevision 0, so two writers can never hold one address. A per-pool
 * hint (hint/<pool>/<family>) remembers where the next free address probably is, so a new
 * peer costs one hint read and usually one claim read, however many peers exist. Only when
 * probing from the hint finds nothing does it scan the claims (in address order, by pages)
 * from the hint to the end and then from the start: that happens when the range wraps.
 */

/** Claim probes from the hint before falling back to a scan. */
const PROBES = 16;
const SCAN_PAGE = 1000;

/** What a txn must add to hold one address. */
export interface Claim {
  readonly address: string;
  readonly compares: Compare[];
  readonly ops: Op[];
}

/**
 * Picks a free address of `prefix` for `peer`. `attempt` > 0 (a previous txn lost a race to
 * another writer) spreads the start a little so that writers stop colliding.
 */
export async function allocate(store: Reader, pool: string, prefix: Net, peer: string, attempt: number): Promise<Claim> {
  const { first, last } = usableRange(prefix);
  const fam = prefix.family;
  const hint = await store.get(K.hintKey(pool, fam));
  let start = clampToRange(hint && /^[0-9a-f]{1,32}$/.test(hint.value) ? fromHex(hint.value) : first, first, last);
  if (attempt > 0) start = clampToRange(start + BigInt(randomInt(0, Math.min(2 ** attempt, 256))), first, last);
  let found: bigint | null = null;
  let cand = start;
  for (let i = 0; i < PROBES && cand <= last; i++, cand++) {
    if (!(await store.get(K.ipamKey(pool, fam, toHex(fam, cand))))) {
      found = cand;
      break;
    }
  }
  if (found === null) found = (await scanForGap(store, pool, prefix, start, last)) ?? (start > first ? await scanForGap(store, pool, prefix, first, start - 1n) : null);
  if (found === null) {
    throw new FabricError('WGF_ERR_ADDRESS_EXHAUSTED', `pool ${pool} has no free address left in ${formatNet(prefix)}`, { pool, prefix: formatNet(prefix) });
  }
  const key = K.ipamKey(pool, fam, toHex(fam, found));
  return {
    address: formatNet({ family: fam, value: found, len: fam === 4 ? 32 : 128 }),
    compares: [{ key, modRevision: 0 }],
    // The hint is written without a compare: a stale hint only costs a few probes.
    ops: [{ type: 'put', key, value: peer }, { type: 'put', key: K.hintKey(pool, fam), value: toHex(fam, found + 1n > last ? first : found + 1n) }],
  };
}

/** Claims a requested host address; it must be inside the prefix, not reserved, and free. */
export async function claimRequested(store: Reader, pool: string, prefix: Net, addr: Net, peer: string): Promise<Claim> {
  const problem = hostProblem(prefix, addr.value);
  const text = formatIp(addr.family, addr.value);
  if (problem === 'outside') {
    throw new FabricError('WGF_ERR_ADDRESS_OUTSIDE_POOL', `address ${text} is not inside ${formatNet(prefix)}`, { address: text, prefix: formatNet(prefix) });
  }
  if (problem === 'reserved') throw invalid('addresses', `${text} is reserved (network, broadcast or the servers' address)`);
  const key = K.ipamKey(pool, addr.family, toHex(addr.family, addr.value));
  const holder = await store.get(key);
  if (holder) {
    throw new FabricError('WGF_ERR_ALREADY_EXISTS', `address ${text} is already assigned to peer ${holder.value}`, { address: text, peer: holder.value });
  }
  return {
    address: formatNet({ ...addr, len: addr.family === 4 ? 32 : 128 }),
    compares: [{ key, modRevision: 0 }],
    ops: [{ type: 'put', key, value: peer }],
  };
}

/** The claim key of an allocated host address ("10.0.0.2/32"), for freeing it. */
export function claimKeyOf(pool: string, host: Net): string {
  return K.ipamKey(pool, host.family, toHex(host.family, host.value));
}

/** First unclaimed address in [from, to], reading claims in address order by pages. */
async function scanForGap(store: Reader, pool: string, prefix: Net, from: bigint, to: bigint): Promise<bigint | null> {
  const fam = prefix.family;
  const base = K.ipamPrefix(pool, fam);
  let next = from;
  let after: string | undefined = from > 0n ? base + toHex(fam, from - 1n) : undefined;
  for (;;) {
    const page = await store.range(base, { ...(after !== undefined ? { after } : {}), limit: SCAN_PAGE });
    for (const kv of page.kvs) {
      const v = fromHex(kv.key.slice(base.length));
      if (v > next) return next <= to ? next : null;
      if (v === next) next++;
      if (next > to) return null;
    }
    if (!page.more || page.kvs.length === 0) return next <= to ? next : null;
    after = page.kvs[page.kvs.length - 1]!.key;
  }
}
