import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { blake2s } from '@noble/hashes/blake2.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { aeadOpen, aeadSeal, compareBytes, constantTimeEqual, counterNonce, hash, hmac, kdf1, kdf2, kdf3, mac, tai64n, xaeadOpen, xaeadSeal } from './crypto.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const ascii = (s: string) => new TextEncoder().encode(s);

describe('BLAKE2s', () => {
  test('HASH("abc") is the RFC 7693 appendix B digest', () => {
    assert.equal(hex(hash(ascii('abc'))), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  });
  test('HASH over several parts equals HASH over their concatenation', () => {
    assert.deepEqual(hash(ascii('a'), ascii('bc')), hash(ascii('abc')));
  });
  test('keyed BLAKE2s-256 of the empty message matches the reference KAT (key 00..1f)', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    assert.equal(hex(blake2s(new Uint8Array(0), { key })), '48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49');
  });
  test('MAC is 16 bytes and is not a truncated 32-byte output (the digest length is a parameter)', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const m = mac(key, ascii('hello'));
    assert.equal(m.length, 16);
    assert.notDeepEqual(m, blake2s(ascii('hello'), { key }).subarray(0, 16));
    assert.deepEqual(m, blake2s(ascii('hello'), { key, dkLen: 16 }));
  });
});

describe('HMAC and KDF', () => {
  const key = bytes('00'.repeat(31) + '01');
  test('HMAC-BLAKE2s (node) equals @noble/hashes hmac(blake2s)', () => {
    assert.deepEqual(hmac(key, ascii('data')), nobleHmac(blake2s, key, ascii('data')));
  });
  test('KDF outputs chain as HKDF: t1 = HMAC(prk, 1), t2 = HMAC(prk, t1 || 2), t3 = HMAC(prk, t2 || 3)', () => {
    const prk = hmac(key, ascii('input'));
    const t1 = hmac(prk, Uint8Array.of(1));
    const t2 = hmac(prk, t1, Uint8Array.of(2));
    const t3 = hmac(prk, t2, Uint8Array.of(3));
    assert.deepEqual(kdf1(key, ascii('input')), t1);
    assert.deepEqual(kdf2(key, ascii('input')), [t1, t2]);
    assert.deepEqual(kdf3(key, ascii('input')), [t1, t2, t3]);
    assert.notDeepEqual(t1, t2);
  });
});

describe('AEAD', () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i);
  test('counter nonce: 4 zero bytes then the counter as u64 little-endian', () => {
    assert.equal(counterNonce(0x0102030405060708n).toString('hex'), '00000000' + '0807060504030201');
  });
  test('aeadSeal equals an independent ChaCha20-Poly1305 (@noble/ciphers) with that nonce: ciphertext || tag', () => {
    const pt = ascii("Ladies and Gentlemen of the class of '99");
    const ad = bytes('50515253c0c1c2c3c4c5c6c7');
    const counter = 0x4746454443424140n;
    const expected = chacha20poly1305(key, new Uint8Array(counterNonce(counter)), ad).encrypt(pt);
    assert.deepEqual(aeadSeal(key, counter, pt, ad), expected);
    assert.deepEqual(aeadOpen(key, counter, expected, ad), pt);
  });
  const cases = [
    { name: 'empty plaintext (handshake "nothing", keepalive)', pt: new Uint8Array(0) },
    { name: '48-byte plaintext', pt: new Uint8Array(48).fill(7) },
  ];
  for (const c of cases) {
    test(`round trip and tamper detection: ${c.name}`, () => {
      const sealed = aeadSeal(key, 5n, c.pt, ascii('ad'));
      assert.deepEqual(aeadOpen(key, 5n, sealed, ascii('ad')), c.pt);
      assert.equal(aeadOpen(key, 6n, sealed, ascii('ad')), null, 'other counter');
      assert.equal(aeadOpen(key, 5n, sealed, ascii('AD')), null, 'other associated data');
      const flipped = sealed.slice();
      flipped[0]! ^= 1;
      assert.equal(aeadOpen(key, 5n, flipped, ascii('ad')), null, 'flipped bit');
      assert.equal(aeadOpen(key, 5n, sealed.subarray(0, 15), ascii('ad')), null, 'shorter than a tag');
    });
  }
  test('XChaCha20-Poly1305 round trip with a 24-byte nonce; wrong AD or nonce fails', () => {
    const nonce = new Uint8Array(24).fill(9);
    const sealed = xaeadSeal(key, nonce, new Uint8Array(16).fill(1), ascii('mac1'));
    assert.equal(sealed.length, 32);
    assert.deepEqual(xaeadOpen(key, nonce, sealed, ascii('mac1')), new Uint8Array(16).fill(1));
    assert.equal(xaeadOpen(key, nonce, sealed, ascii('mac2')), null);
    assert.equal(xaeadOpen(key, new Uint8Array(24), sealed, ascii('mac1')), null);
    assert.equal(xaeadOpen(key, new Uint8Array(12), sealed, ascii('mac1')), null);
  });
});

describe('TAI64N', () => {
  const cases = [
    { name: 'the Unix epoch', ns: 0n, hex: '400000000000000a' + '00000000' },
    { name: '1 s + 5 ns', ns: 1_000_000_005n, hex: '400000000000000b' + '00000005' },
    { name: '2024-01-01T00:00:00.5Z', ns: 1_704_067_200_500_000_000n, hex: (0x400000000000000an + 1_704_067_200n).toString(16) + '1dcd6500' },
  ];
  for (const c of cases) test(c.name, () => assert.equal(hex(tai64n(c.ns)), c.hex));
  test('later times compare greater bytewise (what a responder checks)', () => {
    assert.ok(compareBytes(tai64n(1_999_999_999n), tai64n(2_000_000_000n)) < 0);
    assert.ok(compareBytes(tai64n(5n), tai64n(5n)) === 0);
  });
  test('times before the epoch are refused', () => assert.throws(() => tai64n(-1n), RangeError));
});

test('constantTimeEqual: equal, different, different lengths', () => {
  assert.equal(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2)), true);
  assert.equal(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3)), false);
  assert.equal(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1)), false);
});
