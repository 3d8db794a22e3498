/**
 * The DNS wire format (RFC 1035), as much of it as an RFC 2136 update client needs: names,
 * headers, resource records, whole messages, both ways. Pure: bytes in, objects out. Names are
 * written uncompressed (always valid, and what TSIG's canonical form wants) and read with
 * compression pointers followed (with a loop guard). Anything malformed is WGF_ERR_DNS_BAD_REPLY.
 */
import { FabricError } from '../protocol/errors.js';

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, AAAA: 28, OPT: 41, TSIG: 250, ANY: 255 } as const;
export const CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;
export const OPCODE = { QUERY: 0, UPDATE: 5 } as const;
export const RCODE_NAMES: Readonly<Record<number, string>> = {
  0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 6: 'YXDOMAIN', 7: 'YXRRSET', 8: 'NXRRSET',
  9: 'NOTAUTH', 10: 'NOTZONE', 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME',
};

/** One resource record; `data` is the raw RDATA (see rdataOf / addressOf for A and AAAA). */
export interface Rr {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  readonly ttl: number;
  readonly data: Uint8Array;
}

/**
 * A DNS message. For an UPDATE (RFC 2136 section 2) the four sections are zone, prerequisite,
 * update and additional; `question` then holds the zone (class IN, type SOA).
 */
export interface Message {
  readonly id: number;
  readonly qr: boolean;
  readonly opcode: number;
  readonly aa: boolean;
  readonly tc: boolean;
  readonly rd: boolean;
  readonly rcode: number;
  readonly question: readonly { readonly name: string; readonly type: number; readonly class: number }[];
  readonly answer: readonly Rr[];
  readonly authority: readonly Rr[];
  readonly additional: readonly Rr[];
}

const bad = (message: string): FabricError => new FabricError('WGF_ERR_DNS_BAD_REPLY', `malformed DNS message: ${message}`);

/** Lower-cased, without the trailing dot ("" is the root). Throws WGF_ERR_VALIDATION on an invalid name. */
export function normalizeName(name: string, field = 'name'): string {
  const n = name.trim().toLowerCase().replace(/\.$/, '');
  if (n === '') return '';
  const labels = n.split('.');
  if (n.length > 253 || labels.some((l) => l.length === 0 || l.length > 63 || !/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/.test(l))) {
    throw new FabricError('WGF_ERR_VALIDATION', `${field} "${name}" is not a valid DNS name (labels of letters, digits, '-' and '_', at most 63 characters each)`, { field });
  }
  return n;
}

/** True when `name` is `zone` or below it (both normalized). */
export function inZone(name: string, zone: string): boolean {
  return zone === '' || name === zone || name.endsWith('.' + zone);
}

/** A name in wire form, uncompressed, lower-cased (the canonical form TSIG MACs cover). */
export function encodeName(name: string): Uint8Array {
  const n = name.toLowerCase().replace(/\.$/, '');
  const parts = n === '' ? [] : n.split('.');
  const out = new Uint8Array(parts.reduce((s, l) => s + l.length + 1, 1));
  let o = 0;
  for (const l of parts) {
    if (l.length === 0 || l.length > 63) throw new FabricError('WGF_ERR_VALIDATION', `DNS label "${l}" must be 1..63 characters`);
    out[o++] = l.length;
    for (let i = 0; i < l.length; i++) out[o++] = l.charCodeAt(i);
  }
  out[o] = 0;
  return out;
}

/** Grows as it is written; big-endian integers. */
export class Writer {
  private buf = new Uint8Array(512);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  u8(v: number): this { this.room(1); this.buf[this.length++] = v & 0xff; return this; }
  u16(v: number): this { return this.u8(v >>> 8).u8(v); }
  u32(v: number): this { return this.u16(Math.floor(v / 0x10000)).u16(v & 0xffff); }
  /** 48-bit unsigned (TSIG time signed). */
  u48(v: number): this { return this.u16(Math.floor(v / 2 ** 32)).u32(v % 2 ** 32); }
  bytes(b: Uint8Array): this { this.room(b.length); this.buf.set(b, this.length); this.length += b.length; return this; }
  name(n: string): this { return this.bytes(encodeName(n)); }
  rr(r: Rr): this {
    if (r.data.length > 0xffff) throw new FabricError('WGF_ERR_VALIDATION', 'RDATA longer than 65535 bytes');
    return this.name(r.name).u16(r.type).u16(r.class).u32(r.ttl).u16(r.data.length).bytes(r.data);
  }
  done(): Uint8Array { return this.buf.slice(0, this.length); }
}

/** Encodes a whole message (names uncompressed). */
export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer();
  const flags = (m.qr ? 0x8000 : 0) | ((m.opcode & 0xf) << 11) | (m.aa ? 0x400 : 0) | (m.tc ? 0x200 : 0) | (m.rd ? 0x100 : 0) | (m.rcode & 0xf);
  w.u16(m.id).u16(flags).u16(m.question.length).u16(m.answer.length).u16(m.authority.length).u16(m.additional.length);
  for (const q of m.question) w.name(q.name).u16(q.type).u16(q.class);
  for (const r of [...m.answer, ...m.authority, ...m.additional]) w.rr(r);
  return w.done();
}

/** Reads big-endian fields and (compressed) names from a message; throws on truncation. */
export class Reader {
  offset = 0;
  constructor(readonly buf: Uint8Array) {}

