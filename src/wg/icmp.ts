/**
 * ICMP echo packets inside IP, as they travel through a WireGuard tunnel: build an echo
 * request (or reply) with correct IPv4 header and ICMP checksums (ICMPv6 with its
 * pseudo-header checksum), and parse a received ICMP/ICMPv6 packet, verifying checksums and
 * cutting the tunnel's zero padding off by the IP length field. Pure.
 */
import ipaddr from 'ipaddr.js';
import { FabricError } from '../protocol/errors.js';

export const ICMP4_ECHO_REQUEST = 8;
export const ICMP4_ECHO_REPLY = 0;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;
const PROTO_ICMP4 = 1;
const PROTO_ICMP6 = 58;

export interface EchoSpec {
  /** Source and destination IP literals, both IPv4 or both IPv6. */
  readonly source: string;
  readonly destination: string;
  /** ICMP identifier and sequence number (u16 each). */
  readonly id: number;
  readonly seq: number;
  readonly payload?: Uint8Array;
  /** TTL / hop limit (default 64). */
  readonly ttl?: number;
}

/** A parsed ICMP or ICMPv6 packet. `id`/`seq` are meaningful for echo types only. */
export interface IcmpPacket {
  readonly version: 4 | 6;
  readonly source: string;
  readonly destination: string;
  readonly type: number;
  readonly code: number;
  readonly id: number;
  readonly seq: number;
  readonly payload: Uint8Array;
}

function bad(reason: string): FabricError {
  return new FabricError('WGF_ERR_BAD_MESSAGE', `bad IP/ICMP packet: ${reason}`, { reason });
}

/** RFC 1071 one's-complement sum of `bytes` (odd length padded with zero), folded and inverted. */
export function internetChecksum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Sum (not yet inverted) of the IPv6 pseudo-header for an upper-layer packet. */
function pseudoHeaderSum6(src: Uint8Array, dst: Uint8Array, length: number, nextHeader: number): number {
  const ph = new Uint8Array(40);
  ph.set(src, 0);
  ph.set(dst, 16);
  new DataView(ph.buffer).setUint32(32, length);
  ph[39] = nextHeader;
  return ~internetChecksum(ph) & 0xffff;
}

/** Parses an IP literal into bytes; throws RangeError (a caller's mistake) otherwise. */
export function ipBytes(ip: string): { version: 4 | 6; bytes: Uint8Array } {
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return { version: 4, bytes: Uint8Array.from(ipaddr.IPv4.parse(ip).toByteArray()) };
  if (ip.includes(':') && ipaddr.IPv6.isValid(ip)) return { version: 6, bytes: Uint8Array.from(ipaddr.IPv6.parse(ip).toByteArray()) };
  throw new RangeError(`not an IP address: ${ip}`);
}

function ipText(bytes: Uint8Array): string {
  return bytes.length === 4 ? Array.from(bytes).join('.') : ipaddr.fromByteArray(Array.from(bytes)).toString();
}

