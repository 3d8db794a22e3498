import ipaddr from 'ipaddr.js';

/**
 * Address syntax shared by the config file parser and the UAPI codec. Every function here is
 * pure and total: it returns null (or false) for bad input instead of throwing, so callers
 * can attach their own context (a line number, a field name) to the error they raise.
 *
 * The accepted syntax is deliberately the strict subset both wg(8) and wireguard-go's
 * net/netip accept: dotted-quad IPv4 without leading zeros, IPv6 without zone ids.
 */

/** A parsed IP prefix. `addr` is the address as written (validated), not masked. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly addr: string;
  readonly prefix: number;
}

/** A parsed endpoint: an IP literal or a host name, and a port in 1..65535. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
  /** 4 or 6 for IP literals, 'name' for host names (they need resolving before UAPI). */
  readonly kind: 4 | 6 | 'name';
}

const PREFIX_RE = /^(?:0|[1-9][0-9]{0,2})$/;
const PORT_RE = /^[1-9][0-9]{0,4}$/;
// RFC 1123 labels; underscores are tolerated because real DNS names carry them.
const LABEL_RE = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

const IPV4_RE = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;
const HEX_GROUP_RE = /^[0-9A-Fa-f]{1,4}$/;

/** The address family of an IP literal, or null when `s` is not one. Zone ids are refused. */
export function ipFamily(s: string): 4 | 6 | null {
  if (s.length > 45) return null; // longest IPv6 text form; keeps the checks linear and cheap
  if (IPV4_RE.test(s)) return 4;
  return isIpv6(s) ? 6 : null;
}

/**
 * RFC 4291 text form: eight groups of 1..4 hex digits, one `::` standing for one or more
 * zero groups, an optional dotted quad as the last two groups. Hand-written because
 * ipaddr.js's validator costs tens of microseconds per call, which matters at 50k peers.
 */
function isIpv6(s: string): boolean {
  const dc = s.indexOf('::');
  if (dc >= 0 && s.indexOf('::', dc + 1) >= 0) return false; // a second '::' (or ':::')
  const parts = dc >= 0 ? [s.slice(0, dc), s.slice(dc + 2)] : [s];
  let groups = 0;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    if (part === '') continue;
    const fields = part.split(':');
    for (let f = 0; f < fields.length; f++) {
      const field = fields[f]!;
      if (HEX_GROUP_RE.test(field)) groups += 1;
      else if (p === parts.length - 1 && f === fields.length - 1 && IPV4_RE.test(field)) groups += 2;
      else return false;
    }
  }
  return dc >= 0 ? groups <= 7 : groups === 8;
}

/**
 * Parses `addr/prefix`, or a bare address when `allowBare` (then the prefix is /32 or /128,
 * as wg(8) and ip(8) read it). Returns null for anything else.
 */
export function parseCidr(s: string, allowBare = true): Cidr | null {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const family = ipFamily(addr);
  if (family === null) return null;
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return allowBare ? { family, addr, prefix: max } : null;
  const p = s.slice(slash + 1);
  if (!PREFIX_RE.test(p)) return null;
  const prefix = Number(p);
  return prefix <= max ? { family, addr, prefix } : null;
}

/** Formats an IP the way wireguard-go (Go net/netip) prints it: RFC 5952, IPv4-mapped as dotted quad. */
export function canonicalIp(s: string): string | null {
  const family = ipFamily(s);
  if (family === 4) return s;
  if (family === null) return null;
  const ip = ipaddr.IPv6.parse(s);
  if (ip.isIPv4MappedAddress()) return `::ffff:${ip.toIPv4Address().toString()}`;
  return ip.toRFC5952String();
}

/**
 * The canonical, masked form of a prefix ("10.1.2.3/24" becomes "10.1.2.0/24", a bare
 * address gets /32 or /128), as `wg showconf` prints it. Null when `s` is not valid.
 * Hand-written (no ipaddr.js): an agent normalises every allowed IP of every peer on a
 * snapshot, 131k prefixes at 65k peers; addr.test.ts holds it to ipaddr.js on random input.
 */
