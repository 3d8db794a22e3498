/**
 * Pure renderer of the nftables ruleset of one load-balancer instance.
 *
 * Data path. For each VIP, one rule in a `nat` prerouting chain DNATs the first packet of a
 * UDP flow to `jhash <source> mod M seed S map @slots_i`, where the named map holds slot ->
 * backend address . port, rendered from the Maglev table. Conntrack then carries the rest of
 * the flow (NAT happens only on a flow's first packet), so a ruleset change never moves an
 * established flow. Consequences for the shell that drives this:
 * - a removed backend keeps its established flows until their conntrack entries expire (UDP
 *   "stream" timeout, 120 s by default, and WireGuard keepalives refresh it): to fail over, also
 *   delete them (`conntrack -D -p udp --orig-dst VIP --orig-port-dst PORT --reply-src BACKEND`);
 * - a flow that moves to another LB instance (an ECMP change) has no conntrack entry there and is
 *   hashed again: it keeps its backend only if both instances hold the identical table AND the
 *   same seed. nft draws a random per-rule seed when `seed` is omitted, so it is always rendered.
 * - the LB host must forward (net.ipv4.ip_forward / net.ipv6.conf.all.forwarding = 1); packets
 *   the LB host sends to a VIP itself take the output hook and are not balanced; a VIP without
 *   backends gets a counting drop rule.
 *
 * Atomicity. The script is `table inet T {}` + `delete table inet T` + `table inet T { ... }`.
 * `nft -f` sends the whole file as ONE netlink batch, which the kernel commits as one
 * transaction: packets see the old table or the new one, never a mix, and if any command fails
 * nothing changes (the delete is rolled back too). The empty `table` line makes the delete
 * valid on first apply (nft 1.0.6 has no `destroy`). Delete-and-recreate, not `flush table`,
 * because flush keeps maps and their elements, and re-declaring a map would merge elements.
 *
 * Map key type. The maps are declared `typeof numgen random mod M : ...`: the key is a plain
 * 32-bit slot number either way, and `typeof jhash ...` makes `nft list ruleset` of nft 1.0.6
 * crash (segfault while printing the set), while `type integer` is refused. The map comment
 * says what the key really is.
 *
 * Return path (`returnPath`):
 * - 'via-lb' (DNAT only, the default): backends see the client's real address and port, so
 *   `wg show` endpoints, logs and per-client policy stay meaningful, and there is no source-port
 *   limit. But every reply must come back through the SAME LB instance, which holds the
 *   conntrack entry that turns the backend source back into VIP:port. Backends therefore need
 *   their route to clients via the LB, and with several active LBs the return path must be
 *   symmetric per flow. A reply that bypasses the LB reaches the client from the backend's own
 *   address; a WireGuard client accepts it (it is authenticated) and roams its endpoint to that
 *   address, bypassing the LB from then on, and failover is lost.
 * - 'snat' (DNAT + masquerade): the LB also rewrites the source to its own egress address, so
 *   replies return to the LB that forwarded them under any routing, and several LBs work
 *   without return-path care. Costs: backends see LB address:port as every peer's endpoint
 *   (no client IP on the backend), each LB address gives at most ~64k concurrent flows per
 *   backend address:port, and when a flow moves to another LB the backend sees a new endpoint
 *   (WireGuard roams to it on the next authenticated packet, so the session survives).
 */
import { FabricError } from '../protocol/errors.js';
import type { LbAffinity } from '../protocol/types.js';
import { checkPort, parseIp } from './addr.js';
import { compareNames, DEFAULT_FLOW_SEED, MAX_TABLE_SIZE, sortByName } from './maglev.js';

/** Flow affinity: hash the source address and port (one client = one flow), or only the address (a pool setting). */
export type Affinity = LbAffinity;
/**
 * How replies find their way back; see the file header for the trade-off. 'dsr' (direct server
 * return) exists on the BPF data path only (see src/lb/dataplane/dsr.ts): nftables refuses it.
 */
export type ReturnPath = 'via-lb' | 'snat' | 'dsr';

