import { MAX_ANNOUNCE_COMMUNITIES, MAX_ANYCAST_ADDRESSES, MAX_DRAIN_SECONDS, MAX_LOCAL_PREF, type AnycastSettings, type NodeAnnouncePolicy } from '../protocol/announce.js';
import { LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN, MAX_ALLOWED_IPS, MAX_DNS, MAX_LABELS, NAME_PATTERN } from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import { isValidTableSize, LB_AFFINITIES, MAX_LB_TABLE_SIZE, MAX_NODE_WEIGHT, MIN_LB_TABLE_SIZE, MIN_NODE_WEIGHT } from '../protocol/lb-settings.js';
import type { AdminState, LbAffinity, LbSettings } from '../protocol/types.js';
import { formatIp, formatNet, overlaps, parseIp, parseNet, type Net } from '../protocol/ipam.js';

/**
 * Semantic validation of control-plane inputs. The HTTP layer checks shapes with the same
 * patterns first; these checks hold for every caller (CLI, tests, future drivers) and return
 * normalised values. Every failure is a FabricError naming the field.
 */

const NAME_RE = new RegExp(NAME_PATTERN);
const LABEL_KEY_RE = new RegExp(LABEL_KEY_PATTERN);
const LABEL_VALUE_RE = new RegExp(LABEL_VALUE_PATTERN);
const HOSTNAME_RE = /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i;

/** WGF_ERR_VALIDATION naming the field. */
export function invalid(field: string, message: string): FabricError {
  return new FabricError('WGF_ERR_VALIDATION', `${field} ${message}`, { field });
}

/** A pool, node, peer or token name. */
export function name(field: string, v: unknown): string {
  if (typeof v !== 'string' || !NAME_RE.test(v)) throw invalid(field, 'must match ^[a-z0-9][a-z0-9._-]{0,62}$');
  return v;
}

/** Labels: at most 32, keys and values by the api.ts patterns; returned sorted by key. */
export function labels(field: string, v: unknown): Record<string, string> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(field, 'must be an object of strings');
  const entries = Object.entries(v);
  if (entries.length > MAX_LABELS) throw invalid(field, `may hold at most ${MAX_LABELS} labels`);
  const out: Record<string, string> = {};
  for (const [k, val] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!LABEL_KEY_RE.test(k)) throw invalid(`${field} key`, 'must match ^[a-z0-9][a-z0-9._/-]{0,62}$');
    if (typeof val !== 'string' || !LABEL_VALUE_RE.test(val)) throw invalid(`${field}.${k}`, 'must match ^[A-Za-z0-9._-]{0,63}$');
    out[k] = val;
  }
  return out;
}