  private need(n: number): void {
    if (this.offset + n > this.buf.length) throw bad(`truncated at byte ${this.offset}`);
  }
  u8(): number { this.need(1); return this.buf[this.offset++]!; }
  u16(): number { return (this.u8() << 8) | this.u8(); }
  u32(): number { return this.u16() * 0x10000 + this.u16(); }
  u48(): number { return this.u16() * 2 ** 32 + this.u32(); }
  bytes(n: number): Uint8Array { this.need(n); const b = this.buf.slice(this.offset, this.offset + n); this.offset += n; return b; }

  /** A name at the current offset, following compression pointers (each must point backwards). */
  name(): string {
    const labels: string[] = [];
    let pos = this.offset;
    let jumped = false;
    let total = 0;
    for (;;) {
      if (pos >= this.buf.length) throw bad('name runs past the end');
      const len = this.buf[pos]!;
      if ((len & 0xc0) === 0xc0) {
        if (pos + 1 >= this.buf.length) throw bad('truncated compression pointer');
        const target = ((len & 0x3f) << 8) | this.buf[pos + 1]!;
        if (target >= pos) throw bad('compression pointer does not point backwards');
        if (!jumped) this.offset = pos + 2;
        jumped = true;
        pos = target;
        continue;
      }
      if ((len & 0xc0) !== 0) throw bad('unknown label type');
      if (len === 0) {
        if (!jumped) this.offset = pos + 1;
        return labels.join('.').toLowerCase();
      }
      if (pos + 1 + len > this.buf.length) throw bad('label runs past the end');
      total += len + 1;
      if (total > 255) throw bad('name longer than 255 bytes');
      labels.push(String.fromCharCode(...this.buf.subarray(pos + 1, pos + 1 + len)));
      pos += 1 + len;
    }
  }

  rr(): Rr {
    const name = this.name();
    const type = this.u16();
    const cls = this.u16();
    const ttl = this.u32();
    const len = this.u16();
    return { name, type, class: cls, ttl, data: this.bytes(len) };
  }
}

/** A decoded message plus where its last additional record starts (the TSIG record, if any). */
export interface Decoded {
  readonly message: Message;
  /** Byte offset of the last record of the additional section; -1 when the section is empty. */
  readonly lastAdditionalOffset: number;
}

/** Decodes a whole message. Throws WGF_ERR_DNS_BAD_REPLY on anything malformed or trailing. */
export function decodeMessage(buf: Uint8Array): Decoded {
  const r = new Reader(buf);
  if (buf.length < 12) throw bad(`${buf.length} bytes is shorter than a header`);
  const id = r.u16();
  const flags = r.u16();
  const counts = [r.u16(), r.u16(), r.u16(), r.u16()] as const;
  const question: { name: string; type: number; class: number }[] = [];
  for (let i = 0; i < counts[0]; i++) question.push({ name: r.name(), type: r.u16(), class: r.u16() });
  const section = (n: number): Rr[] => Array.from({ length: n }, () => r.rr());
  const answer = section(counts[1]);
  const authority = section(counts[2]);
  const additional: Rr[] = [];
  let lastAdditionalOffset = -1;
  for (let i = 0; i < counts[3]; i++) {
    lastAdditionalOffset = r.offset;
    additional.push(r.rr());
  }
  if (r.offset !== buf.length) throw bad(`${buf.length - r.offset} bytes after the last record`);
  return {
    message: {
      id, qr: (flags & 0x8000) !== 0, opcode: (flags >> 11) & 0xf, aa: (flags & 0x400) !== 0, tc: (flags & 0x200) !== 0,
      rd: (flags & 0x100) !== 0, rcode: flags & 0xf, question, answer, authority, additional,
    },
    lastAdditionalOffset,
  };
}

/** RDATA of an A (4 bytes) or AAAA (16 bytes) record from an address in text. */
export function addressRdata(address: string): { type: number; data: Uint8Array } {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) {
    const parts = address.split('.').map(Number);
    if (parts.every((p) => p <= 255)) return { type: TYPE.A, data: Uint8Array.from(parts) };
  } else if (address.includes(':')) {
    const halves = address.split('::');
    if (halves.length <= 2) {
      const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)));
      const head = groups(halves[0]!);
      const tail = halves.length === 2 ? groups(halves[1]!) : [];
      const fill = 8 - head.length - tail.length;
      const all = halves.length === 2 ? [...head, ...Array<number>(Math.max(fill, 0)).fill(0), ...tail] : head;
      if (all.length === 8 && all.every((g) => Number.isInteger(g)) && (halves.length === 1 || fill >= 1)) {
        const data = new Uint8Array(16);
        all.forEach((g, i) => { data[2 * i] = g >> 8; data[2 * i + 1] = g & 0xff; });
        return { type: TYPE.AAAA, data };
      }
    }
  }
  throw new FabricError('WGF_ERR_VALIDATION', `"${address}" is not an IPv4 or IPv6 address (no IPv4-mapped or zone forms)`, { field: 'address' });
}

/** The address in an A or AAAA record's RDATA, in canonical text (IPv6 per RFC 5952). */
export function addressOf(rr: Pick<Rr, 'type' | 'data'>): string {
  if (rr.type === TYPE.A && rr.data.length === 4) return [...rr.data].join('.');
  if (rr.type === TYPE.AAAA && rr.data.length === 16) {
    const g = Array.from({ length: 8 }, (_, i) => (rr.data[2 * i]! << 8) | rr.data[2 * i + 1]!);
    // the longest run of two or more zero groups becomes "::" (the first one on a tie)
    let best = -1, bestLen = 1;
    for (let i = 0; i < 8; i++) {
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i > bestLen) { best = i; bestLen = j - i; }
    }
    const hex = g.map((x) => x.toString(16));
    if (best < 0) return hex.join(':');
    return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
  }
  throw bad(`type ${rr.type} record with ${rr.data.length} bytes of RDATA is not an address`);
}
