/**
 * BLAKE2s (RFC 7693) with its compression function exposed, for what a streaming hash object
 * cannot give: the chaining value after the key block of a keyed BLAKE2s. That value depends on
 * the key and the output length only, so a verifier that sees many messages under one key (the
 * LB's BPF program checking mac1) compresses the key once, here, and only the message blocks
 * per packet. HASH and MAC of the protocol stay in crypto.ts (Node and @noble); this file is
 * held to them and to the RFC's vectors by blake2s.test.ts.
 */

const IV = Uint32Array.of(0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19);
const SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
] as const;

const ror = (x: number, n: number): number => ((x >>> n) | (x << (32 - n))) >>> 0;

/**
 * One compression (RFC 7693 section 3.2, function F): mixes the 64-byte block at `block` into
 * the chaining value `h` (8 words, changed in place). `t` is the byte count so far including
 * this block (< 2^53), `last` marks the final block.
 */
export function compress(h: Uint32Array, block: Uint8Array, t: number, last: boolean): void {
  if (h.length !== 8 || block.length !== 64) throw new RangeError('compress takes 8 state words and a 64-byte block');
  const m = new Uint32Array(16);
  for (let i = 0; i < 16; i++) m[i] = (block[4 * i]! | block[4 * i + 1]! << 8 | block[4 * i + 2]! << 16 | block[4 * i + 3]! << 24) >>> 0;
  const v = new Uint32Array(16);
  v.set(h);
  v.set(IV, 8);
  v[12] = (v[12]! ^ (t >>> 0)) >>> 0;
  v[13] = (v[13]! ^ Math.floor(t / 2 ** 32)) >>> 0;
  if (last) v[14] = ~v[14]! >>> 0;
  const g = (a: number, b: number, c: number, d: number, x: number, y: number): void => {
    v[a] = v[a]! + v[b]! + x;
    v[d] = ror(v[d]! ^ v[a]!, 16);
    v[c] = v[c]! + v[d]!;
    v[b] = ror(v[b]! ^ v[c]!, 12);
    v[a] = v[a]! + v[b]! + y;
    v[d] = ror(v[d]! ^ v[a]!, 8);
    v[c] = v[c]! + v[d]!;
    v[b] = ror(v[b]! ^ v[c]!, 7);
  };
  for (const s of SIGMA) {
    g(0, 4, 8, 12, m[s[0]]!, m[s[1]]!);
    g(1, 5, 9, 13, m[s[2]]!, m[s[3]]!);
    g(2, 6, 10, 14, m[s[4]]!, m[s[5]]!);
    g(3, 7, 11, 15, m[s[6]]!, m[s[7]]!);
    g(0, 5, 10, 15, m[s[8]]!, m[s[9]]!);
    g(1, 6, 11, 12, m[s[10]]!, m[s[11]]!);
    g(2, 7, 8, 13, m[s[12]]!, m[s[13]]!);
    g(3, 4, 9, 14, m[s[14]]!, m[s[15]]!);
  }
  for (let i = 0; i < 8; i++) h[i] = (h[i]! ^ v[i]! ^ v[i + 8]!) >>> 0;
}

function check(outLen: number, key: Uint8Array): void {
  if (!Number.isInteger(outLen) || outLen < 1 || outLen > 32) throw new RangeError('BLAKE2s output length must be 1..32 bytes');
  if (key.length > 32) throw new RangeError('BLAKE2s key must be at most 32 bytes');
}

/** The initial chaining value for an output length and key length (parameter block word 0). */
function initial(outLen: number, keyLen: number): Uint32Array {
  const h = IV.slice();
  h[0] = (h[0]! ^ 0x01010000 ^ (keyLen << 8) ^ outLen) >>> 0;
  return h;
}

/**
 * The chaining value of keyed BLAKE2s (key of 1..32 bytes, output outLen bytes) after its key
 * block, i.e. after compressing the zero-padded key with t = 64 (not final: valid for every
 * non-empty message). 8 words.
 */
export function keyBlockState(key: Uint8Array, outLen: number): Uint32Array {
  check(outLen, key);
  if (key.length === 0) throw new RangeError('keyBlockState needs a key');
  const h = initial(outLen, key.length);
  const block = new Uint8Array(64);
  block.set(key);
  compress(h, block, 64, false);
  return h;
}

/** BLAKE2s(key, msg) with an outLen-byte output (RFC 7693; key may be empty = unkeyed). */
export function blake2s(msg: Uint8Array, outLen = 32, key: Uint8Array = new Uint8Array(0)): Uint8Array {
  check(outLen, key);
  const h = initial(outLen, key.length);
  const data = new Uint8Array((key.length > 0 ? 64 : 0) + msg.length);
  data.set(key);
  data.set(msg, key.length > 0 ? 64 : 0);
  const blocks = Math.max(1, Math.ceil(data.length / 64));
  for (let i = 0; i < blocks; i++) {
    const block = new Uint8Array(64);
    block.set(data.subarray(64 * i, 64 * i + 64));
    const last = i === blocks - 1;
    compress(h, block, last ? data.length : 64 * (i + 1), last);
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) new DataView(out.buffer).setUint32(4 * i, h[i]!, true);
  return out.slice(0, outLen);
}
