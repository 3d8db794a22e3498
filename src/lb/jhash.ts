/**
 * Bob Jenkins' lookup3 hash exactly as the Linux kernel implements it (include/linux/jhash.h),
 * which is what nftables' `jhash` expression computes. Having it here lets user space predict
 * the slot the kernel picks for a flow (see flowHash in maglev.ts). Words are read
 * little-endian, as on x86-64 and arm64 (`__get_unaligned_cpu32`); big-endian hosts differ.
 */

const JHASH_INITVAL = 0xdeadbeef;

function rol32(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/**
 * jhash(key, key.length, seed) of the kernel, as an unsigned 32-bit integer.
 * Contract: identical to the kernel for every key length on a little-endian host.
 */
export function jhash(key: Uint8Array, seed: number): number {
  let length = key.length;
  let a = (JHASH_INITVAL + length + (seed >>> 0)) >>> 0;
  let b = a;
  let c = a;
  let k = 0;
  const u32 = (i: number): number => (key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24)) >>> 0;
  while (length > 12) {
    a = (a + u32(k)) >>> 0;
    b = (b + u32(k + 4)) >>> 0;
    c = (c + u32(k + 8)) >>> 0;
    // __jhash_mix
    a = ((a - c) ^ rol32(c, 4)) >>> 0; c = (c + b) >>> 0;
    b = ((b - a) ^ rol32(a, 6)) >>> 0; a = (a + c) >>> 0;
    c = ((c - b) ^ rol32(b, 8)) >>> 0; b = (b + a) >>> 0;
    a = ((a - c) ^ rol32(c, 16)) >>> 0; c = (c + b) >>> 0;
    b = ((b - a) ^ rol32(a, 19)) >>> 0; a = (a + c) >>> 0;
    c = ((c - b) ^ rol32(b, 4)) >>> 0; b = (b + a) >>> 0;
    length -= 12;
    k += 12;
  }
  if (length === 0) return c;
  // The tail: bytes are added little-endian into a, b, c (the kernel's fall-through switch).
  const tail = [0, 0, 0];
  for (let i = 0; i < length; i++) tail[i >> 2]! += key[k + i]! * 2 ** (8 * (i & 3));
  a = (a + tail[0]!) >>> 0;
  b = (b + tail[1]!) >>> 0;
  c = (c + tail[2]!) >>> 0;
  // __jhash_final
  c = ((c ^ b) - rol32(b, 14)) >>> 0;
  a = ((a ^ c) - rol32(c, 11)) >>> 0;
  b = ((b ^ a) - rol32(a, 25)) >>> 0;
  c = ((c ^ b) - rol32(b, 16)) >>> 0;
  a = ((a ^ c) - rol32(c, 4)) >>> 0;
  b = ((b ^ a) - rol32(a, 14)) >>> 0;
  c = ((c ^ b) - rol32(b, 24)) >>> 0;
  return c;
}

/**
 * The kernel's reciprocal_scale(hash, n) = (hash * n) >> 32: maps a uniform 32-bit hash to
 * 0..n-1. This, not `hash % n`, is what nftables' `jhash ... mod n` does. n must be < 2^32.
 */
export function reciprocalScale(hash: number, n: number): number {
  // Split the 32-bit hash so every intermediate stays an exact double (< 2^53).
  const hi = hash >>> 16;
  const lo = hash & 0xffff;
  return Math.floor((hi * n + Math.floor((lo * n) / 65536)) / 65536);
}