/** Parses a label selector "k=v,k2=v2" (or an object) into pairs every match must carry. */
export function labelSelector(field: string, v: string | undefined): Record<string, string> {
  if (v === undefined || v === '') return {};
  const out: Record<string, string> = {};
  for (const part of v.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw invalid(field, 'must be k=v[,k=v...]');
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return labels(field, out);
}

/** True when `have` carries every pair of `want`. */
export function matchesLabels(have: Readonly<Record<string, string>>, want: Record<string, string>): boolean {
  for (const [k, val] of Object.entries(want)) if (!Object.hasOwn(have, k) || have[k] !== val) return false;
  return true;
}

/** An integer in [min, max]. */
export function int(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(field, `must be an integer ${min}..${max}`);
  return v;
}

/** A boolean. */
export function bool(field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw invalid(field, 'must be true or false');
  return v;
}

/** A string of at most `max` characters without control characters. */
export function text(field: string, v: unknown, max: number): string {
  if (typeof v !== 'string' || v.length > max) throw invalid(field, `must be a string of at most ${max} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) throw invalid(field, 'must not contain control characters');
  return v;
}

/** "host:port" with an IPv4 address, a DNS name, or "[IPv6]:port". */
export function endpoint(field: string, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') throw invalid(field, 'must be host:port');
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) throw invalid(field, 'must be host:port, [IPv6]:port or name:port with port 1..65535');
  if (m[1] !== undefined) {
    const ip = safeIp(m[1]);
    if (!ip || ip.family !== 6) throw invalid(field, 'has an invalid IPv6 address in brackets');
    return `[${m[1].toLowerCase()}]:${port}`;
  }
  const host = m[2]!;
  if (/^[0-9.]+$/.test(host)) {
    if (!safeIp(host)) throw invalid(field, 'has an invalid IPv4 address');
  } else if (!HOSTNAME_RE.test(host)) {
    throw invalid(field, 'has an invalid host name');
  }
  return `${host.toLowerCase()}:${port}`;
}

/** An IP address literal (no prefix, no zone), returned in canonical form. */
export function ip(field: string, v: unknown): string {
  const addr = typeof v === 'string' ? safeIp(v) : null;
  if (!addr) throw invalid(field, 'must be an IPv4 or IPv6 address');
  return formatIp(addr.family, addr.value);
}

/** DNS servers: IP addresses only. */
export function dnsList(field: string, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > MAX_DNS) throw invalid(field, `must be a list of at most ${MAX_DNS} IP addresses`);
  return v.map((s, i) => {
    const ip = typeof s === 'string' ? safeIp(s) : null;
    if (!ip) throw invalid(`${field}[${i}]`, 'must be an IP address');
    return formatNet({ family: ip.family, value: ip.value, len: ip.family === 4 ? 32 : 128 }).replace(/\/\d+$/, '');
  });
}

/** RFC 3339 time, normalised to UTC ISO form. */
export function time(field: string, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string' || !RFC3339_RE.test(v)) throw invalid(field, 'must be an RFC 3339 time like 2030-01-01T00:00:00Z');
  // Date.parse rolls impossible dates over (2024-02-30 -> 2024-03-01): check the calendar first.
  const [y, mo, d, h, mi, sec] = v.slice(0, 19).split(/[-T:]/).map(Number) as [number, number, number, number, number, number];
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate(); // days in month mo of year y
  const off = /([+-])(\d{2}):(\d{2})$/.exec(v);
  if (mo < 1 || mo > 12 || d < 1 || d > days || h > 23 || mi > 59 || sec > 59 || (off && (Number(off[2]) > 23 || Number(off[3]) > 59))) {
    throw invalid(field, `is not a real date and time (${v.slice(0, 10)} ${v.slice(11, 19)} does not exist)`);
  }
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) throw invalid(field, 'is not a real date');
  return new Date(ms).toISOString();
}

/** One of active, draining, disabled. */
export function adminState(field: string, v: unknown): AdminState {
  if (v !== 'active' && v !== 'draining' && v !== 'disabled') throw invalid(field, "must be 'active', 'draining' or 'disabled'");
  return v;
}

/** A node weight: an integer MIN_NODE_WEIGHT..MAX_NODE_WEIGHT. */
export function weight(field: string, v: unknown): number {
  return int(field, v, MIN_NODE_WEIGHT, MAX_NODE_WEIGHT);
}

/**
 * LB settings of a pool: `v` (each field optional) over `base`, so a partial update keeps the
 * rest. Errors name `<field>.affinity` or `<field>.tableSize`.
 */
export function lbSettings(field: string, v: unknown, base: LbSettings): LbSettings {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(field, 'must be an object with affinity and/or tableSize');
  const { affinity, tableSize, ...rest } = v as { affinity?: unknown; tableSize?: unknown };
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw invalid(field, `has an unknown field ${JSON.stringify(extra)}`);
  if (affinity !== undefined && !LB_AFFINITIES.includes(affinity as LbAffinity)) {
    throw invalid(`${field}.affinity`, `must be ${LB_AFFINITIES.map((a) => `'${a}'`).join(' or ')}`);
  }
  if (tableSize !== undefined && !(typeof tableSize === 'number' && isValidTableSize(tableSize))) {
    throw invalid(`${field}.tableSize`, `must be a prime in ${MIN_LB_TABLE_SIZE}..${MAX_LB_TABLE_SIZE} (e.g. 65537, 16381, 251)`);
  }
  return { affinity: (affinity as LbAffinity | undefined) ?? base.affinity, tableSize: (tableSize as number | undefined) ?? base.tableSize };
}

/**
 * Extra AllowedIPs: each in network form (host bits set is an error naming the fix), no
 * duplicates or overlaps inside the list. Returned sorted by family, then address.
 */
export function allowedIps(field: string, v: unknown): Net[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > MAX_ALLOWED_IPS) throw invalid(field, `must be a list of at most ${MAX_ALLOWED_IPS} CIDRs`);
  const nets = v.map((s, i) => parseNet(typeof s === 'string' ? s : '', `${field}[${i}]`));
  nets.sort((a, b) => a.family - b.family || (a.value < b.value ? -1 : a.value > b.value ? 1 : a.len - b.len));
  for (let i = 1; i < nets.length; i++) {
    if (overlaps(nets[i - 1]!, nets[i]!)) throw invalid(field, `entries ${formatNet(nets[i - 1]!)} and ${formatNet(nets[i]!)} overlap`);
  }
  return nets;
}

function safeIp(s: string): ReturnType<typeof parseIp> | null {
  try {
    return parseIp(s);
  } catch {
    return null;
  }
}

/**
 * Anycast settings of a pool: `v` (each field optional) over `base`. Addresses are host IP
 * literals (announced as /32 or /128), canonical, sorted, unique; communities "ASN:VALUE".
 * Errors name `<field>.<key>`.
 */
export function anycastSettings(field: string, v: unknown, base: AnycastSettings): AnycastSettings {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(field, 'must be an object with addresses, drainSeconds, communities, med and/or prepend');
  const { addresses, drainSeconds, communities, med, prepend, ...rest } = v as Partial<Record<keyof AnycastSettings, unknown>>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw invalid(field, `has an unknown field ${JSON.stringify(extra)}`);
  let addrs = base.addresses;
  if (addresses !== undefined) {
    if (!Array.isArray(addresses) || addresses.length > MAX_ANYCAST_ADDRESSES) throw invalid(`${field}.addresses`, `must be a list of at most ${MAX_ANYCAST_ADDRESSES} IP addresses`);
    const set = new Set<string>();
    for (const a of addresses) {
      const parsed = typeof a === 'string' && !a.includes('/') ? safeIp(a) : null;
      if (parsed === null) throw invalid(`${field}.addresses`, `entry ${JSON.stringify(a)} is not an IP address (a host address without prefix length, e.g. 192.0.2.1 or 2001:db8::1)`);
      set.add(formatIp(parsed.family, parsed.value));
    }
    addrs = [...set].sort();
  }
  if (drainSeconds !== undefined && !(Number.isInteger(drainSeconds) && (drainSeconds as number) >= 0 && (drainSeconds as number) <= MAX_DRAIN_SECONDS)) {
    throw invalid(`${field}.drainSeconds`, `must be an integer in 0..${MAX_DRAIN_SECONDS}`);
  }
  let comms = base.communities;
  if (communities !== undefined) {
    if (!Array.isArray(communities) || communities.length > MAX_ANNOUNCE_COMMUNITIES) throw invalid(`${field}.communities`, `must be a list of at most ${MAX_ANNOUNCE_COMMUNITIES} communities`);
    for (const c of communities) {
      const m = typeof c === 'string' ? /^(\d{1,5}):(\d{1,5})$/.exec(c) : null;
      if (!m || Number(m[1]) > 65535 || Number(m[2]) > 65535) throw invalid(`${field}.communities`, `entry ${JSON.stringify(c)} is not a community ASN:VALUE with both parts in 0..65535`);
    }
    comms = [...new Set(communities as string[])].sort();
  }
  if (med !== undefined && med !== null && !(Number.isInteger(med) && (med as number) >= 0 && (med as number) <= 4294967295)) throw invalid(`${field}.med`, 'must be null or an integer in 0..4294967295');
  if (prepend !== undefined && !(Number.isInteger(prepend) && (prepend as number) >= 0 && (prepend as number) <= 16)) throw invalid(`${field}.prepend`, 'must be an integer in 0..16');
  return {
    addresses: addrs, drainSeconds: (drainSeconds as number | undefined) ?? base.drainSeconds, communities: comms,
    med: med === undefined ? base.med : (med as number | null), prepend: (prepend as number | undefined) ?? base.prepend,
  };
}

/**
 * A node's BGP policy (Node.announcePolicy): each field optional, overriding the pool's anycast
 * settings; communities "ASN:VALUE", MED and local preference 0..2^32-1 or null, prepends 0..16.
 * Errors name `<field>.<key>`. An empty policy is returned as undefined (the pool's settings).
 */
export function nodeAnnouncePolicy(field: string, v: unknown): NodeAnnouncePolicy | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(field, 'must be an object with communities, med, prepend and/or localPref');
  const { communities, med, prepend, localPref, ...rest } = v as Partial<Record<keyof NodeAnnouncePolicy, unknown>>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw invalid(field, `has an unknown field ${JSON.stringify(extra)}`);
  // Communities, MED and prepend are checked exactly as the pool's are.
  const pool = anycastSettings(field, { ...(communities !== undefined ? { communities } : {}), ...(med !== undefined ? { med } : {}), ...(prepend !== undefined ? { prepend } : {}) },
    { addresses: [], drainSeconds: 0, communities: [], med: null, prepend: 0 });
  if (localPref !== undefined && localPref !== null && !(Number.isInteger(localPref) && (localPref as number) >= 0 && (localPref as number) <= MAX_LOCAL_PREF)) {
    throw invalid(`${field}.localPref`, `must be null or an integer in 0..${MAX_LOCAL_PREF}`);
  }
  const out: NodeAnnouncePolicy = {
    ...(communities !== undefined ? { communities: pool.communities } : {}), ...(med !== undefined ? { med: pool.med } : {}),
    ...(prepend !== undefined ? { prepend: pool.prepend } : {}), ...(localPref !== undefined && localPref !== null ? { localPref: localPref as number } : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}
