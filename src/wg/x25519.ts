/**
 * X25519 through OpenSSL (node:crypto): the one home of the curve arithmetic. keys.ts (raw
 * bytes in and out) and the handshake (noise.ts, which keeps key objects) both go through it.
 *
 * Importing raw bytes is the costly part, not the Diffie-Hellman: the DER (PKCS#8 / SPKI)
 * import runs OpenSSL's decoder chain (about 1.4k private keys/s here against 10k X25519
 * operations/s), the JWK import does not (about 12k private and 55k public keys/s). On top,
 * the key objects of raw keys seen before are kept beside their Uint8Array (a WeakMap, checked
 * byte for byte on every hit), so a static key used again, as a node's pool key or a client's
 * key is, costs one X25519 and nothing else: Node's native speed (bench/handshake.ts).
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { FabricError } from '../protocol/errors.js';

/** A WireGuard key (Curve25519 scalar or point): exactly 32 bytes. */
export type Key = Uint8Array;

export const KEY_LEN = 32;

/** A private key as an OpenSSL key object, with its raw public key. */
export interface PrivateKey {
  readonly object: KeyObject;
  readonly publicKey: Key;
}

/** Clamps a scalar in place, as wg(8) genkey does (X25519 clamps anyway; wg prints it clamped). */
export function clamp(k: Uint8Array): void {
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
}

interface Cached<T> { readonly bytes: Buffer; readonly value: T }

/** Key objects by the caller's array; the copy catches an array changed in place since. */
function memo<T>(make: (raw: Key) => T): (raw: Key) => T {
  const seen = new WeakMap<Key, Cached<T>>();
  return (raw) => {
    const hit = seen.get(raw);
    if (hit && timingSafeEqual(hit.bytes, raw)) return hit.value;
    const value = make(raw);
    seen.set(raw, { bytes: Buffer.from(raw), value });
    return value;
  };
}

function assertKey(raw: unknown, what: string): asserts raw is Key {
  if (!(raw instanceof Uint8Array) || raw.length !== KEY_LEN) {
    throw new FabricError('WGF_ERR_INVALID_KEY', `${what} must be exactly ${KEY_LEN} bytes`);
  }
}

const b64url = (raw: Uint8Array): string => Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('base64url');

const importPrivate = memo((raw: Key): PrivateKey => {
  // Node derives the public half from `d` and only checks that `x` is a string.
  const object = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(raw), x: '' }, format: 'jwk' });
  return { object, publicKey: publicHalf(object) };
});

const importPublic = memo((raw: Key): KeyObject =>
  createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(raw) }, format: 'jwk' }));

/** Imports a raw private key (any 32 bytes; X25519 clamps it). */
export function importPrivateKey(raw: Key): PrivateKey {
  assertKey(raw, 'private key');
  return importPrivate(raw);
}

/** Imports a 32-byte public key (any value: low-order points are caught by dh()). */
export function importPublicKey(raw: Key): KeyObject {
  assertKey(raw, 'public key');
  return importPublic(raw);
}

/**
 * A fresh ephemeral key pair. With `random` (tests), the key is 32 random bytes, clamped;
 * without, OpenSSL generates it directly as a key object.
 */
export function generateEphemeral(random?: (n: number) => Uint8Array): PrivateKey {
  if (random) {
    const raw = random(KEY_LEN).slice();
    clamp(raw);
    return importPrivateKey(raw);
  }
  const { privateKey } = generateKeyPairSync('x25519');
  return { object: privateKey, publicKey: publicHalf(privateKey) };
}

/** X25519(private, public). Throws WGF_ERR_WEAK_KEY when the result would be all zero. */
export function dh(privateKey: KeyObject, publicKey: KeyObject): Uint8Array {
  let out: Buffer;
  try {
    out = diffieHellman({ privateKey, publicKey });
  } catch (e) {
    // OpenSSL refuses to derive an all-zero secret (a low-order public key).
    throw new FabricError('WGF_ERR_WEAK_KEY', 'public key is of low order', undefined, { cause: e });
  }
  let acc = 0;
  for (const b of out) acc |= b;
  if (acc === 0) throw new FabricError('WGF_ERR_WEAK_KEY', 'public key is of low order');
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

function publicHalf(privateKey: KeyObject): Key {
  return new Uint8Array(Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x!, 'base64url'));
}
