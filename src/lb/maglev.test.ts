import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import {
  buildMaglevTable, compareNames, DEFAULT_TABLE_SIZE, flowHash, isPrime, lookup, sortByName, type MaglevBackend,
} from './maglev.js';
import { reciprocalScale } from './jhash.js';
import { intIn, prng } from './testing/prng.js';

const equal = (...names: string[]): MaglevBackend[] => names.map((name) => ({ name, weight: 1 }));

function counts(table: Int32Array, n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (const i of table) c[i]!++;
  return c;
}

/** Names of the backend owning each slot: comparable across tables of different backend sets. */
function owners(table: Int32Array, backends: readonly MaglevBackend[]): string[] {
  const sorted = sortByName(backends);
  return Array.from(table, (i) => sorted[i]!.name);
}

function randomBackends(next: () => number, n: number, maxWeight = 1): MaglevBackend[] {
  const names = new Set<string>();
  while (names.size < n) names.add(`be-${next().toString(36)}`);
  return [...names].map((name) => ({ name, weight: intIn(next, 1, maxWeight) }));
}

test('isPrime', () => {
  const primes = [2, 3, 5, 7, 13, 251, 16381, 65537, 2147483647];
  const composites = [-7, 0, 1, 4, 9, 25, 49, 65535, 65536, 16383, 2147483649, 1.5, Number.NaN];
  for (const p of primes) assert.equal(isPrime(p), true, String(p));
  for (const c of composites) assert.equal(isPrime(c), false, String(c));
});

test('an empty backend set gives a table of -1', () => {
  const t = buildMaglevTable([], 13);
  assert.equal(t.length, 13);
  assert.deepEqual(Array.from(t), new Array<number>(13).fill(-1));
  assert.equal(lookup(t, 12345), -1);
});

test('a single backend owns every slot', () => {
  const t = buildMaglevTable(equal('only'));
  assert.equal(t.length, DEFAULT_TABLE_SIZE);
  assert.ok(t.every((i) => i === 0));
});

test('golden tables for M = 13 (also reproduced by an independent Python implementation)', () => {
  // Slot values index the name-sorted backends: 0 = be-a, 1 = be-b, 2 = be-c.
  assert.deepEqual(Array.from(buildMaglevTable(equal('be-c', 'be-a', 'be-b'), 13)), [1, 0, 0, 2, 2, 0, 0, 2, 1, 0, 2, 1, 1]);
  // Weighted 1:2:3 (x, y, z).
  const weighted = [{ name: 'z', weight: 3 }, { name: 'x', weight: 1 }, { name: 'y', weight: 2 }];
  assert.deepEqual(Array.from(buildMaglevTable(weighted, 13)), [2, 2, 2, 2, 2, 2, 0, 1, 2, 1, 1, 0, 1]);
});

