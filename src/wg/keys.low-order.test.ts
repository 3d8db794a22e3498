import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError } from '../protocol/errors.js';
import { generateKeyPair, isLowOrderPoint, parsePublicKey, toBase64, x25519SaysLowOrder } from './keys.js';
import { Rng } from './testing/random.js';

const slowSaysWeak = x25519SaysLowOrder;

const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const ones = (first: number): Uint8Array => {
  const b = new Uint8Array(32).fill(0xff);
  b[0] = first;
  b[31] = 0x7f;
  return b;
};

const lowOrder: { name: string; key: Uint8Array }[] = [
  { name: 'zero', key: new Uint8Array(32) },
  { name: 'one', key: hex('01'.padEnd(64, '0')) },
  { name: 'order 8 (a)', key: hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800') },
  { name: 'order 8 (b)', key: hex('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157') },
  { name: 'p - 1', key: ones(0xec) },
  { name: 'p', key: ones(0xed) },
  { name: 'p + 1', key: ones(0xee) },
];

for (const c of lowOrder) {
  test(`low-order point ${c.name} is refused by both checks, with and without bit 255`, () => {
    for (const top of [0, 0x80]) {
      const k = Uint8Array.from(c.key);
      k[31]! |= top;
      assert.equal(isLowOrderPoint(k), true);
      assert.equal(slowSaysWeak(k), true);
      assert.throws(() => parsePublicKey(toBase64(k)), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_WEAK_KEY');
    }
  });
}

test('the fast check agrees with keys.ts on real and random keys', () => {
  const rng = new Rng(99);
  for (let i = 0; i < 300; i++) {
    const k = i % 2 === 0 ? generateKeyPair().publicKey : rng.bytes(32);
    // A random 32-byte string is almost never of low order; a disagreement would show here.
    assert.equal(isLowOrderPoint(k), slowSaysWeak(k), `key ${i}`);
    if (!isLowOrderPoint(k)) assert.deepEqual(parsePublicKey(toBase64(k)), k);
  }
});

test('near misses of a low-order point are accepted', () => {
  for (let byte = 0; byte < 32; byte++) {
    const k = ones(0xec);
    k[byte]! ^= 0x01;
    assert.equal(isLowOrderPoint(k), slowSaysWeak(k), `byte ${byte}`);
  }
});

test('malformed text is WGF_ERR_INVALID_KEY, never echoed', () => {
  assert.throws(() => parsePublicKey('not a key!'), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_INVALID_KEY' && !e.message.includes('not a key!'));
});
