/**
 * Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
 * Load Balancer", NSDI 2016), as a pure function of the backend set.
 *
 * Cross-LB determinism: every load balancer instance, and any other implementation, must build
 * the byte-identical table from the same backend set. The table is the contract; this file
 * pins every choice that affects it:
 *
 * 1. Order. Backends are sorted by name, comparing the UTF-8 bytes (memcmp order, as Go's
 *    `sort.Strings` or C's `strcmp` would do; not JavaScript's UTF-16 order). Slot values are
 *    indexes into that sorted list.
 * 2. Permutation. For a backend name n (UTF-8) and table size M (prime):
 *      offset = U64BE(SHA-256("wgfabric/maglev/offset\0" || n)[0..8]) mod M
 *      skip   = U64BE(SHA-256("wgfabric/maglev/skip\0"   || n)[0..8]) mod (M - 1) + 1
 *    and the backend's preference list is offset, offset + skip, offset + 2 skip, ... (mod M).
 *    Because M is prime and 1 <= skip < M, that list visits every slot exactly once.
 * 3. Weighted population (the scheme of Katran's MaglevHashV2): in rounds, visit the backends
 *    in sorted order; each adds its weight to its credit, and if the credit has reached the
 *    largest weight W it pays W and claims its next still-empty preferred slot. Stop as soon as
 *    all M slots are full. With equal weights this is exactly the paper's round-robin.
 *
 * The kernel data path does not use flowHash below: it hashes in nftables (`jhash ... mod M`)
 * and looks the slot up in a map rendered from this table (see nft.ts). flowHash reproduces
 * that kernel computation so user space can predict, test and simulate it.
 */
import { createHash } from 'node:crypto';
import { FabricError } from '../protocol/errors.js';
import { DEFAULT_LB_TABLE_SIZE, isPrime, MAX_LB_TABLE_SIZE, MIN_LB_TABLE_SIZE } from '../protocol/lb-settings.js';
import { parseIp, checkPort } from './addr.js';
import { jhash, reciprocalScale } from './jhash.js';

/** A backend as Maglev sees it: a stable name (the identity) and an integer weight. */
export interface MaglevBackend {
  /** Stable, unique, non-empty name; renaming a backend moves its flows. */
  readonly name: string;
  /** Relative share of slots, an integer in 1..MAX_WEIGHT. */
  readonly weight: number;
}

// The table size rules are part of the pools' LB settings, so they live in the protocol module
// (the control plane validates them); re-exported here under the names this module always had.
export { isPrime };
/** Default table size: the prime Katran uses; Maglev wants M > 100 x N for < 1 % imbalance. */
export const DEFAULT_TABLE_SIZE = DEFAULT_LB_TABLE_SIZE;
/** Smallest accepted table size. */
export const MIN_TABLE_SIZE = MIN_LB_TABLE_SIZE;
/** Largest accepted table size (2^24): beyond it the nftables map is impractical. */
export const MAX_TABLE_SIZE = MAX_LB_TABLE_SIZE;
/** Largest accepted weight (2^31 - 1), so credits fit in 32 bits in any implementation. */
export const MAX_WEIGHT = 0x7fffffff;
/**
 * Default seed of the flow hash (ASCII "WGFL"). Every LB instance of one deployment must use the
 * same seed, or the same flow lands in different slots on different instances.
 */
export const DEFAULT_FLOW_SEED = 0x5747464c;

const utf8 = new TextEncoder();

/** Compares two names by their UTF-8 bytes: the one backend order every implementation uses. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Returns a copy of `backends` in table order (sorted by compareNames on `name`). */
export function sortByName<T extends { readonly name: string }>(backends: readonly T[]): T[] {
  return [...backends].sort((x, y) => compareNames(x.name, y.name));
}

function hash64mod(label: string, name: string, mod: number): number {
  const digest = createHash('sha256').update(utf8.encode(`wgfabric/maglev/${label}\0`)).update(utf8.encode(name)).digest();
  return Number(digest.readBigUInt64BE(0) % BigInt(mod));
}

/** The Maglev permutation parameters of one backend name for table size `size` (see header). */
export function permutationOf(name: string, size: number): { offset: number; skip: number } {
  return { offset: hash64mod('offset', name, size), skip: hash64mod('skip', name, size - 1) + 1 };
}