export function normalizeCidr(s: string): string | null {
  const fast = normalizeSimple(s);
  if (fast !== undefined) return fast;
  const c = parseCidr(s);
  if (c === null) return null;
  if (c.family === 4) {
    const q = c.addr.split('.');
    const n = ((Number(q[0]) << 24) | (Number(q[1]) << 16) | (Number(q[2]) << 8) | Number(q[3])) >>> 0;
    const m = c.prefix === 0 ? 0 : (n & (0xffffffff << (32 - c.prefix))) >>> 0;
    return `${m >>> 24}.${(m >>> 16) & 255}.${(m >>> 8) & 255}.${m & 255}/${c.prefix}`;
  }
  const g = ipv6Groups(c.addr);
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, c.prefix - 16 * i));
    g[i] = keep === 0 ? 0 : g[i]! & ((0xffff << (16 - keep)) & 0xffff);
  }
  return `${formatIpv6(g)}/${c.prefix}`;
}

/** Whether `s` is `address/prefix` (parseCidr(s, false) !== null), cheaply for the usual forms. */
export function isPrefix(s: string): boolean {
  const fast = normalizeSimple(s);
  return fast !== undefined ? fast !== null : parseCidr(s, false) !== null;
}

const scratch = new Array<number>(8).fill(0);

/**
 * normalizeCidr's fast path for the forms a control plane stores and wireguard-go prints:
 * `a.b.c.d/n` and lower-case IPv6 without a dotted quad, each with an explicit prefix. One
 * pass over the characters, no intermediate strings; an input already canonical comes back
 * as the same string. Undefined for anything else (bare addresses, upper case, IPv4 inside
 * IPv6, any irregularity, also every invalid input): normalizeCidr's general path decides.
 */
function normalizeSimple(s: string): string | null | undefined {
  const slash = s.indexOf('/');
  if (slash <= 0 || slash > 39) return undefined;
  // The prefix: 0 or 1..3 digits without a leading zero.
  const plen = s.length - slash - 1;
  if (plen < 1 || plen > 3) return undefined;
  let prefix = 0;
  for (let i = slash + 1; i < s.length; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9 || (d === 0 && i === slash + 1 && plen > 1)) return undefined;
    prefix = prefix * 10 + d;
  }
  if (s.indexOf(':') < 0) {
    let n = 0;
    let octets = 0;
    let v = -1;
    let digits = 0;
    for (let i = 0; i <= slash; i++) {
      const c = i === slash ? 46 : s.charCodeAt(i);
      if (c === 46) {
        if (digits === 0) return undefined;
        n = n * 256 + v;
        octets++;
        v = -1;
        digits = 0;
        continue;
      }
      const d = c - 48;
      if (d < 0 || d > 9 || v === 0) return undefined; // not a digit, or a leading zero
      v = v < 0 ? d : v * 10 + d;
      if (++digits > 3 || v > 255) return undefined;
    }
    if (octets !== 4 || prefix > 32) return undefined;
    if (prefix === 32) return s;
    const m = prefix === 0 ? 0 : (n & (0xffffffff << (32 - prefix))) >>> 0;
    if (m === n) return s;
    return `${m >>> 24}.${(m >>> 16) & 255}.${(m >>> 8) & 255}.${m & 255}/${prefix}`;
  }
  if (prefix > 128) return undefined;
  // IPv6: groups of 1..4 lower-case hex digits, at most one '::'.
  const g = scratch;
  let count = 0;
  let gap = -1; // group index where '::' stands
  let v = 0;
  let digits = 0;
  for (let i = 0; i < slash; i++) {
    const c = s.charCodeAt(i);
    if (c === 58) {
      if (digits === 0) {
        // ':' with no digits before: only as the second ':' of '::' (or '::' at the start).
        if (gap >= 0) return undefined;
        if (i === 0) {
          if (s.charCodeAt(1) !== 58) return undefined;
          continue;
        }
        if (s.charCodeAt(i - 1) !== 58) return undefined;
        gap = count;
        continue;
      }
      if (count === 8) return undefined;
      g[count++] = v;
      v = 0;
      digits = 0;
      continue;
    }
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else return undefined;
    if (++digits > 4) return undefined;
    v = v * 16 + d;
  }
  if (digits > 0) {
    if (count === 8) return undefined;
    g[count++] = v;
  } else if (gap !== count || s.charCodeAt(slash - 1) !== 58 || s.charCodeAt(slash - 2) !== 58) return undefined; // ends in a lone ':'
  if (gap < 0 ? count !== 8 : count > 7) return undefined;
  if (gap >= 0) {
    const zeros = 8 - count;
    for (let i = count - 1; i >= gap; i--) g[i + zeros] = g[i]!;
    for (let i = gap; i < gap + zeros; i++) g[i] = 0;
  }
  for (let i = 0; i < 8; i++) {
    const keep = prefix - 16 * i;
    if (keep <= 0) g[i] = 0;
    else if (keep < 16) g[i] = g[i]! & ((0xffff << (16 - keep)) & 0xffff);
  }
  if (isCanonicalIpv6(g, s, slash)) return s;
  return `${formatIpv6(g)}/${prefix}`;
}

