import ipaddr from 'ipaddr.js';
import { FabricError } from './errors.js';

/** IP address family. */
export type Family = 4 | 6;

/**
 * Pure address arithmetic for the IPAM: strict parsing (four-part decimal IPv4, no zone ids),
 * CIDRs in network form, the usable host range of a pool prefix, fixed-width hex for claim
 * keys (so claims sort in address order) and a gap finder over sorted claims. Addresses are
 * bigint so IPv4 and IPv6 share one code path.
 */

/** An address or prefix: `value` is the address, `len` the prefix length (32/128 for hosts). */
export interface Net {
  readonly family: Family;
  readonly value: bigint;
  readonly len: number;
}

/** Address width in bits: 32 or 128. */
export const bitsOf = (family: Family): number => (family === 4 ? 32 : 128);

/** Parses one IP address (no prefix). Throws WGF_ERR_INVALID_CIDR. */
export function parseIp(text: string, what = 'address'): { family: Family; value: bigint } {
  const s = typeof text === 'string' ? text.trim() : '';
  if (s.includes('.') && !s.includes(':')) {
    if (!ipaddr.IPv4.isValidFourPartDecimal(s)) throw bad(`${what} "${clip(s)}" is not an IPv4 address in a.b.c.d form`);
    return { family: 4, value: fromBytes(ipaddr.IPv4.parse(s).toByteArray()) };
  }
  if (s.includes(':') && !s.includes('%') && ipaddr.IPv6.isValid(s)) {
    return { family: 6, value: fromBytes(ipaddr.IPv6.parse(s).toByteArray()) };
  }
  throw bad(`${what} "${clip(s)}" is not an IP address`);
}

/**
 * Parses "addr/len" (or a bare address, read as a host prefix). With `strict` the host bits
 * must be zero (network form); otherwise they are kept (for host addresses).
 */
export function parseNet(text: string, what = 'prefix', strict = true): Net {
  const s = typeof text === 'string' ? text.trim() : '';
  const slash = s.indexOf('/');
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash), what);
  const bits = bitsOf(ip.family);
  let len = bits;
  if (slash >= 0) {
    const l = s.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(l) || Number(l) > bits) throw bad(`${what} "${clip(s)}" has an invalid prefix length (0..${bits})`);
    len = Number(l);
  }
  const net = { family: ip.family, value: ip.value, len };
  if (strict && networkOf(net) !== ip.value) {
    const fixed = formatNet({ ...net, value: networkOf(net) });
    throw bad(`${what} "${clip(s)}" has host bits set; did you mean ${fixed}?`, { suggestion: fixed });
  }
  return net;
}

/** First address of the prefix (host bits cleared). */
export function networkOf(n: Net): bigint {
  const hostBits = BigInt(bitsOf(n.family) - n.len);
  return (n.value >> hostBits) << hostBits;
}

/** Last address of the prefix. */
export function lastOf(n: Net): bigint {
  return networkOf(n) + (1n << BigInt(bitsOf(n.family) - n.len)) - 1n;
}

/** True when the two prefixes share at least one address. */
export function overlaps(a: Net, b: Net): boolean {
  return a.family === b.family && networkOf(a) <= lastOf(b) && networkOf(b) <= lastOf(a);
}

/** True when `addr` lies inside prefix `p`. */
export function contains(p: Net, addr: bigint): boolean {
  return addr >= networkOf(p) && addr <= lastOf(p);
}

/** Canonical text: "10.0.0.0/24", "fd00::/64" (RFC 5952). */
export function formatNet(n: Net): string {
  return `${formatIp(n.family, n.value)}/${n.len}`;
}

/** Canonical text of one address (RFC 5952 for IPv6). */
export function formatIp(family: Family, value: bigint): string {
  const bytes: number[] = [];
  for (let i = bitsOf(family) / 8 - 1; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 0xffn));
  const ip = ipaddr.fromByteArray(bytes);
  return ip.kind() === 'ipv6' ? (ip as ipaddr.IPv6).toRFC5952String() : ip.toString();
}

/** Fixed-width lowercase hex (8 or 32 digits): claim keys sort in address order. */
export function toHex(family: Family, value: bigint): string {
  return value.toString(16).padStart(bitsOf(family) / 4, '0');
}

/** Inverse of toHex. */
export function fromHex(hex: string): bigint {
  return BigInt(`0x${hex}`);
}

/** Pool prefix lengths the IPAM accepts: room for the server address and at least one peer. */
export const PREFIX_LEN_RANGE: Record<Family, readonly [number, number]> = { 4: [8, 30], 6: [16, 126] };

/** Validates a pool prefix of the given family (network form, sensible length). */
export function parsePoolPrefix(text: string, family: Family, field: string): Net {
  const n = parseNet(text, field);
  if (n.family !== family) throw bad(`${field} must be an IPv${family} prefix`);
  const [min, max] = PREFIX_LEN_RANGE[family];
  if (n.len < min || n.len > max) throw bad(`${field} length must be /${min}../${max}`);
  return n;
}

/**
 * Host addresses peers may get: the network address (offset 0) is skipped, offset 1 is kept
 * for the pool's servers, and for IPv4 the broadcast address is skipped.
 */
export function usableRange(p: Net): { first: bigint; last: bigint } {
  return { first: networkOf(p) + 2n, last: p.family === 4 ? lastOf(p) - 1n : lastOf(p) };
}

/** The address the pool's servers use inside the tunnel (first usable, .1 / ::1). */
export function serverAddress(p: Net): bigint {
  return networkOf(p) + 1n;
}

/** Why a requested host address cannot be given to a peer, or null when it can. */
export function hostProblem(p: Net, addr: bigint): 'outside' | 'reserved' | null {
  if (!contains(p, addr)) return 'outside';
  const { first, last } = usableRange(p);
  return addr < first || addr > last ? 'reserved' : null;
}

/**
 * First address in [from, to] that is not in `claimed` (ascending, may hold values outside
 * the interval), or null when every one is taken.
 */
export function firstGap(claimed: Iterable<bigint>, from: bigint, to: bigint): bigint | null {
  let next = from;
  for (const c of claimed) {
    if (next > to) return null;
    if (c < next) continue;
    if (c > next) return next;
    next = c + 1n;
  }
  return next <= to ? next : null;
}

/** Wraps `candidate` into [first, last]. */
export function clampToRange(candidate: bigint, first: bigint, last: bigint): bigint {
  return candidate < first || candidate > last ? first : candidate;
}

function fromBytes(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}...` : s;
}

function bad(message: string, details?: Record<string, unknown>): FabricError {
  return new FabricError('WGF_ERR_INVALID_CIDR', message, details);
}