function validate(backends: readonly MaglevBackend[], size: number): void {
  if (!isPrime(size) || size < MIN_TABLE_SIZE || size > MAX_TABLE_SIZE) {
    throw new FabricError('WGF_ERR_VALIDATION', `table size must be a prime in ${MIN_TABLE_SIZE}..${MAX_TABLE_SIZE}`, { field: 'size', value: size });
  }
  if (backends.length > size) {
    throw new FabricError('WGF_ERR_VALIDATION', 'more backends than table slots; use a larger table size', { field: 'size', value: size, backends: backends.length });
  }
  const seen = new Set<string>();
  for (const [i, b] of backends.entries()) {
    if (typeof b.name !== 'string' || b.name.length === 0) {
      throw new FabricError('WGF_ERR_VALIDATION', 'backend name must be a non-empty string', { field: `backends[${i}].name` });
    }
    if (seen.has(b.name)) {
      throw new FabricError('WGF_ERR_VALIDATION', `duplicate backend name ${JSON.stringify(b.name)}`, { field: `backends[${i}].name`, value: b.name });
    }
    seen.add(b.name);
    if (!Number.isInteger(b.weight) || b.weight < 1 || b.weight > MAX_WEIGHT) {
      throw new FabricError('WGF_ERR_VALIDATION', `backend weight must be an integer 1..${MAX_WEIGHT}`, { field: `backends[${i}].weight`, value: b.weight });
    }
  }
}

/**
 * Builds the Maglev lookup table of `size` slots (a prime). Slot i holds the index of its
 * backend in name order (sortByName(backends)), or -1 everywhere when `backends` is empty.
 * Pure and deterministic: the input order does not matter, and the result is identical on
 * every LB instance and in every implementation that follows the header of this file.
 * Throws WGF_ERR_VALIDATION for duplicate names, empty names, weights that are not integers in
 * 1..MAX_WEIGHT, sizes that are not primes in MIN_TABLE_SIZE..MAX_TABLE_SIZE, or more backends
 * than slots.
 */
export function buildMaglevTable(backends: readonly MaglevBackend[], size: number = DEFAULT_TABLE_SIZE): Int32Array {
  validate(backends, size);
  const table = new Int32Array(size).fill(-1);
  const sorted = sortByName(backends);
  const n = sorted.length;
  if (n === 0) return table;

  const weight = sorted.map((b) => b.weight);
  const maxWeight = Math.max(...weight);
  // pos[i] = the next candidate slot in backend i's preference list; it steps by skip[i].
  const pos = new Float64Array(n);
  const skip = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = permutationOf(sorted[i]!.name, size);
    pos[i] = p.offset;
    skip[i] = p.skip;
  }
  const credit = new Float64Array(n);
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      credit[i] = credit[i]! + weight[i]!;
      if (credit[i]! < maxWeight) continue;
      credit[i] = credit[i]! - maxWeight;
      let slot = pos[i]!;
      while (table[slot] !== -1) slot = (slot + skip[i]!) % size;
      table[slot] = i;
      pos[i] = (slot + skip[i]!) % size;
      if (++filled === size) return table;
    }
  }
}

/**
 * The backend index for a 32-bit flow hash: table[reciprocal_scale(hash, M)], which is the slot
 * nftables' `jhash ... mod M` picks for the same hash. Returns -1 for an empty table's slots.
 */
export function lookup(table: Int32Array, hash: number): number {
  return table[reciprocalScale(hash >>> 0, table.length)] ?? -1;
}

/**
 * The 32-bit flow hash the kernel computes for `jhash ip saddr . udp sport ... seed S` (or
 * `jhash ip saddr` when srcPort is undefined, for source-IP affinity; `ip6 saddr` for IPv6).
 * The key is the source address in network order, then, for port affinity, the port in network
 * order padded with two zero bytes to a 32-bit register, exactly as nftables lays out the
 * concatenation. Use with lookup() to predict or simulate the data path; the kernel never calls
 * this, so what must agree across LB instances is the table and the seed, not this function.
 */
export function flowHash(srcIp: string, srcPort: number | undefined, seed: number = DEFAULT_FLOW_SEED): number {
  const addr = parseIp(srcIp, 'srcIp').bytes;
  if (srcPort === undefined) return jhash(addr, seed);
  checkPort(srcPort, 'srcPort', 0);
  const key = new Uint8Array(addr.length + 4);
  key.set(addr);
  key[addr.length] = srcPort >> 8;
  key[addr.length + 1] = srcPort & 0xff;
  return jhash(key, seed);
}