function u16(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${name} must be a u16`);
  return v;
}

/**
 * Builds an IP packet carrying an ICMP echo request (`kind` 'request') or reply. Throws a
 * RangeError for invalid or mixed-family addresses or out-of-range fields.
 */
export function buildEcho(spec: EchoSpec, kind: 'request' | 'reply' = 'request'): Uint8Array {
  const src = ipBytes(spec.source);
  const dst = ipBytes(spec.destination);
  if (src.version !== dst.version) throw new RangeError('source and destination must be the same IP version');
  const payload = spec.payload ?? new Uint8Array(0);
  const ttl = spec.ttl ?? 64;
  const icmp = new Uint8Array(8 + payload.length);
  const iv = new DataView(icmp.buffer);
  icmp[0] = src.version === 4 ? (kind === 'request' ? ICMP4_ECHO_REQUEST : ICMP4_ECHO_REPLY) : kind === 'request' ? ICMP6_ECHO_REQUEST : ICMP6_ECHO_REPLY;
  iv.setUint16(4, u16('id', spec.id));
  iv.setUint16(6, u16('seq', spec.seq));
  icmp.set(payload, 8);

  if (src.version === 4) {
    if (20 + icmp.length > 0xffff) throw new RangeError('packet too large');
    iv.setUint16(2, internetChecksum(icmp));
    const p = new Uint8Array(20 + icmp.length);
    const v = new DataView(p.buffer);
    p[0] = 0x45; // version 4, 5-word header
    v.setUint16(2, p.length);
    p[8] = ttl;
    p[9] = PROTO_ICMP4;
    p.set(src.bytes, 12);
    p.set(dst.bytes, 16);
    v.setUint16(10, internetChecksum(p.subarray(0, 20)));
    p.set(icmp, 20);
    return p;
  }
  if (icmp.length > 0xffff) throw new RangeError('packet too large');
  iv.setUint16(2, internetChecksum(icmp, pseudoHeaderSum6(src.bytes, dst.bytes, icmp.length, PROTO_ICMP6)));
  const p = new Uint8Array(40 + icmp.length);
  const v = new DataView(p.buffer);
  v.setUint32(0, 0x60000000);
  v.setUint16(4, icmp.length);
  p[6] = PROTO_ICMP6;
  p[7] = ttl;
  p.set(src.bytes, 8);
  p.set(dst.bytes, 24);
  p.set(icmp, 40);
  return p;
}

/**
 * Parses an IPv4 or IPv6 packet (possibly followed by tunnel padding) that carries ICMP or
 * ICMPv6, verifying the IPv4 header checksum and the ICMP checksum. Throws
 * WGF_ERR_BAD_MESSAGE (details.reason says why) for anything else, including fragments,
 * IPv6 extension headers and other protocols.
 */
export function parseIcmp(packet: Uint8Array): IcmpPacket {
  if (packet.length < 1) throw bad('empty packet');
  const version = packet[0]! >> 4;
  const v = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  let src: Uint8Array, dst: Uint8Array, icmp: Uint8Array;
  if (version === 4) {
    if (packet.length < 20) throw bad('IPv4 header truncated');
    const ihl = (packet[0]! & 0x0f) * 4;
    const total = v.getUint16(2);
    if (ihl < 20 || total < ihl || total > packet.length) throw bad('IPv4 lengths are inconsistent');
    if (internetChecksum(packet.subarray(0, ihl)) !== 0) throw bad('IPv4 header checksum');
    if ((v.getUint16(6) & 0x3fff) !== 0) throw bad('IPv4 fragment');
    if (packet[9] !== PROTO_ICMP4) throw bad(`IPv4 protocol ${packet[9]} is not ICMP`);
    src = packet.subarray(12, 16);
    dst = packet.subarray(16, 20);
    icmp = packet.subarray(ihl, total);
    if (icmp.length < 8) throw bad('ICMP header truncated');
    if (internetChecksum(icmp) !== 0) throw bad('ICMP checksum');
  } else if (version === 6) {
    if (packet.length < 40) throw bad('IPv6 header truncated');
    const len = v.getUint16(4);
    if (40 + len > packet.length) throw bad('IPv6 payload length exceeds the packet');
    if (packet[6] !== PROTO_ICMP6) throw bad(`IPv6 next header ${packet[6]} is not ICMPv6`);
    src = packet.subarray(8, 24);
    dst = packet.subarray(24, 40);
    icmp = packet.subarray(40, 40 + len);
    if (icmp.length < 8) throw bad('ICMPv6 header truncated');
    if (internetChecksum(icmp, pseudoHeaderSum6(src, dst, icmp.length, PROTO_ICMP6)) !== 0) throw bad('ICMPv6 checksum');
  } else {
    throw bad(`IP version ${version}`);
  }
  const iv = new DataView(icmp.buffer, icmp.byteOffset, icmp.byteLength);
  return {
    version,
    source: ipText(src),
    destination: ipText(dst),
    type: icmp[0]!,
    code: icmp[1]!,
    id: iv.getUint16(4),
    seq: iv.getUint16(6),
    payload: icmp.slice(8),
  };
}

/** True for an echo reply (ICMP type 0 or ICMPv6 type 129, code 0). */
export function isEchoReply(p: IcmpPacket): boolean {
  return p.code === 0 && p.type === (p.version === 4 ? ICMP4_ECHO_REPLY : ICMP6_ECHO_REPLY);
}

/** True for an echo request (ICMP type 8 or ICMPv6 type 128, code 0). */
export function isEchoRequest(p: IcmpPacket): boolean {
  return p.code === 0 && p.type === (p.version === 4 ? ICMP4_ECHO_REQUEST : ICMP6_ECHO_REQUEST);
}
