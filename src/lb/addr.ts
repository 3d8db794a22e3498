import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { FabricError } from '../protocol/errors.js';

/** A parsed literal IP address (no prefix, no zone). */
export interface IpLiteral {
  readonly family: 4 | 6;
  /** Network-order bytes: 4 for IPv4, 16 for IPv6. */
  readonly bytes: Uint8Array;
  /** Canonical text: dotted quad, or RFC 5952 compressed IPv6. */
  readonly text: string;
}

/**
 * Parses a literal IPv4 (strict dotted quad) or IPv6 address. IPv4-mapped IPv6 stays IPv6,
 * because the kernel sees such packets as IPv6. Throws WGF_ERR_VALIDATION naming `field`.
 */
export function parseIp(value: string, field = 'address'): IpLiteral {
  const family = typeof value === 'string' && !value.includes('%') ? isIP(value) : 0;
  if (family !== 4 && family !== 6) {
    throw new FabricError('WGF_ERR_VALIDATION', `${field} must be a literal IPv4 or IPv6 address`, { field, value });
  }
  // Bytes are parsed here, not by ipaddr.js, which reads the IPv4-compatible form ::1.2.3.4
  // as ::ffff:1.2.3.4; ipaddr.js only formats the canonical text from the bytes.
  const bytes = family === 4 ? v4Bytes(value) : v6Bytes(value);
  return { family, bytes, text: ipaddr.fromByteArray([...bytes]).toString() };
}

function v4Bytes(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map(Number));
}

/** Bytes of an IPv6 literal that net.isIP already accepted (so the syntax is valid). */
function v6Bytes(text: string): Uint8Array {
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = v4Bytes(g);
        out.push((a! << 8) | b!, (c! << 8) | d!);
      } else {
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const [head = '', tail] = text.split('::');
  const hi = groups(head);
  const lo = tail === undefined ? [] : groups(tail);
  const words = [...hi, ...new Array<number>(8 - hi.length - lo.length).fill(0), ...lo];
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

/** Validates a UDP/TCP port (min..65535, min 1 unless told). Throws WGF_ERR_VALIDATION naming `field`. */
export function checkPort(value: number, field = 'port', min = 1): number {
  if (!Number.isInteger(value) || value < min || value > 65535) {
    throw new FabricError('WGF_ERR_VALIDATION', `${field} must be an integer ${min}..65535`, { field, value });
  }
  return value;
}

/**
 * Parses "IPv4:PORT" or "[IPv6]:PORT" (a VIP as `lb run --vip` and `/status?vip=` take it):
 * a literal address in canonical text and a port 1..65535. Throws WGF_ERR_VALIDATION naming `field`.
 */
export function parseIpPort(text: string, field = 'address'): { address: string; port: number } {
  const m = typeof text === 'string' ? /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text) : null;
  if (!m) throw new FabricError('WGF_ERR_VALIDATION', `${field} must be IPv4:PORT or [IPv6]:PORT, got ${JSON.stringify(text)}`, { field, value: text });
  const ip = parseIp(m[1]!, field);
  if ((ip.family === 6) !== text.startsWith('[')) {
    throw new FabricError('WGF_ERR_VALIDATION', `${field} must be IPv4:PORT or [IPv6]:PORT (brackets for IPv6 only), got ${JSON.stringify(text)}`, { field, value: text });
  }
  return { address: ip.text, port: checkPort(Number(m[2]), field) };
}

/** "address:port", or "[address]:port" for IPv6: the inverse of parseIpPort for canonical input. */
export function formatIpPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
