/**
 * Pure encoders and decoders of the BPF data path's maps (wglb.bpf.c): the byte layouts of the
 * structs, the bpftool batch lines that write them, and the readers of `bpftool -j map dump`.
 * The layouts here and in the C file must agree; the verdict tests (test/integration/bpf-verdict)
 * load the real program and catch any drift.
 */
import { FabricError } from '../../protocol/errors.js';
import type { Affinity, NftVip } from '../nft.js';
import { parseIp } from '../addr.js';
import { keyBlockState } from '../../wg/blake2s.js';
import { mac1Key } from '../../wg/macs.js';

/** Counter names in the order of the program's counter indexes (the C enum). */
export const COUNTERS = [
  'fwd_maglev', 'fwd_flow', 'fwd_index', 'reply', 'learned', 'unknown_index',
  'drop_type', 'drop_size', 'drop_reserved', 'drop_rate_source', 'drop_rate_global',
  'drop_no_backend', 'drop_fragment', 'drop_snat_ports', 'pass_stack',
  'fwd_dsr', 'drop_dsr_off_link',
  'xdp_fwd', 'xdp_pass',
  'drop_mac1',
] as const;
export type CounterName = (typeof COUNTERS)[number];

/** Largest Maglev table the program's slot array holds (MAX_SLOTS in the C file). */
export const BPF_MAX_SLOTS = 1 << 20;

/** WireGuard's REJECT_AFTER_TIME (180 s) plus a margin: how long a learned receiver index steers. */
export const DEFAULT_INDEX_TTL_MS = 200_000;
/** A flow entry idle this long is ignored, as conntrack's UDP stream timeout (120 s) plus margin. */
export const DEFAULT_FLOW_TTL_MS = 180_000;

/** The guard's initiation rate limits (per second) and bursts. */
export interface GuardLimits {
  /** Initiations per second per source address (0: no limit). */
  readonly perSourceRate: number;
  readonly perSourceBurst: number;
  /** Initiations per second for the whole VIP (0: no limit). */
  readonly globalRate: number;
  readonly globalBurst: number;
}

/** WireGuard answers at most one initiation per peer per 20 ms: 50/s per source is already generous. */
export const DEFAULT_GUARD_LIMITS: GuardLimits = { perSourceRate: 20, perSourceBurst: 20, globalRate: 5000, globalBurst: 1000 };

/** The program's configuration (struct wglb_cfg). */
export interface BpfConfig {
  readonly vip: string;
  readonly port: number;
  readonly affinity: Affinity;
  readonly snat: boolean;
  /** Direct server return: only the destination MAC changes (backends on this L2 segment). */
  readonly dsr?: boolean;
  /** Maglev table size; 0 = no backends (the program drops and counts drop_no_backend). */
  readonly size: number;
  readonly seed: number;
  /** Guard on (drop non-WireGuard, rate-limit initiations) with these limits; undefined = off. */
  readonly guard?: GuardLimits;
  readonly indexTtlMs?: number;
  readonly flowTtlMs?: number;
}

const CFG_SIZE = 72;

function ipv4Bytes(address: string, field: string): Buffer {
  const ip = parseIp(address, field);
  if (ip.family !== 4) throw new FabricError('WGF_ERR_VALIDATION', 'the BPF data path serves IPv4 VIPs only (use --dataplane nft for IPv6)', { field, value: address });
  return Buffer.from(ip.bytes);
}

const perSecondToCostNs = (rate: number): bigint => (rate > 0 ? BigInt(Math.max(1, Math.round(1e9 / rate))) : 0n);

