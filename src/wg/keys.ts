import { randomBytes } from 'node:crypto';
import { FabricError } from '../protocol/errors.js';
import { clamp, dh, importPrivateKey, importPublicKey, KEY_LEN, type Key } from './x25519.js';

// The curve arithmetic lives in x25519.ts; this module is the raw-bytes and text face of keys.
export { clamp, KEY_LEN, type Key };

export interface KeyPair {
  readonly privateKey: Key;
  readonly publicKey: Key;
}

/** A fresh private key, clamped as wg(8) genkey does. */
export function generatePrivateKey(): Key {
  const k = new Uint8Array(randomBytes(KEY_LEN));
  clamp(k);
  return k;
}

export function generateKeyPair(): KeyPair {
  const privateKey = generatePrivateKey();
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}

/** Derives the public key (X25519 base point multiplication). */
export function publicKeyOf(privateKey: Key): Key {
  assertLength(privateKey, 'private key');
  return importPrivateKey(privateKey).publicKey.slice();
}

/** X25519(privateKey, publicKey). Throws WGF_ERR_WEAK_KEY when the result is all zero. */
export function sharedSecret(privateKey: Key, publicKey: Key): Key {
  assertLength(privateKey, 'private key');
  assertLength(publicKey, 'public key');
  return dh(importPrivateKey(privateKey).object, importPublicKey(publicKey));
}

export function toBase64(key: Key): string {
  return Buffer.from(key).toString('base64');
}

export function toHex(key: Key): string {
  return Buffer.from(key).toString('hex');
}

const B64_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const HEX_RE = /^[0-9a-fA-F]{64}$/;

/**
 * Parses a key in base64 (44 chars, as wg(8) prints) or hex (64 chars, as UAPI uses).
 * Throws WGF_ERR_INVALID_KEY with the reason otherwise.
 */
export function parseKey(text: string, what = 'key'): Key {
  if (typeof text !== 'string') throw new FabricError('WGF_ERR_INVALID_KEY', `${what} must be a string`);
  const s = text.trim();
  if (B64_RE.test(s)) return new Uint8Array(Buffer.from(s, 'base64'));
  if (HEX_RE.test(s)) return new Uint8Array(Buffer.from(s, 'hex'));
  throw new FabricError('WGF_ERR_INVALID_KEY', `${what} ${whyNotAKey(s)}`, { length: s.length });
}

/**
 * Why `s` is not a key, told apart so the message points at the real mistake (wrong length,
 * wrong content, a config line, URL-safe base64). Never echoes the text: it may be a secret.
 */
export function whyNotAKey(s: string): string {
  const line = /^\s*(PrivateKey|PublicKey|PresharedKey)\s*=/i.exec(s);
  if (line) return `is a whole "${line[1]} = ..." line: give only the key after the "="`;
  if (/^[A-Za-z0-9_-]{43}=$/.test(s) && /[-_]/.test(s)) return 'uses URL-safe base64 ("-" and "_"); WireGuard keys use the standard alphabet ("+" and "/")';
  if (s.length === 44) {
    const bad = [...s].findIndex((c) => !/[A-Za-z0-9+/=]/.test(c));
    if (bad >= 0) return `has the right length (44) but a character that is not base64 at position ${bad + 1}`;
    return 'has the right length (44) but is not the base64 of 32 bytes (it must end in "=" after a character from A E I M Q U Y c g k o s w 0 4 8): a typo or a damaged copy';
  }
  if (/^[0-9a-fA-F]+$/.test(s) && s.length !== 64) return `looks like hex but has ${s.length} digits; a hex key has 64`;
  if (s.length === 64) return 'has the length of a hex key (64) but contains characters other than 0-9 and a-f';
  return `is ${s.length} characters long; a key is 32 bytes: 44 characters of base64 (as wg genkey/pubkey/genpsk print) or 64 of hex`;
}

/**
 * The u-coordinates whose X25519 result is all-zero for every scalar: the points of order
 * 1, 2, 4 and 8 and their non-canonical encodings (libsodium's `has_small_order` list).
 * X25519 ignores bit 255, so it is masked before comparing. keys.low-order.test.ts checks the
 * list against a real X25519 (x25519SaysLowOrder) on these and random keys.
 */
const LOW_ORDER: readonly Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000', // 0
  '0100000000000000000000000000000000000000000000000000000000000000', // 1
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', // order 8
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', // order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p - 1
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p (= 0)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p + 1 (= 1)
].map((h) => new Uint8Array(Buffer.from(h, 'hex')));

/**
 * Canonical base64 of every 32-byte value isLowOrderPoint refuses (each listed point with bit
 * 255 clear and set): a key already known to be canonical base64 is checked by one lookup,
 * without decoding it (bulk paths; public keys are no secret).
 */
export const LOW_ORDER_BASE64: ReadonlySet<string> = new Set(LOW_ORDER.flatMap((p) => [0, 0x80].map((high) => {
  const b = Buffer.from(p);
  b[31] = (b[31]! & 0x7f) | high;
  return b.toString('base64');
})));

/** True when `key` is all-zero or of low order (every shared secret with it is predictable). Constant time per entry. */
export function isLowOrderPoint(key: Key): boolean {
  if (key.length !== KEY_LEN) return false;
  let found = 0;
  for (const bad of LOW_ORDER) {
    let diff = (key[31]! & 0x7f) ^ bad[31]!;
    for (let i = 0; i < 31; i++) diff |= key[i]! ^ bad[i]!;
    found |= diff === 0 ? 1 : 0;
  }
  return found === 1;
}

// A fixed clamped scalar: X25519(k, P) is all-zero exactly when P is of low order, because
// every clamped scalar is a multiple of the cofactor 8.
const PROBE_SCALAR = (() => {
  const k = new Uint8Array(KEY_LEN).fill(0x5a);
  clamp(k);
  return k;
})();

/** The slow reference for isLowOrderPoint (one X25519, ~0.5 ms); used by tests to cross-check the table. */
export function x25519SaysLowOrder(key: Key): boolean {
  try {
    sharedSecret(PROBE_SCALAR, key);
    return false;
  } catch (e) {
    if (e instanceof FabricError && e.code === 'WGF_ERR_WEAK_KEY') return true;
    throw e;
  }
}

/**
 * Parses and validates a public key: 32 bytes, not all-zero and not of low order (such keys
 * make every shared secret predictable). Throws WGF_ERR_INVALID_KEY or WGF_ERR_WEAK_KEY; the
 * message never contains the key. Fast enough for bulk paths (50k peers).
 */
export function parsePublicKey(text: string, what = 'public key'): Key {
  const key = parseKey(text, what);
  assertStrongPublicKey(key, what);
  return key;
}

export function assertStrongPublicKey(key: Key, what = 'public key'): void {
  assertLength(key, what);
  if (isLowOrderPoint(key)) throw new FabricError('WGF_ERR_WEAK_KEY', `${what} is all zero or of low order`);
}

/** Normalises any accepted form to canonical base64, validating it as a public key. */
export function canonicalPublicKey(text: string, what = 'public key'): string {
  return toBase64(parsePublicKey(text, what));
}

function assertLength(k: Uint8Array, what: string): void {
  if (!(k instanceof Uint8Array) || k.length !== KEY_LEN) {
    throw new FabricError('WGF_ERR_INVALID_KEY', `${what} must be exactly ${KEY_LEN} bytes`);
  }
}
