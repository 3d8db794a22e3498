/**
 * X25519 for the handshake hot path. keys.ts converts raw bytes to OpenSSL key objects
 * through DER on every call, which costs more than the Diffie-Hellman itself (about 1k
 * sharedSecret calls/s against 17k raw operations/s here). This module keeps key objects:
 * a static private key is imported once, fresh ephemeral keys are generated as key objects,
 * and peer public keys go through the cheap JWK path (about 40k imports/s).
 */
import { createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { FabricError } from '../protocol/errors.js';
import { clamp, KEY_LEN, privateKeyObject, publicKeyOf, type Key } from './keys.js';

/** A private key as an OpenSSL key object, with its raw public key. */
export interface PrivateKey {
  readonly object: KeyObject;
  readonly publicKey: Key;
}

/** Imports a raw private key (slow path: once per static key, or for injected test randomness). */
export function importPrivateKey(raw: Key): PrivateKey {
  if (raw.length !== KEY_LEN) throw new FabricError('WGF_ERR_INVALID_KEY', `private key must be exactly ${KEY_LEN} bytes`);
  return { object: privateKeyObject(raw), publicKey: publicKeyOf(raw) };
}

/**
 * A fresh ephemeral key pair. With `random` (tests), the key is 32 random bytes, clamped,
 * imported through the slow path; without, OpenSSL generates it directly.
 */
export function generateEphemeral(random?: (n: number) => Uint8Array): PrivateKey {
  if (random) {
    const raw = random(KEY_LEN).slice();
    clamp(raw);
    return importPrivateKey(raw);
  }
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { object: privateKey, publicKey: fromJwk(publicKey) };
}

/** Imports a 32-byte public key (any value: low-order points are caught by dh()). */
export function importPublicKey(raw: Key): KeyObject {
  if (raw.length !== KEY_LEN) throw new FabricError('WGF_ERR_INVALID_KEY', `public key must be exactly ${KEY_LEN} bytes`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
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

function fromJwk(k: KeyObject): Key {
  return new Uint8Array(Buffer.from(k.export({ format: 'jwk' }).x!, 'base64url'));
}