test('the table does not depend on the input order', () => {
  const next = prng(1);
  const backends = randomBackends(next, 12, 5);
  const reference = buildMaglevTable(backends, 1009);
  for (let k = 0; k < 10; k++) {
    const shuffled = [...backends];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = next() % (i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    assert.deepEqual(buildMaglevTable(shuffled, 1009), reference);
  }
});

test('names sort by UTF-8 bytes, not by UTF-16 code units', () => {
  // U+FF21 (EF BC A1 in UTF-8) sorts before U+1F600 (F0 9F 98 80) in UTF-8, after it in UTF-16.
  const a = '\uFF21';
  const b = '\u{1F600}';
  assert.ok(a > b, 'JavaScript string order puts the astral character first');
  assert.ok(compareNames(a, b) < 0);
  assert.deepEqual(sortByName(equal(b, a)).map((x) => x.name), [a, b]);
});

test('equal weights: slot counts differ by at most one (random backend sets and sizes)', () => {
  const next = prng(2);
  const sizes = [13, 101, 1009, 16381, 65537];
  for (let k = 0; k < 40; k++) {
    const size = sizes[k % sizes.length]!;
    const n = intIn(next, 1, Math.min(size, 60));
    const c = counts(buildMaglevTable(randomBackends(next, n), size), n);
    assert.ok(Math.max(...c) - Math.min(...c) <= 1, `size ${size}, n ${n}: ${Math.min(...c)}..${Math.max(...c)}`);
  }
});

test('weights are honoured: 1:2:3 and random weights, within the proven bound', () => {
  const c = counts(buildMaglevTable([{ name: 'a', weight: 1 }, { name: 'b', weight: 2 }, { name: 'c', weight: 3 }]), 3);
  assert.deepEqual(c, [10923, 21846, 32768]); // 65537 x 1/6, 2/6, 3/6 = 10922.8, 21845.7, 32768.5
  // After r rounds backend i holds floor(r w_i / W) (+1 in the stopped round), which bounds its
  // distance from the ideal M w_i / sum(w) by 1 + n w_i / sum(w).
  const next = prng(3);
  for (let k = 0; k < 40; k++) {
    const size = [101, 1009, 65537][k % 3]!;
    const backends = sortByName(randomBackends(next, intIn(next, 2, 20), 10));
    const sum = backends.reduce((s, b) => s + b.weight, 0);
    const got = counts(buildMaglevTable(backends, size), backends.length);
    backends.forEach((b, i) => {
      const ideal = (size * b.weight) / sum;
      const bound = 1 + (backends.length * b.weight) / sum;
      assert.ok(Math.abs(got[i]! - ideal) <= bound, `${b.name} w${b.weight}: ${got[i]} vs ${ideal.toFixed(1)} ± ${bound.toFixed(2)}`);
    });
  }
});

test('removing one of N backends moves few slots (M = 65537)', () => {
  // Ideal churn is exactly the removed backend's 1/N of the slots. Measured worst over many
  // random sets with N <= 50 is about 1.22 x ideal in total and 0.22 x ideal among survivors;
  // the bounds below leave margin while still failing for modulo-style hashing (~ (N-1)/N).
  const next = prng(4);
  for (let k = 0; k < 12; k++) {
    const n = intIn(next, 3, 50);
    const backends = randomBackends(next, n);
    const removed = backends[next() % n]!.name;
    const rest = backends.filter((b) => b.name !== removed);
    const before = owners(buildMaglevTable(backends), backends);
    const after = owners(buildMaglevTable(rest), rest);
    let moved = 0;
    let survivorsMoved = 0;
    for (let s = 0; s < before.length; s++) {
      if (before[s] === after[s]) continue;
      moved++;
      if (before[s] !== removed) survivorsMoved++;
    }
    const ideal = before.length / n;
    assert.ok(!after.includes(removed));
    assert.ok(moved <= 1.5 * ideal, `n ${n}: moved ${moved} > 1.5 x ${ideal.toFixed(0)}`);
    assert.ok(survivorsMoved <= 0.5 * ideal, `n ${n}: survivors moved ${survivorsMoved} > 0.5 x ${ideal.toFixed(0)}`);
  }
});

test('validation errors carry WGF_ERR_VALIDATION and name the field', () => {
  const cases: { name: string; backends: MaglevBackend[]; size?: number; field: string }[] = [
    { name: 'duplicate names', backends: equal('a', 'b', 'a'), field: 'backends[2].name' },
    { name: 'empty name', backends: equal(''), field: 'backends[0].name' },
    { name: 'zero weight', backends: [{ name: 'a', weight: 0 }], field: 'backends[0].weight' },
    { name: 'negative weight', backends: [{ name: 'a', weight: -1 }], field: 'backends[0].weight' },
    { name: 'fractional weight', backends: [{ name: 'a', weight: 1.5 }], field: 'backends[0].weight' },
    { name: 'NaN weight', backends: [{ name: 'a', weight: Number.NaN }], field: 'backends[0].weight' },
    { name: 'weight above 2^31-1', backends: [{ name: 'a', weight: 2 ** 31 }], field: 'backends[0].weight' },
    { name: 'non-prime size', backends: equal('a'), size: 65536, field: 'size' },
    { name: 'too small size', backends: equal('a'), size: 2, field: 'size' },
    { name: 'too large size', backends: equal('a'), size: 16777259, field: 'size' },
    { name: 'more backends than slots', backends: equal('a', 'b', 'c', 'd'), size: 3, field: 'size' },
  ];
  for (const c of cases) {
    assert.throws(() => buildMaglevTable(c.backends, c.size), (e: unknown) => {
      assert.ok(isFabricError(e, 'WGF_ERR_VALIDATION'), c.name);
      assert.equal(e.details?.['field'], c.field, c.name);
      return true;
    }, c.name);
  }
});

test('lookup uses the slot nftables picks for `jhash ... mod M` (reciprocal scale)', () => {
  const table = buildMaglevTable(equal('a', 'b', 'c'), 13);
  for (const h of [0, 1, 0x12345678, 0x80000000, 0xffffffff]) {
    assert.equal(lookup(table, h), table[reciprocalScale(h, 13)]);
  }
  assert.equal(lookup(table, 0xffffffff), table[12]);
  assert.equal(lookup(table, 0), table[0]);
});

test('flowHash: port affinity uses the port, source-IP affinity ignores it; bad input is rejected', () => {
  // Golden values checked against the kernel (see jhash.test.ts).
  assert.equal(flowHash('127.0.0.1', 40001), 0x7dbadd79);
  assert.equal(flowHash('127.0.0.1', undefined), 0xaaf68802);
  assert.equal(flowHash('::1', 40003), 0xacba5d6b);
  assert.equal(flowHash('0:0:0:0:0:0:0:1', undefined), flowHash('::1', undefined));
  assert.notEqual(flowHash('127.0.0.1', 40001), flowHash('127.0.0.1', 40002));
  assert.notEqual(flowHash('127.0.0.1', 40001, 1), flowHash('127.0.0.1', 40001, 2));
  for (const [ip, port] of [['1.2.3', 1], ['fe80::1%eth0', 1], ['10.0.0.1/8', 1], ['1.2.3.4', 65536], ['1.2.3.4', -1]] as const) {
    assert.throws(() => flowHash(ip, port), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION'), `${ip} ${port}`);
  }
});