/** struct wglb_cfg as bytes (little-endian host, network-order addresses and ports). */
export function configBytes(c: BpfConfig): Buffer {
  const b = Buffer.alloc(CFG_SIZE);
  ipv4Bytes(c.vip, 'vip').copy(b, 0);
  b.writeUInt16BE(c.port, 4);
  b.writeUInt8(c.affinity === 'src-ip' ? 1 : 0, 6);
  b.writeUInt8(c.snat ? 1 : 0, 7);
  b.writeUInt32LE(c.size, 8);
  b.writeUInt32LE(c.seed >>> 0, 12);
  b.writeUInt32LE(c.guard ? 1 : 0, 16);
  b.writeUInt32LE(c.dsr ? 1 : 0, 20);
  const g = c.guard;
  if (g) {
    const sc = perSecondToCostNs(g.perSourceRate);
    const gc = perSecondToCostNs(g.globalRate);
    b.writeBigUInt64LE(sc, 24);
    b.writeBigUInt64LE(sc * BigInt(Math.max(1, g.perSourceBurst)), 32);
    b.writeBigUInt64LE(gc, 40);
    b.writeBigUInt64LE(gc * BigInt(Math.max(1, g.globalBurst)), 48);
  }
  b.writeBigUInt64LE(BigInt(c.indexTtlMs ?? DEFAULT_INDEX_TTL_MS) * 1_000_000n, 56);
  b.writeBigUInt64LE(BigInt(c.flowTtlMs ?? DEFAULT_FLOW_TTL_MS) * 1_000_000n, 64);
  return b;
}

/** struct target: address and port in network order, 2 bytes of padding. */
export function targetBytes(address: string, port: number): Buffer {
  const b = Buffer.alloc(8);
  ipv4Bytes(address, 'backend address').copy(b, 0);
  b.writeUInt16BE(port, 4);
  return b;
}

/** bpftool's `hex 0a 00 ...` form of bytes. */
export function hexArg(b: Uint8Array): string {
  return `hex ${[...b].map((x) => x.toString(16).padStart(2, '0')).join(' ')}`;
}

const u32Key = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

/** One `map update` line of a bpftool batch. */
export function mapUpdateLine(mapId: number, key: Uint8Array, value: Uint8Array): string {
  return `map update id ${mapId} key ${hexArg(key)} value ${hexArg(value)}`;
}

/** One `map delete` line of a bpftool batch. */
export function mapDeleteLine(mapId: number, key: Uint8Array): string {
  return `map delete id ${mapId} key ${hexArg(key)}`;
}

const slotTarget = (v: NftVip, s: number): string => {
  const i = v.table[s]!;
  if (i < 0) return '';
  const b = [...v.backends].sort((x, y) => Buffer.compare(Buffer.from(x.name), Buffer.from(y.name)))[i]!;
  return `${parseIp(b.address).text}|${b.port}`;
};

/**
 * The slots of `to` to write when the program holds `from` (undefined: unknown, write all):
 * the same delta as renderSlotDelta of the nft path (only slots whose address:port changes),
 * every slot when the size differs. Returns [slot, address, port] triples in slot order.
 */
export function slotChanges(from: NftVip | undefined, to: NftVip): [number, string, number][] {
  const sortedTo = [...to.backends].sort((x, y) => Buffer.compare(Buffer.from(x.name), Buffer.from(y.name)));
  const whole = from === undefined || from.table.length !== to.table.length || from.backends.length === 0;
  const out: [number, string, number][] = [];
  if (sortedTo.length === 0) return out;
  const fromKey = whole ? undefined : Array.from({ length: from.table.length }, (_, s) => slotTarget(from, s));
  for (let s = 0; s < to.table.length; s++) {
    const b = sortedTo[to.table[s]!]!;
    if (fromKey && fromKey[s] === `${parseIp(b.address).text}|${b.port}`) continue;
    out.push([s, b.address, b.port]);
  }
  return out;
}

/** Batch lines that write the given slots into the slot map. */
export function slotLines(slotsMapId: number, changes: readonly [number, string, number][]): string[] {
  return changes.map(([s, address, port]) => mapUpdateLine(slotsMapId, u32Key(s), targetBytes(address, port)));
}

/** Batch line that writes the configuration. */
export function configLine(cfgMapId: number, c: BpfConfig): string {
  return mapUpdateLine(cfgMapId, u32Key(0), configBytes(c));
}

/** One entry of `bpftool -j map dump`: raw key and value bytes. */
export interface DumpEntry {
  readonly key: Buffer;
  readonly value: Buffer;
}

const hexList = (x: unknown): Buffer | undefined =>
  Array.isArray(x) && x.every((h) => typeof h === 'string') ? Buffer.from((x as string[]).map((h) => parseInt(h, 16))) : undefined;

