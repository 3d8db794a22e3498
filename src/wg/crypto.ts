/**
 * The symmetric primitives of the WireGuard protocol, named as in the whitepaper (section 5.4):
 * HASH, MAC, HMAC, KDF1..3, AEAD, XAEAD and TAI64N. Pure functions over Uint8Array.
 *
 * Node's crypto covers BLAKE2s-256, HMAC-BLAKE2s and ChaCha20-Poly1305 natively; keyed
 * BLAKE2s with a 16-byte output and XChaCha20-Poly1305 come from @noble.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';

/** Length of HASH outputs, chaining keys and AEAD keys. */
export const HASH_LEN = 32;
/** Length of MAC outputs (mac1, mac2, cookies) and of AEAD tags. */
export const MAC_LEN = 16;
export const TAG_LEN = 16;
export const XNONCE_LEN = 24;
export const TAI64N_LEN = 12;

/** HASH(parts...) = BLAKE2s-256 over the concatenation of `parts`. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('blake2s256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** MAC(key, parts...) = keyed BLAKE2s with a 16-byte output (not a truncated 32-byte one). */
export function mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = blake2s.create({ key, dkLen: MAC_LEN });
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HMAC(key, parts...) = HMAC-BLAKE2s-256. */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac('blake2s256', key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

/** KDF1(key, input): the first HKDF output (HMAC-BLAKE2s, empty info). */
export function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  return hmac(hmac(key, input), ONE);
}

/** KDF2(key, input): the first two HKDF outputs. */
export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const prk = hmac(key, input);
  const t1 = hmac(prk, ONE);
  return [t1, hmac(prk, t1, TWO)];
}

/** KDF3(key, input): the first three HKDF outputs. */
export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const prk = hmac(key, input);
  const t1 = hmac(prk, ONE);
  const t2 = hmac(prk, t1, TWO);
  return [t1, t2, hmac(prk, t2, THREE)];
}

/** The 12-byte ChaCha20-Poly1305 nonce WireGuard uses: 4 zero bytes, then the counter as u64 LE. */
export function counterNonce(counter: bigint): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64LE(counter, 4);
  return n;
}

/** AEAD(key, counter, plaintext, ad) = ChaCha20-Poly1305; returns ciphertext || 16-byte tag. */
export function aeadSeal(key: Uint8Array, counter: bigint, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, counterNonce(counter), { authTagLength: TAG_LEN });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const out = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Opens an AEAD box; returns the plaintext, or null when the tag does not verify. */
export function aeadOpen(key: Uint8Array, counter: bigint, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  if (sealed.length < TAG_LEN) return null;
  const body = sealed.subarray(0, sealed.length - TAG_LEN);
  const d = createDecipheriv('chacha20-poly1305', key, counterNonce(counter), { authTagLength: TAG_LEN });
  d.setAAD(ad, { plaintextLength: body.length });
  d.setAuthTag(sealed.subarray(sealed.length - TAG_LEN));
  try {
    const out = Buffer.concat([d.update(body), d.final()]);
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  } catch {
    return null;
  }
}

/** XAEAD(key, nonce24, plaintext, ad) = XChaCha20-Poly1305; returns ciphertext || tag. */
export function xaeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  return xchacha20poly1305(key, nonce, ad).encrypt(plaintext);
}

/** Opens an XAEAD box; returns the plaintext, or null when the tag does not verify. */
export function xaeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  if (sealed.length < TAG_LEN || nonce.length !== XNONCE_LEN) return null;
  try {
    return xchacha20poly1305(key, nonce, ad).decrypt(sealed);
  } catch {
    return null;
  }
}

// TAI64 label of the Unix epoch: 2^62 + 10 (the TAI-UTC offset fixed in 1970).
const TAI64_EPOCH = (1n << 62n) + 10n;

/**
 * TAI64N(unixNanos): 8 bytes big-endian seconds (2^62 + 10 + unix seconds), then 4 bytes
 * big-endian nanoseconds. Strictly increasing input gives strictly increasing output
 * (bytewise comparison), which is what a responder checks for replay.
 */
export function tai64n(unixNanos: bigint): Uint8Array {
  if (unixNanos < 0n) throw new RangeError('time before the Unix epoch');
  const out = Buffer.alloc(TAI64N_LEN);
  out.writeBigUInt64BE(TAI64_EPOCH + unixNanos / 1_000_000_000n, 0);
  out.writeUInt32BE(Number(unixNanos % 1_000_000_000n), 8);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Constant-time equality for MACs and tags (false when the lengths differ). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Lexicographic byte comparison (negative, zero, positive), used for TAI64N ordering. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}
