import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jhash, reciprocalScale } from './jhash.js';

const SEED = 0x5747464c;
const v4port = (port: number) => Uint8Array.from([127, 0, 0, 1, port >> 8, port & 0xff, 0, 0]);
const v6 = Uint8Array.from([...new Array<number>(15).fill(0), 1]);

// Golden values. The slots (reciprocalScale(h, 65537)) were checked against Linux 6.18 with
// nftables rules `jhash ip saddr . udp sport mod 65537 seed 0x5747464c <slot> counter` and real
// packets: see test/integration/nft.test.ts, which re-checks them on every CI run.
const cases: { name: string; key: Uint8Array; hash: number; slot: number }[] = [
  { name: '127.0.0.1 . 40001 (8 bytes)', key: v4port(40001), hash: 0x7dbadd79, slot: 32187 },
  { name: '127.0.0.1 . 51820 (8 bytes)', key: v4port(51820), hash: 0x4b1b544b, slot: 19227 },
  { name: '127.0.0.1 (4 bytes)', key: Uint8Array.from([127, 0, 0, 1]), hash: 0xaaf68802, slot: 43767 },
  { name: '::1 (16 bytes, one mix round)', key: v6, hash: 0xd869de94, slot: 55402 },
  { name: '::1 . 40003 (20 bytes)', key: Uint8Array.from([...v6, 40003 >> 8, 40003 & 0xff, 0, 0]), hash: 0xacba5d6b, slot: 44219 },
];

for (const c of cases) {
  test(`jhash golden value: ${c.name}`, () => {
    assert.equal(jhash(c.key, SEED), c.hash);
    assert.equal(reciprocalScale(c.hash, 65537), c.slot);
  });
}

test('jhash of the empty key is the initial value (kernel: length 0 skips the final mix)', () => {
  assert.equal(jhash(new Uint8Array(0), 0), 0xdeadbeef);
  assert.equal(jhash(new Uint8Array(0), 1), 0xdeadbef0);
});

test('jhash depends on the seed and on every byte, and returns an unsigned 32-bit integer', () => {
  const key = Uint8Array.from({ length: 27 }, (_, i) => i * 7);
  const base = jhash(key, SEED);
  assert.ok(Number.isInteger(base) && base >= 0 && base <= 0xffffffff);
  assert.notEqual(jhash(key, SEED + 1), base);
  for (let i = 0; i < key.length; i++) {
    const flipped = Uint8Array.from(key);
    flipped[i]! ^= 1;
    assert.notEqual(jhash(flipped, SEED), base, `byte ${i}`);
  }
});

test('reciprocalScale maps 0..2^32-1 onto 0..n-1 monotonically, like (h * n) >> 32', () => {
  for (const n of [1, 2, 13, 65537, 0xfffffffe]) {
    assert.equal(reciprocalScale(0, n), 0);
    assert.equal(reciprocalScale(0xffffffff, n), n - 1);
    for (const h of [1, 0x7fffffff, 0x80000000, 0xdeadbeef, 0xfffffff0]) {
      assert.equal(reciprocalScale(h, n), Number((BigInt(h) * BigInt(n)) >> 32n), `h=${h} n=${n}`);
    }
  }
});