/** One backend of a VIP. `name` is its Maglev identity; address family must match the VIP. */
export interface NftBackend {
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

/** One VIP:port and the Maglev table built from `backends` (indexes in name order). */
export interface NftVip {
  readonly vip: string;
  readonly port: number;
  readonly affinity: Affinity;
  readonly backends: readonly NftBackend[];
  /** From buildMaglevTable(backends); all -1 (any length) when there are no backends. */
  readonly table: Int32Array;
}

/** Desired state of one LB instance's nftables table. */
export interface LbRuleset {
  /** nftables table name, unique per LB instance on the host: [A-Za-z][A-Za-z0-9_]{0,62}. */
  readonly table: string;
  readonly vips: readonly NftVip[];
  /** Default 'via-lb'. */
  readonly returnPath?: ReturnPath;
  /** jhash seed, u32; must be the same on every LB instance. Default DEFAULT_FLOW_SEED. */
  readonly seed?: number;
}

/** The table family every LB ruleset uses (one table serves IPv4 and IPv6 VIPs). */
export const NFT_FAMILY = 'inet';
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;
const ELEMENTS_PER_LINE = 8;

/**
 * Name of the slot map of VIP:port, e.g. `slots_198_18_0_1_51820`, `slots_2001_db8__1_51820`
 * (canonical address with '.' and ':' as '_', then the port). Stable across renders, whatever
 * other VIPs exist, and distinct for distinct VIP:port pairs.
 */
export function slotMapName(vip: string, port: number): string {
  return `slots_${parseIp(vip, 'vip').text.replace(/[.:]/g, '_')}_${checkPort(port)}`;
}

function invalid(message: string, field: string, value?: unknown): FabricError {
  return new FabricError('WGF_ERR_VALIDATION', message, { field, ...(value === undefined ? {} : { value }) });
}

interface CheckedVip {
  readonly family: 4 | 6;
  readonly vip: string;
  readonly port: number;
  readonly affinity: Affinity;
  /** Backends in table order. */
  readonly backends: readonly { address: string; port: number }[];
  readonly table: Int32Array;
}

function checkVip(v: NftVip, field: string): CheckedVip {
  const vip = parseIp(v.vip, `${field}.vip`);
  const port = checkPort(v.port, `${field}.port`);
  if (v.affinity !== 'src-ip-port' && v.affinity !== 'src-ip') throw invalid("affinity must be 'src-ip-port' or 'src-ip'", `${field}.affinity`, v.affinity);
  const names = new Set<string>();
  const backends = sortByName(v.backends).map((b) => {
    const f = `${field}.backends[${v.backends.indexOf(b)}]`;
    if (typeof b.name !== 'string' || b.name.length === 0) throw invalid('backend name must be a non-empty string', `${f}.name`);
    if (names.has(b.name)) throw invalid(`duplicate backend name ${JSON.stringify(b.name)}`, `${f}.name`, b.name);
    names.add(b.name);
    const addr = parseIp(b.address, `${f}.address`);
    if (addr.family !== vip.family) throw invalid(`backend address family must match the VIP (IPv${vip.family})`, `${f}.address`, b.address);
    return { address: addr.text, port: checkPort(b.port, `${f}.port`) };
  });
  const t = v.table;
  if (!(t instanceof Int32Array) || t.length < 1 || t.length > MAX_TABLE_SIZE) throw invalid('table must be an Int32Array from buildMaglevTable', `${field}.table`);
  for (const slot of t) {
    const ok = backends.length === 0 ? slot === -1 : slot >= 0 && slot < backends.length;
    if (!ok) throw invalid(`table entry ${slot} does not index the ${backends.length} backends`, `${field}.table`);
  }
  return { family: vip.family, vip: vip.text, port, affinity: v.affinity, backends, table: t };
}

function renderMap(v: CheckedVip, name: string): string[] {
  const ip = v.family === 4 ? 'ip' : 'ip6';
  const m = v.table.length;
  const lines = [
    `\tmap ${name} {`,
    `\t\ttypeof numgen random mod ${m} : ${ip} daddr . udp dport`,
    `\t\tcomment "${v.vip} port ${v.port}: jhash slot -> backend"`,
    '\t\telements = {',
  ];
  for (let start = 0; start < m; start += ELEMENTS_PER_LINE) {
    const parts: string[] = [];
    for (let s = start; s < Math.min(m, start + ELEMENTS_PER_LINE); s++) {
      const b = v.backends[v.table[s]!]!;
      parts.push(`${s} : ${b.address} . ${b.port}`);
    }
    lines.push(`\t\t\t${parts.join(', ')}${start + ELEMENTS_PER_LINE < m ? ',' : ''}`);
  }
  lines.push('\t\t}', '\t}', '');
  return lines;
}

/**
 * Renders the nft script that atomically replaces table `inet <spec.table>` with the given
 * desired state (see the file header for the data path, atomicity and return-path choices).
 * Pure and deterministic: the same desired state, in any VIP order, renders the same text, so
 * callers can compare scripts to detect "no change". Throws WGF_ERR_VALIDATION for a bad table
 * name, seed, return path, VIP, port, affinity, backend (duplicate name, bad address, family
 * other than the VIP's, bad port), duplicate VIP:port, or a table that does not index the
 * backends.
 */
export function renderRuleset(spec: LbRuleset): string {
  if (typeof spec.table !== 'string' || !TABLE_NAME.test(spec.table)) throw invalid('table name must match [A-Za-z][A-Za-z0-9_]{0,62}', 'table', spec.table);
  const seed = spec.seed ?? DEFAULT_FLOW_SEED;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw invalid('seed must be an unsigned 32-bit integer', 'seed', seed);
  const returnPath = spec.returnPath ?? 'via-lb';
  if (returnPath !== 'via-lb' && returnPath !== 'snat') throw invalid(returnPath === 'dsr' ? "returnPath 'dsr' needs the BPF data path (--dataplane bpf)" : "returnPath must be 'via-lb' or 'snat'", 'returnPath', returnPath);

  const vips = spec.vips.map((v, i) => checkVip(v, `vips[${i}]`));
  vips.sort((a, b) => a.family - b.family || compareNames(a.vip, b.vip) || a.port - b.port);
  for (let i = 1; i < vips.length; i++) {
    if (vips[i]!.vip === vips[i - 1]!.vip && vips[i]!.port === vips[i - 1]!.port) {
      throw invalid(`duplicate VIP ${vips[i]!.vip} port ${vips[i]!.port}`, 'vips', `${vips[i]!.vip}:${vips[i]!.port}`);
    }
  }

  const t = `${NFT_FAMILY} ${spec.table}`;
  const seedHex = `0x${seed.toString(16).padStart(8, '0')}`;
  const out = [
    `# wgfabric load balancer: table ${t} (generated; do not edit).`,
    '# One nft -f run is one transaction: the table is replaced whole or not at all.',
    `table ${t} {}`,
    `delete table ${t}`,
    `table ${t} {`,
  ];
  const pre: string[] = [];
  const post: string[] = [];
  for (const v of vips) {
    const ip = v.family === 4 ? 'ip' : 'ip6';
    const match = `${ip} daddr ${v.vip} udp dport ${v.port}`;
    if (v.backends.length === 0) {
      pre.push(`\t\t${match} counter drop comment "no backends"`);
      continue;
    }
    const name = slotMapName(v.vip, v.port);
    out.push(...renderMap(v, name));
    const key = v.affinity === 'src-ip-port' ? `${ip} saddr . udp sport` : `${ip} saddr`;
    pre.push(`\t\t${match} dnat ${ip} to jhash ${key} mod ${v.table.length} seed ${seedHex} map @${name}`);
    if (returnPath === 'snat') post.push(`\t\tmeta l4proto udp ct original ${ip} daddr ${v.vip} ct original proto-dst ${v.port} masquerade`);
  }
  out.push('\tchain prerouting {', '\t\ttype nat hook prerouting priority dstnat; policy accept;', ...pre, '\t}');
  if (post.length > 0) {
    out.push('', '\tchain postrouting {', '\t\ttype nat hook postrouting priority srcnat; policy accept;', ...post, '\t}');
  }
  out.push('}', '');
  return out.join('\n');
}

/** A slot-map update rendered by renderSlotDelta. */
export interface SlotDelta {
  /** The nft script (one `nft -f` transaction); '' when no slot changes. */
  readonly script: string;
  /** How many slots the script rewrites; 0 exactly when `script` is '' (nothing to apply). */
  readonly slots: number;
}

/**
 * Renders the nft script that turns the applied slot map of one VIP from `from` into `to` by
 * rewriting only the slots whose target (address . port) changes: one `delete element` and one
 * `add element` of those slots, sent as one `nft -f` batch, so the kernel commits both in one
 * transaction and packets see the old map or the new one, never a slot without a backend.
 * Removing one of N backends rewrites about M/N slots instead of M, which is what makes
 * failover fast at M = 65537 (nft parses every element it is given).
 *
 * Returns:
 * - `{ script: '', slots: 0 }` when no slot changes (apply nothing);
 * - `{ script, slots }` otherwise: the script to apply and the number of slots it rewrites
 *   (1..M). The script opens with a comment for people reading nft traces; nothing may parse it;
 * - undefined when a delta cannot express the change: the VIP, port, affinity or table size
 *   differ, or either side has no backends (the rule itself changes). Render the whole ruleset
 *   with renderRuleset then.
 * The result is exact only if the kernel holds `from` as rendered in table `inet <table>`; when
 * it does not (someone deleted the table), nft refuses the delete and the transaction changes
 * nothing, so callers fall back to renderRuleset on failure. Throws WGF_ERR_VALIDATION like
 * renderRuleset for a bad table name or VIP.
 */
export function renderSlotDelta(table: string, from: NftVip, to: NftVip): SlotDelta | undefined {
  if (typeof table !== 'string' || !TABLE_NAME.test(table)) throw invalid('table name must match [A-Za-z][A-Za-z0-9_]{0,62}', 'table', table);
  const a = checkVip(from, 'from');
  const b = checkVip(to, 'to');
  if (a.vip !== b.vip || a.port !== b.port || a.affinity !== b.affinity || a.table.length !== b.table.length) return undefined;
  if (a.backends.length === 0 || b.backends.length === 0) return undefined;
  const target = (v: CheckedVip, s: number): string => {
    const x = v.backends[v.table[s]!]!;
    return `${x.address} . ${x.port}`;
  };
  const changed: number[] = [];
  for (let s = 0; s < b.table.length; s++) if (target(a, s) !== target(b, s)) changed.push(s);
  if (changed.length === 0) return { script: '', slots: 0 };
  const map = `${NFT_FAMILY} ${table} ${slotMapName(b.vip, b.port)}`;
  const lines = (items: string[]): string[] => {
    const out: string[] = [];
    for (let i = 0; i < items.length; i += ELEMENTS_PER_LINE) {
      out.push(`\t${items.slice(i, i + ELEMENTS_PER_LINE).join(', ')}${i + ELEMENTS_PER_LINE < items.length ? ',' : ''}`);
    }
    return out;
  };
  const script = [
    `# wgfabric load balancer: ${changed.length} of ${b.table.length} slots of ${b.vip} port ${b.port} rewritten (generated; do not edit).`,
    '# One nft -f run is one transaction: every slot changes or none does.',
    `delete element ${map} {`, ...lines(changed.map(String)), '}',
    `add element ${map} {`, ...lines(changed.map((s) => `${s} : ${target(b, s)}`)), '}',
    '',
  ].join('\n');
  return { script, slots: changed.length };
}

/** One entry of a slot map as read back from the kernel. */
export interface SlotTarget {
  readonly address: string;
  readonly port: number;
}

/**
 * Extracts the slot map `mapName` from the output of `nft -j list table inet <name>` (parsed
 * JSON): index = slot, value = backend. Slots absent from the map are `undefined` (holes).
 * Returns undefined when the map does not exist. Use it to compare applied with desired state.
 */
export function slotsFromNftJson(json: unknown, mapName: string): (SlotTarget | undefined)[] | undefined {
  const items = (json as { nftables?: unknown[] } | null)?.nftables;
  if (!Array.isArray(items)) return undefined;
  for (const item of items) {
    const map = (item as { map?: { name?: unknown; elem?: unknown } }).map;
    if (!map || map.name !== mapName) continue;
    const slots: (SlotTarget | undefined)[] = [];
    for (const e of Array.isArray(map.elem) ? map.elem : []) {
      const [key, value] = e as [unknown, { concat?: unknown[] }];
      const [address, port] = value?.concat ?? [];
      if (typeof key === 'number' && typeof address === 'string' && typeof port === 'number') slots[key] = { address, port };
    }
    return slots;
  }
  return undefined;
}