/**
 * The longest run (2+) of zero groups, the first on a tie, as RFC 5952 compresses it: start << 4
 * | length, start -1 when there is none. One integer, so the per-prefix hot path allocates nothing.
 */
function zeroRun(g: readonly number[]): number {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  return (best << 4) | bestLen;
}

/** Whether s[0, end) is exactly what formatIpv6(g) prints, compared in place (no string built). */
function isCanonicalIpv6(g: readonly number[], s: string, end: number): boolean {
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) return false; // printed as ::ffff:a.b.c.d
  const run = zeroRun(g);
  const best = run >> 4;
  const bestLen = run & 15;
  let p = 0;
  for (let i = 0; i < 8;) {
    if (i === best) {
      if (s.charCodeAt(p) !== 58 || s.charCodeAt(p + 1) !== 58) return false;
      p += 2;
      i += bestLen;
      continue;
    }
    if (i > 0 && i !== best + bestLen) {
      if (s.charCodeAt(p++) !== 58) return false;
    }
    const x = g[i++]!;
    for (let shift = x >= 0x1000 ? 12 : x >= 0x100 ? 8 : x >= 0x10 ? 4 : 0; shift >= 0; shift -= 4) {
      const d = (x >> shift) & 15;
      if (s.charCodeAt(p++) !== (d < 10 ? 48 + d : 87 + d)) return false;
    }
  }
  return p === end;
}

/** The eight 16-bit groups of an IPv6 literal already validated by isIpv6. */
function ipv6Groups(s: string): number[] {
  const groupsOf = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const f of part.split(':')) {
      if (f.includes('.')) {
        const q = f.split('.').map(Number);
        out.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!);
      } else out.push(parseInt(f, 16));
    }
    return out;
  };
  const dc = s.indexOf('::');
  if (dc < 0) return groupsOf(s);
  const head = groupsOf(s.slice(0, dc));
  const tail = groupsOf(s.slice(dc + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** RFC 5952 as Go's net/netip prints it: longest run (2+) of zero groups as "::", IPv4-mapped as ::ffff:a.b.c.d. */
function formatIpv6(g: readonly number[]): string {
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  }
  const run = zeroRun(g);
  const best = run >> 4;
  const bestLen = run & 15;
  // Concatenated group by group: no arrays (this runs for every IPv6 prefix of a snapshot).
  const hex = (from: number, to: number): string => {
    let out = '';
    for (let i = from; i < to; i++) out += i === from ? g[i]!.toString(16) : `:${g[i]!.toString(16)}`;
    return out;
  };
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** True for a DNS host name (dot-separated RFC 1123 labels, at most 253 characters). */
export function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  if (name.length === 0) return false;
  for (const label of name.split('.')) if (!LABEL_RE.test(label)) return false;
  // An all-numeric dotted name would be read as a (bad) IPv4 address by resolvers.
  return !/^[0-9.]+$/.test(name);
}

/** Parses a port number 1..65535 (decimal, no sign, no leading zeros). */
export function parsePort(s: string): number | null {
  if (!PORT_RE.test(s)) return null;
  const n = Number(s);
  return n <= 65535 ? n : null;
}

/**
 * Parses `host:port` as wg(8) accepts it: `1.2.3.4:51820`, `[2001:db8::1]:51820` or
 * `vpn.example.com:51820`. An IPv6 address must be in brackets. Returns null otherwise.
 */
export function parseEndpoint(s: string): Endpoint | null {
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0 || s[close + 1] !== ':') return null;
    const host = s.slice(1, close);
    const port = parsePort(s.slice(close + 2));
    return port !== null && ipFamily(host) === 6 ? { host, port, kind: 6 } : null;
  }
  const colon = s.lastIndexOf(':');
  if (colon <= 0) return null;
  const host = s.slice(0, colon);
  const port = parsePort(s.slice(colon + 1));
  if (port === null || host.includes(':')) return null;
  if (ipFamily(host) === 4) return { host, port, kind: 4 };
  return isHostname(host) ? { host, port, kind: 'name' } : null;
}

/** Formats an endpoint as wg(8) and UAPI write it (IPv6 in brackets). */
export function formatEndpoint(e: { host: string; port: number }): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}
