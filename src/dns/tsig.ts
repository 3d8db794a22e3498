/**
 * TSIG (RFC 8945): signs requests and verifies the server's signed answers with a shared HMAC
 * key. Pure (the clock comes in as `timeSigned`), over node:crypto's HMAC. The MAC covers the
 * message without its TSIG record plus the TSIG variables in canonical form; an answer's MAC
 * also covers the request's MAC, so a reply can not be replayed onto another request.
 * HMAC-MD5 is not offered (RFC 8945 marks it deprecated); sha1 is accepted for old servers.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { FabricError } from '../protocol/errors.js';
import { CLASS, decodeMessage, encodeName, RCODE_NAMES, Reader, TYPE, Writer, type Decoded, type Rr } from './wire.js';

export const TSIG_ALGORITHMS = { 'hmac-sha1': 'sha1', 'hmac-sha224': 'sha224', 'hmac-sha256': 'sha256', 'hmac-sha384': 'sha384', 'hmac-sha512': 'sha512' } as const;
export type TsigAlgorithm = keyof typeof TSIG_ALGORITHMS;

/** A TSIG key: its name (as configured on the server), algorithm and secret. Never log `secret`. */
export interface TsigKey {
  readonly name: string;
  readonly algorithm: TsigAlgorithm;
  readonly secret: Uint8Array;
}

/** Default allowed clock difference between signer and verifier (RFC 8945 recommends 300 s). */
export const DEFAULT_FUDGE_S = 300;

interface TsigFields {
  readonly algorithm: string;
  readonly timeSigned: number;
  readonly fudge: number;
  readonly mac: Uint8Array;
  readonly originalId: number;
  readonly error: number;
  readonly other: Uint8Array;
}

function variables(keyName: string, f: Omit<TsigFields, 'mac' | 'originalId'>): Uint8Array {
  return new Writer().name(keyName).u16(CLASS.ANY).u32(0).name(f.algorithm).u48(f.timeSigned).u16(f.fudge).u16(f.error).u16(f.other.length).bytes(f.other).done();
}

