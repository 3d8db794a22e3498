/**
 * The load-balancer settings a pool carries (Pool.lb) and the rules they follow. They live in
 * the protocol module because both sides need them: the control plane validates them, every
 * `lb run` instance of the pool builds its Maglev table from them (src/lb/maglev.ts re-exports
 * isPrime and the default size from here, so there is one definition).
 */
import type { LbAffinity, LbSettings } from './types.js';

/** Default Maglev table size: the prime Katran uses; Maglev wants M > 100 x N for < 1 % imbalance. */
export const DEFAULT_LB_TABLE_SIZE = 65537;
/** Smallest table size the Maglev builder accepts (a prime). */
export const MIN_LB_TABLE_SIZE = 3;
/** Largest table size (2^24): beyond it the nftables map is impractical. */
export const MAX_LB_TABLE_SIZE = 1 << 24;
/** The flow hash keys: source address and port (one client socket = one flow), or the source address only. */
export const LB_AFFINITIES: readonly LbAffinity[] = ['src-ip-port', 'src-ip'];
/** What a pool without stored LB settings (one made before they existed) reads as. */
export const DEFAULT_LB_SETTINGS: LbSettings = { affinity: 'src-ip-port', tableSize: DEFAULT_LB_TABLE_SIZE };
/** Node weight bounds (Node.weight): a node's share of new flows relative to the others. */
export const MIN_NODE_WEIGHT = 1;
export const MAX_NODE_WEIGHT = 1000;
export const DEFAULT_NODE_WEIGHT = 1;

/** True when n is a prime (deterministic trial division; fine for n < 2^32). */
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n < 4) return true;
  if (n % 2 === 0 || n % 3 === 0) return false;
  for (let d = 5; d * d <= n; d += 6) {
    if (n % d === 0 || n % (d + 2) === 0) return false;
  }
  return true;
}

/** True for a table size every LB instance can build: a prime in MIN_LB_TABLE_SIZE..MAX_LB_TABLE_SIZE. */
export function isValidTableSize(n: number): boolean {
  return isPrime(n) && n >= MIN_LB_TABLE_SIZE && n <= MAX_LB_TABLE_SIZE;
}

/** Equal settings build the identical table and ruleset. */
export function sameLbSettings(a: LbSettings, b: LbSettings): boolean {
  return a.affinity === b.affinity && a.tableSize === b.tableSize;
}

/** The LB settings of a pool (or its stored record): DEFAULT_LB_SETTINGS, field by field, where it has none (stored before they existed). */
export function lbSettingsOf(pool: { readonly lb?: Partial<LbSettings> | undefined }): LbSettings {
  return { affinity: pool.lb?.affinity ?? DEFAULT_LB_SETTINGS.affinity, tableSize: pool.lb?.tableSize ?? DEFAULT_LB_SETTINGS.tableSize };
}