/**
 * Entries of `bpftool -j map dump` output (raw "key"/"value" hex arrays; per-CPU maps give
 * "values": [{cpu, value}] and are summed by readCounters instead). Throws WGF_ERR_BPF for
 * output that is not such a list.
 */
export function parseDump(text: string): DumpEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FabricError('WGF_ERR_BPF', 'bpftool map dump printed something that is not JSON', {}, { cause: e });
  }
  if (!Array.isArray(json)) throw new FabricError('WGF_ERR_BPF', 'bpftool map dump did not print a list', {});
  const out: DumpEntry[] = [];
  for (const e of json as { key?: unknown; value?: unknown }[]) {
    const key = hexList(e.key);
    const value = hexList(e.value);
    if (key && value) out.push({ key, value });
  }
  return out;
}

/** Sums a per-CPU u64 counter map dump into named counters. */
export function readCounters(text: string): Record<CounterName, number> {
  const out = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<CounterName, number>;
  const json = JSON.parse(text) as { key?: unknown; values?: { value?: unknown }[] }[];
  for (const e of json) {
    const key = hexList(e.key);
    if (!key) continue;
    const name = COUNTERS[key.readUInt32LE(0)];
    if (!name) continue;
    for (const v of e.values ?? []) {
      const b = hexList(v.value);
      if (b) out[name] += Number(b.readBigUInt64LE(0));
    }
  }
  return out;
}

/** A flow table entry: client address:port -> backend address:port, last seen (monotonic ns). */
export interface FlowEntry {
  readonly key: Buffer;
  readonly client: { readonly address: string; readonly port: number };
  readonly target: { readonly address: string; readonly port: number };
  readonly seenNs: bigint;
}

const ip4 = (b: Buffer, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

/** Decodes wglb_flows entries (struct flow_key -> struct flow: 40 bytes, whose first 24 are the
 * whole entry of programs before the route cache, which a restart may still have attached). */
export function decodeFlows(entries: readonly DumpEntry[]): FlowEntry[] {
  return entries.filter((e) => e.key.length === 8 && (e.value.length === 24 || e.value.length === 40)).map((e) => ({
    key: e.key,
    client: { address: ip4(e.key, 0), port: e.key.readUInt16BE(4) },
    target: { address: ip4(e.value, 0), port: e.value.readUInt16BE(4) },
    seenNs: e.value.readBigUInt64LE(16),
  }));
}

/** A learned receiver index (struct idx_val). */
export interface IndexEntry {
  readonly key: Buffer;
  readonly index: number;
  readonly target: { readonly address: string; readonly port: number };
  readonly seenNs: bigint;
}

/** Decodes wglb_idx entries (u32 index -> struct idx_val). */
export function decodeIndexes(entries: readonly DumpEntry[]): IndexEntry[] {
  return entries.filter((e) => e.key.length === 4 && e.value.length === 16).map((e) => ({
    key: e.key,
    index: e.key.readUInt32LE(0),
    target: { address: ip4(e.value, 0), port: e.value.readUInt16BE(4) },
    seenNs: e.value.readBigUInt64LE(8),
  }));
}

/**
 * struct mac1_key (wglb-mac1.bpf.h): `on`, then the chaining value of keyed BLAKE2s-128 after
 * the block of the mac1 key HASH("mac1----" || pool public key), so the program compresses only
 * the message. undefined: all zero, mac1 not checked.
 */
export function mac1KeyBytes(poolPublicKey: Uint8Array | undefined): Buffer {
  const b = Buffer.alloc(36);
  if (!poolPublicKey) return b;
  if (poolPublicKey.length !== 32) throw new RangeError('a WireGuard public key is 32 bytes');
  b.writeUInt32LE(1, 0);
  keyBlockState(mac1Key(poolPublicKey), 16).forEach((w, i) => b.writeUInt32LE(w, 4 + 4 * i));
  return b;
}

/** Batch line that writes the mac1 key (undefined: checks off). */
export function mac1Line(mac1MapId: number, poolPublicKey: Uint8Array | undefined): string {
  return mapUpdateLine(mac1MapId, u32Key(0), mac1KeyBytes(poolPublicKey));
}
