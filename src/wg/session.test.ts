import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError } from '../protocol/errors.js';
import { parseTransport } from './messages.js';
import { Session } from './session.js';

const k1 = new Uint8Array(32).fill(1);
const k2 = new Uint8Array(32).fill(2);
// A connected pair: a sends with k1 and receives with k2, b the other way round.
function pair(): { a: Session; b: Session } {
  return { a: new Session(100, 200, k1, k2), b: new Session(200, 100, k2, k1) };
}

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof FabricError && e.code === 'WGF_ERR_BAD_MESSAGE', String(e));
    return (e.details as { reason?: string }).reason;
  }
  return undefined;
}

describe('sealing pads the plaintext to 16 bytes', () => {
  const cases = [
    { name: 'keepalive (empty)', len: 0, size: 32 },
    { name: '1 byte', len: 1, size: 48 },
    { name: '16 bytes', len: 16, size: 48 },
    { name: '17 bytes', len: 17, size: 64 },
    { name: '84-byte ping', len: 84, size: 128 },
  ];
  for (const c of cases) {
    test(`${c.name} -> ${c.size}-byte message, opened back with zero padding`, () => {
      const { a, b } = pair();
      const msg = a.seal(new Uint8Array(c.len).fill(0xab));
      assert.equal(msg.length, c.size);
      const plain = b.open(msg);
      assert.equal(plain.length, Math.ceil(c.len / 16) * 16);
      assert.deepEqual(plain.subarray(0, c.len), new Uint8Array(c.len).fill(0xab));
      assert.ok(plain.subarray(c.len).every((x) => x === 0));
    });
  }
});

test('counters start at 0 and increase; the peer index is the receiver', () => {
  const { a } = pair();
  const msgs = [a.seal(new Uint8Array(0)), a.seal(new Uint8Array(0)), a.seal(new Uint8Array(0))];
  assert.deepEqual(msgs.map((m) => parseTransport(m).counter), [0n, 1n, 2n]);
  assert.ok(msgs.every((m) => parseTransport(m).receiver === 200));
  assert.equal(a.sent, 3n);
});

test('out-of-order delivery is accepted, replays are refused', () => {
  const { a, b } = pair();
  const m = [a.seal(Uint8Array.of(1)), a.seal(Uint8Array.of(2)), a.seal(Uint8Array.of(3))];
  assert.equal(b.open(m[2]!)[0], 3);
  assert.equal(b.open(m[0]!)[0], 1);
  assert.equal(reasonOf(() => b.open(m[0]!)), 'replay');
  assert.equal(b.open(m[1]!)[0], 2);
});

describe('refusals', () => {
  const cases: { name: string; mutate: (m: Uint8Array) => void; reason: string }[] = [
    { name: 'wrong receiver index', mutate: (m) => (m[4]! ^= 1), reason: 'index' },
    { name: 'flipped ciphertext bit', mutate: (m) => (m[20]! ^= 1), reason: 'auth' },
    { name: 'flipped tag bit', mutate: (m) => (m[m.length - 1]! ^= 1), reason: 'auth' },
    { name: 'changed counter (nonce)', mutate: (m) => (m[8]! ^= 1), reason: 'auth' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const { a, b } = pair();
      const msg = a.seal(Uint8Array.of(1, 2, 3));
      const bad = msg.slice();
      c.mutate(bad);
      assert.equal(reasonOf(() => b.open(bad)), c.reason);
      // A refused message does not burn its counter: the genuine one still opens.
      assert.equal(b.open(msg)[0], 1);
    });
  }
  test('a message sealed for the other direction does not open', () => {
    const { a } = pair();
    const msg = a.seal(Uint8Array.of(1));
    const self = new Session(200, 100, k1, k2); // right index, but it receives with k2
    assert.equal(reasonOf(() => self.open(msg)), 'auth');
  });
});
