import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { FabricError } from '../protocol/errors.js';

/** A WireGuard key (Curve25519 scalar or point): exactly 32 bytes. */
export type Key = Uint8Array;

export const KEY_LEN = 32;

// DER prefixes of PKCS#8 / SPKI wrappers for raw X25519 keys (RFC 8410).
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

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
  const spki = createPublicKey(privateKeyObject(privateKey)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_X25519.length));
}

/** X25519(privateKey, publicKey). Throws WGF_ERR_WEAK_KEY when the result is all zero. */
export function sharedSecret(privateKey: Key, publicKey: Key): Key {
  assertLength(privateKey, 'private key');
  assertLength(publicKey, 'public key');
  let out: Buffer;
  try {
    out = diffieHellman({ privateKey: privateKeyObject(privateKey), publicKey: publicKeyObject(publicKey) });
  } catch (e) {
    // OpenSSL refuses X25519 results that are all zero (low-order input points).
    throw new FabricError('WGF_ERR_WEAK_KEY', 'public key is of low order', undefined, { cause: e });
  }
  if (isZero(out)) throw new FabricError('WGF_ERR_WEAK_KEY', 'public key is of low order');
  return new Uint8Array(out);
}

export function privateKeyObject(privateKey: Key): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519, privateKey]), format: 'der', type: 'pkcs8' });
}

export function publicKeyObject(publicKey: Key): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_X25519, publicKey]), format: 'der', type: 'spki' });
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
  throw new FabricError('WGF_ERR_INVALID_KEY', `${what} is not a 32-byte key in base64 (44 chars) or hex (64 chars)`, {
    length: s.length,
  });
}

// A fixed scalar for the low-order test: X25519(k, P) is all-zero exactly when P is of low
// order (order 1, 2, 4 or 8), because every clamped scalar is a multiple of the cofactor 8.
const PROBE_SCALAR = (() => {
  const k = new Uint8Array(KEY_LEN).fill(0x5a);
  clamp(k);
  return k;
})();

/**
 * Parses and validates a public key: 32 bytes, not all-zero and not of low order (such keys
 * make every shared secret predictable). Throws WGF_ERR_INVALID_KEY or WGF_ERR_WEAK_KEY.
 */
export function parsePublicKey(text: string, what = 'public key'): Key {
  const key = parseKey(text, what);
  assertStrongPublicKey(key, what);
  return key;
}

export function assertStrongPublicKey(key: Key, what = 'public key'): void {
  assertLength(key, what);
  if (isZero(key)) throw new FabricError('WGF_ERR_WEAK_KEY', `${what} is all zero`);
  try {
    sharedSecret(PROBE_SCALAR, key);
  } catch (e) {
    if (e instanceof FabricError) throw new FabricError('WGF_ERR_WEAK_KEY', `${what} is of low order`);
    throw e;
  }
}

/** Normalises any accepted form to canonical base64, validating it as a public key. */
export function canonicalPublicKey(text: string, what = 'public key'): string {
  return toBase64(parsePublicKey(text, what));
}

export function clamp(k: Uint8Array): void {
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
}

function isZero(b: Uint8Array): boolean {
  let acc = 0;
  for (const x of b) acc |= x;
  return acc === 0;
}

function assertLength(k: Uint8Array, what: string): void {
  if (!(k instanceof Uint8Array) || k.length !== KEY_LEN) {
    throw new FabricError('WGF_ERR_INVALID_KEY', `${what} must be exactly ${KEY_LEN} bytes`);
  }
}