function hmac(key: TsigKey, parts: readonly Uint8Array[]): Uint8Array {
  const h = createHmac(TSIG_ALGORITHMS[key.algorithm], key.secret);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

function prefixedMac(mac: Uint8Array): Uint8Array {
  return new Writer().u16(mac.length).bytes(mac).done();
}

/**
 * Appends a TSIG record to `message` (encoded, without TSIG) and bumps ARCOUNT. Returns the
 * signed bytes and the MAC (needed to verify the answer).
 */
export function signMessage(message: Uint8Array, key: TsigKey, timeSigned: number, fudge = DEFAULT_FUDGE_S): { bytes: Uint8Array; mac: Uint8Array } {
  if (message.length < 12) throw new FabricError('WGF_ERR_VALIDATION', 'a DNS message is at least 12 bytes');
  const fields = { algorithm: key.algorithm, timeSigned: Math.floor(timeSigned), fudge, error: 0, other: new Uint8Array(0) };
  const mac = hmac(key, [message, variables(key.name, fields)]);
  const originalId = (message[0]! << 8) | message[1]!;
  const rdata = new Writer().name(key.algorithm).u48(fields.timeSigned).u16(fudge).u16(mac.length).bytes(mac).u16(originalId).u16(0).u16(0).done();
  const rr: Rr = { name: key.name, type: TYPE.TSIG, class: CLASS.ANY, ttl: 0, data: rdata };
  const w = new Writer().bytes(message).rr(rr);
  const out = w.done();
  const arcount = ((out[10]! << 8) | out[11]!) + 1;
  out[10] = arcount >> 8;
  out[11] = arcount & 0xff;
  return { bytes: out, mac };
}

function parseTsig(rr: Rr): TsigFields {
  const r = new Reader(rr.data);
  const algorithm = r.name();
  const timeSigned = r.u48();
  const fudge = r.u16();
  const mac = r.bytes(r.u16());
  const originalId = r.u16();
  const error = r.u16();
  const other = r.bytes(r.u16());
  return { algorithm, timeSigned, fudge, mac, originalId, error, other };
}

/** What verifyAnswer found: the decoded answer, signed (and verified) or not signed at all. */
export interface VerifiedAnswer extends Decoded {
  readonly signed: boolean;
}

/**
 * Verifies a TSIG-signed answer to a request whose MAC was `requestMac`.
 * - Signed and the MAC, key name, algorithm and time (within the fudge of `now`) check out:
 *   returns it with signed: true.
 * - Signed by the server with a TSIG error (BADSIG, BADKEY, BADTIME): WGF_ERR_DNS_REFUSED naming it.
 * - Not signed: only acceptable when the server refused without looking at our key (RFC 8945
 *   5.3: a server answers an unknown key or bad MAC unsigned, with rcode NOTAUTH): returns it
 *   with signed: false, and the caller must treat it as an error. A NOERROR answer without a
 *   signature is WGF_ERR_DNS_BAD_REPLY (a forged "success" must never count).
 * - A signature that does not verify: WGF_ERR_DNS_BAD_REPLY.
 */
export function verifyAnswer(bytes: Uint8Array, key: TsigKey, requestMac: Uint8Array, now: number): VerifiedAnswer {
  const decoded = decodeMessage(bytes);
  const m = decoded.message;
  const last = m.additional[m.additional.length - 1];
  if (!last || last.type !== TYPE.TSIG) {
    if (m.rcode === 0) throw new FabricError('WGF_ERR_DNS_BAD_REPLY', 'the DNS server answered without a TSIG signature', { rcode: 'NOERROR' });
    return { ...decoded, signed: false };
  }
  const t = parseTsig(last);
  if (t.error !== 0) {
    const name = RCODE_NAMES[t.error] ?? String(t.error);
    throw new FabricError('WGF_ERR_DNS_REFUSED', `the DNS server rejected the TSIG signature: ${name}${t.error === 18 ? ' (clocks differ by more than the fudge)' : t.error === 17 ? ' (unknown key name or algorithm)' : ''}`, { rcode: name });
  }
  if (last.name !== key.name.toLowerCase().replace(/\.$/, '') || t.algorithm !== key.algorithm) {
    throw new FabricError('WGF_ERR_DNS_BAD_REPLY', `the answer is signed with key ${last.name} (${t.algorithm}), not ${key.name} (${key.algorithm})`);
  }
  // The answer as it was before the TSIG record was added: without it, ARCOUNT one less, original ID.
  const unsigned = bytes.slice(0, decoded.lastAdditionalOffset);
  const arcount = m.additional.length - 1;
  unsigned[10] = arcount >> 8;
  unsigned[11] = arcount & 0xff;
  unsigned[0] = t.originalId >> 8;
  unsigned[1] = t.originalId & 0xff;
  const expected = hmac(key, [prefixedMac(requestMac), unsigned, variables(key.name, t)]);
  if (t.mac.length !== expected.length || !timingSafeEqual(t.mac, expected)) {
    throw new FabricError('WGF_ERR_DNS_BAD_REPLY', 'the TSIG signature of the DNS answer does not verify');
  }
  if (Math.abs(Math.floor(now) - t.timeSigned) > t.fudge) {
    throw new FabricError('WGF_ERR_DNS_BAD_REPLY', `the DNS answer was signed at ${t.timeSigned}, more than ${t.fudge} s from our clock (${Math.floor(now)})`);
  }
  return { ...decoded, signed: true };
}

/** The one-line form `[algorithm:]name:secret` (kdig/knsupdate -y). */
function parseOneLine(text: string): { algorithm?: string; name: string; secret: string } | undefined {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#') && !l.startsWith(';') && !l.startsWith('//'));
  if (!line) return undefined;
  const parts = line.split(':');
  if (parts.length === 2) return { name: parts[0]!, secret: parts[1]! };
  if (parts.length === 3) return { algorithm: parts[0]!, name: parts[1]!, secret: parts[2]! };
  return undefined;
}

/**
 * A TSIG key from the text of a key file, in any of the forms the Debian DNS tools write:
 * BIND's `key "name" { algorithm hmac-sha256; secret "…"; };` (tsig-keygen, knsupdate -k),
 * Knot's YAML (`keymgr -t`: `id:`, `algorithm:`, `secret:`), or one line
 * `[algorithm:]name:secret` (kdig -y). The algorithm defaults to hmac-sha256. Errors are
 * WGF_ERR_VALIDATION naming `file` and never quoting the secret.
 */
export function parseTsigKey(text: string, file = 'the key file'): TsigKey {
  let name: string | undefined, algorithm: string | undefined, secret: string | undefined;
  const bind = /key\s+"?([^"\s{]+)"?\s*\{([^}]*)\}/i.exec(text);
  const yamlId = /^\s*-?\s*id:\s*(\S+)\s*$/m.exec(text);
  if (bind) {
    name = bind[1];
    algorithm = /algorithm\s+"?([a-z0-9-]+)"?\s*;/i.exec(bind[2]!)?.[1];
    secret = /secret\s+"([^"]+)"\s*;/i.exec(bind[2]!)?.[1];
  } else if (yamlId) {
    name = yamlId[1];
    algorithm = /^\s*algorithm:\s*(\S+)\s*$/m.exec(text)?.[1];
    secret = /^\s*secret:\s*(\S+)\s*$/m.exec(text)?.[1];
  } else {
    const one = parseOneLine(text);
    if (one) ({ name, algorithm, secret } = one);
  }
  const invalid = (why: string) => new FabricError('WGF_ERR_VALIDATION', `${file}: ${why}`, { field: 'tsigKeyFile' });
  if (!name || !secret) {
    throw invalid('no TSIG key found; write `key "NAME" { algorithm hmac-sha256; secret "BASE64"; };` (tsig-keygen), Knot\'s `keymgr -t NAME` output, or one line hmac-sha256:NAME:BASE64');
  }
  const alg = (algorithm ?? 'hmac-sha256').toLowerCase();
  if (!(alg in TSIG_ALGORITHMS)) throw invalid(`TSIG algorithm "${alg}" is not supported (use one of ${Object.keys(TSIG_ALGORITHMS).join(', ')})`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(secret) || secret.length % 4 !== 0) throw invalid('the TSIG secret is not base64');
  const bytes = new Uint8Array(Buffer.from(secret, 'base64'));
  if (bytes.length < 16) throw invalid(`the TSIG secret is ${bytes.length} bytes; use at least 16 (tsig-keygen and keymgr -t make 32)`);
  try {
    encodeName(name);
  } catch {
    throw invalid(`TSIG key name "${name}" is not a valid DNS name`);
  }
  return { name: name.toLowerCase().replace(/\.$/, ''), algorithm: alg as TsigAlgorithm, secret: bytes };
}
