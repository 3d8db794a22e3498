import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { blake2s as nobleBlake2s } from '@noble/hashes/blake2.js';
import { blake2s, compress, keyBlockState } from './blake2s.js';
import { mac } from './crypto.js';
import { parseKey } from './keys.js';
import { mac1Key } from './macs.js';
import { seededRandom } from './testing/rng.js';
import { WIREGUARD_GO_INITIATION_HEX, WIREGUARD_GO_SERVER_PUBLIC_KEY } from './testing/wireguard-go-initiation.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const random = seededRandom(7715);

/** RFC 7693 appendix E: the deterministic byte sequence of the self-test. */
function selftestSeq(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let a = Math.imul(0xdead4bad, seed) >>> 0;
  let b = 1;
  for (let i = 0; i < len; i++) {
    const t = (a + b) >>> 0;
    a = b;
    b = t;
    out[i] = (t >>> 24) & 0xff;
  }
  return out;
}

describe('BLAKE2s (RFC 7693)', () => {
  test('appendix B: BLAKE2s-256("abc")', () => {
    assert.equal(hex(blake2s(new TextEncoder().encode('abc'))), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  });

  test('appendix E self-test: the grand hash over keyed and unkeyed hashes of every length', () => {
    const parts: Uint8Array[] = [];
    for (const outLen of [16, 20, 28, 32]) {
      for (const inLen of [0, 3, 64, 65, 255, 1024]) {
        const input = selftestSeq(inLen, inLen);
        parts.push(blake2s(input, outLen));
        parts.push(blake2s(input, outLen, selftestSeq(outLen, outLen)));
      }
    }
    const all = Uint8Array.from(parts.flatMap((p) => [...p]));
    assert.equal(hex(blake2s(all, 32)), '6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe');
  });

  test('agrees with Node (unkeyed) and @noble (keyed, 16-byte MAC) on random inputs', () => {
    for (let i = 0; i < 200; i++) {
      const msg = random(i * 3);
      assert.equal(hex(blake2s(msg)), createHash('blake2s256').update(msg).digest('hex'));
      const key = random(1 + (i % 32));
      assert.equal(hex(blake2s(msg, 16, key)), hex(nobleBlake2s(msg, { key, dkLen: 16 })));
      assert.equal(hex(blake2s(msg, 16, random(32))).length, 32);
    }
  });

  test('keyBlockState + the message blocks = the keyed MAC (what the BPF program computes for mac1)', () => {
    for (let i = 0; i < 20; i++) {
      const key = random(32);
      const msg = random(116);
      const h = keyBlockState(key, 16);
      const b1 = msg.slice(0, 64);
      const b2 = new Uint8Array(64);
      b2.set(msg.subarray(64));
      compress(h, b1, 128, false);
      compress(h, b2, 180, true);
      const out = Buffer.alloc(16);
      for (let w = 0; w < 4; w++) out.writeUInt32LE(h[w]!, 4 * w);
      assert.equal(hex(out), hex(mac(key, msg)));
    }
  });

  test('a real wireguard-go initiation: key-block state + two message blocks give the mac1 wireguard-go wrote', () => {
    const msg = Buffer.from(WIREGUARD_GO_INITIATION_HEX, 'hex');
    assert.equal(msg.length, 148);
    const h = keyBlockState(mac1Key(parseKey(WIREGUARD_GO_SERVER_PUBLIC_KEY)), 16);
    const b2 = new Uint8Array(64);
    b2.set(msg.subarray(64, 116));
    compress(h, msg.subarray(0, 64), 128, false);
    compress(h, b2, 180, true);
    const out = Buffer.alloc(16);
    for (let w = 0; w < 4; w++) out.writeUInt32LE(h[w]!, 4 * w);
    assert.equal(hex(out), hex(msg.subarray(116, 132)));
    assert.equal(hex(blake2s(msg.subarray(0, 116), 16, mac1Key(parseKey(WIREGUARD_GO_SERVER_PUBLIC_KEY)))), hex(msg.subarray(116, 132)));
  });

  test('bad lengths are refused', () => {
    assert.throws(() => blake2s(new Uint8Array(1), 33), RangeError);
    assert.throws(() => blake2s(new Uint8Array(1), 16, new Uint8Array(33)), RangeError);
    assert.throws(() => keyBlockState(new Uint8Array(0), 16), RangeError);
    assert.throws(() => compress(new Uint32Array(8), new Uint8Array(63), 63, true), RangeError);
  });
});
